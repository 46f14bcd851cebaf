// The default corpus: Brown's 500 tagged files become 500 prose documents with no tags left, a known sentence
// from ca01 reads as ordinary English, and the detokeniser's rules hold on a table of hand-made lines.
// Leaves out: other sources (data-load.test.ts) and the split/pack/batch steps (data.test.ts).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { brownFolder, detokenizeBrown, loadBrown, BROWN_GENRES } from '../../src/train/corpus-brown.js';
import { loadDocuments } from '../../src/train/data.js';

const t0 = performance.now();
const { documents, source } = loadDocuments();
const loadMs = performance.now() - t0;

test('Brown loads 500 documents, quickly', () => {
  assert.equal(documents.length, 500);
  assert.match(source, /Brown corpus/);
  assert.ok(documents.every((d) => d.length > 10_000), 'every Brown file is about 2,000 words');
  assert.ok(loadMs < 3000, `loading took ${loadMs.toFixed(0)} ms`);
});

test('a known sentence from ca01 appears detokenised', () => {
  const sentence = 'The Fulton County Grand Jury said Friday an investigation of Atlanta\'s recent primary election produced "no evidence" that any irregularities took place.';
  assert.ok(documents[0]!.startsWith(sentence + '\n\n'), documents[0]!.slice(0, 200));
  assert.ok(documents[0]!.includes('"Only a relative handful of such reports was received," the jury said, "considering'), 'quotes and commas');
});

test('no POS tag is left in any document', () => {
  // Every tag the corpus uses (the text after the last "/" of each token) and every word that has a "/" in it;
  // then any output token with a "/tag" that is not such a word ("and/or", "material/hr./*0F./in.").
  const folder = brownFolder();
  const tags = new Set<string>();
  const slashWords = new Set<string>();
  for (const name of readdirSync(folder).filter((n) => /^c[a-r]\d\d$/.test(n))) {
    for (const token of readFileSync(join(folder, name), 'latin1').split(/\s+/)) {
      const at = token.lastIndexOf('/');
      if (at <= 0) continue;
      tags.add(token.slice(at + 1));
      if (token.lastIndexOf('/', at - 1) >= 0) slashWords.add(token.slice(0, at));
    }
  }
  assert.ok(tags.has('nn') && tags.has('np$') && tags.has('vbn-hl'), 'tag set looks like Brown');
  const leftover: string[] = [];
  for (const doc of documents) {
    for (const token of doc.split(/\s+/)) {
      if (!token.includes('/')) continue;
      const bare = token.replace(/^["'(]+|[,.;:?!")']+$/g, '');
      if (slashWords.has(bare) || slashWords.has(bare + '.')) continue;
      for (const m of token.matchAll(/\/([a-z$*+-]+)\b/g)) if (tags.has(m[1]!)) leftover.push(token);
    }
  }
  assert.deepEqual(leftover, []);
  assert.ok(!documents.some((d) => d.includes('``') || d.includes("''")), 'TeX quotes are turned into "');
});

test('paragraphs are separated by one blank line, with no stray spaces', () => {
  for (const doc of documents.slice(0, 50)) {
    assert.ok(!/\n{3,}/.test(doc) && !doc.startsWith('\n') && !doc.endsWith('\n'), 'blank lines');
    assert.ok(!/ [,.;:?!)]/.test(doc), `space before punctuation: ${doc.match(/.{20} [,.;:?!)].{5}/)?.[0]}`);
    assert.ok(!/ {2}/.test(doc), 'double space');
  }
});

test('detokeniser rules on hand-made lines', () => {
  const table: { raw: string; text: string }[] = [
    { raw: "\tThe/at jury/nn said/vbd ,/, ``/`` no/at ''/'' ./.\n", text: 'The jury said, "no."' },
    { raw: '\tWhy/wrb ?/. ?/.\n', text: 'Why?' },
    { raw: "\t``/`` Why/wrb ''/'' ?/. ?/.\n", text: '"Why?"' },
    { raw: '\tby/in Ivan/np Allen/np Jr./np ./.\n', text: 'by Ivan Allen Jr.' },
    { raw: '\ta/at (/( b/nn )/) c/nn --/-- d/nn ;/. ;/. e/nn :/: f/nn !/. !/.\n', text: 'a (b) c--d; e: f!' },
    { raw: '\t1/2/cd inch/nn and/or/cc AAb//nn\n', text: '1/2 inch and/or AAb/' },
    { raw: "\tbut/cc 12''/nns ''/'' long/jj ./.\n", text: 'but 12" long.' },
    { raw: "\the/pps said/vbd ,/, '/' Go/vb '/' ./.\n", text: "he said, 'Go.'" },
    { raw: "\tthe/at '/' Met/np '/' is/bez\n", text: "the 'Met' is" },
    { raw: "\tI'll/ppss+md see/vb 'em/ppo\n", text: "I'll see 'em" },
    { raw: '\tOne/cd ./.\nTwo/cd ./.\n\n\n\tThree/cd ./.\n', text: 'One. Two.\n\nThree.' },
    { raw: 'Merger/nn-hl proposed/vbn-hl\nHowever/wrb ,/, no/rb ./.\n', text: 'Merger proposed\n\nHowever, no.' },
    { raw: "\tHe/pps said/vbd :/: ``/``\n\n\n\tGo/vb ./. ''/''\n", text: 'He said:\n\n"Go."' },
  ];
  for (const { raw, text } of table) assert.equal(detokenizeBrown(raw), text, JSON.stringify(raw));
});

test('every Brown file\'s genre letter names the genre the corpus\'s cats.txt gives it', () => {
  const cats = new Map(readFileSync(join(brownFolder(), 'cats.txt'), 'latin1').trim().split('\n').map((l) => l.trim().split(/\s+/) as [string, string]));
  const { names } = loadBrown();
  assert.equal(names.length, 500);
  for (const n of names) assert.equal(BROWN_GENRES[n[1]!], cats.get(n), `${n}: letter ${n[1]}`);
  assert.equal(new Set(Object.values(BROWN_GENRES)).size, 15, 'fifteen genres');
});
