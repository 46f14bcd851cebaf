// Builds the pre-tokenizer of a tokenizer.json: Sequence, Split (regex or string pattern, all five split
// behaviours, invert) and ByteLevel (add_prefix_space, and its GPT-2 regex when use_regex). Pieces stay ordinary
// text; the byte-level alphabet mapping is left to the BPE model, so ByteLevel must come last.
// Leaves out: the other HF pre-tokenizers (Whitespace, Metaspace, Digits, ...), which throw when loaded.

import { compileOnigRegex, literalRegex } from './onig-regex.js';
import { preview } from '../util/json.js';

/** Appends the pre-tokens of `text` to `out`, in order; empty pieces are never produced. */
export type PreTokenizer = (text: string, out: string[]) => void;

export interface PreTokenizerSpec {
  run: PreTokenizer;
  /** Whether the last step is ByteLevel, i.e. the model works on UTF-8 bytes. */
  byteLevel: boolean;
}

type Behavior = 'Removed' | 'Isolated' | 'MergedWithPrevious' | 'MergedWithNext' | 'Contiguous';
const BEHAVIORS: readonly Behavior[] = ['Removed', 'Isolated', 'MergedWithPrevious', 'MergedWithNext', 'Contiguous'];

/** Sequences nest deeper than this only in a broken file (and would otherwise exhaust the stack). */
export const MAX_SEQUENCE_DEPTH = 64;

/** GPT-2's split regex, used by ByteLevel when use_regex is true. */
export const GPT2_PATTERN = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";

/** Parses a tokenizer.json "pre_tokenizer" value (null means: the whole text is one piece). */
export function buildPreTokenizer(json: unknown, where: string): PreTokenizerSpec {
  if (json === null || json === undefined) return { run: (text, out) => { if (text) out.push(text); }, byteLevel: false };
  const steps = flatten(json, where);
  const last = steps.length - 1;
  steps.forEach((s, i) => {
    if (s.byteLevel && i !== last) throw new Error(`${where}: ByteLevel must be the last pre-tokenizer of the sequence`);
  });
  const run: PreTokenizer = (text, out) => {
    let pieces = text ? [text] : [];
    for (let s = 0; s < steps.length; s++) {
      const next: string[] = s === last ? out : [];
      for (let k = 0; k < pieces.length; k++) steps[s]!.run(pieces[k]!, next);
      pieces = next;
    }
    if (steps.length === 0) out.push(...pieces);
  };
  return { run, byteLevel: steps.length > 0 && steps[last]!.byteLevel };
}

function flatten(json: unknown, where: string, depth = 0): PreTokenizerSpec[] {
  const o = json as Record<string, unknown>;
  switch (o?.type) {
    case 'Sequence': {
      if (!Array.isArray(o.pretokenizers)) throw new Error(`${where}: Sequence pre-tokenizer needs a "pretokenizers" array`);
      if (depth >= MAX_SEQUENCE_DEPTH) throw new Error(`${where}: Sequence pre-tokenizers nested more than ${MAX_SEQUENCE_DEPTH} deep`);
      return o.pretokenizers.flatMap((p, i) => flatten(p, `${where}.pretokenizers[${i}]`, depth + 1));
    }
    case 'Split': return [{ run: splitStep(o, where), byteLevel: false }];
    case 'ByteLevel': return [{ run: byteLevelStep(o), byteLevel: true }];
    default: throw new Error(`${where}: unsupported pre-tokenizer type ${preview(o?.type)}`);
  }
}

function splitStep(o: Record<string, unknown>, where: string): PreTokenizer {
  const pattern = o.pattern as { Regex?: unknown; String?: unknown } | undefined;
  let re: RegExp;
  if (typeof pattern?.Regex === 'string') re = compileOnigRegex(pattern.Regex, where);
  else if (typeof pattern?.String === 'string') re = literalRegex(pattern.String);
  else throw new Error(`${where}: Split needs pattern {"Regex": string} or {"String": string}`);
  const behavior = o.behavior as Behavior;
  if (!BEHAVIORS.includes(behavior)) throw new Error(`${where}: unsupported Split behavior ${preview(o.behavior)}`);
  const invert = o.invert === true;
  return (text, out) => splitText(text, re, behavior, invert, out);
}

function byteLevelStep(o: Record<string, unknown>): PreTokenizer {
  const prefix = o.add_prefix_space === true;
  const re = o.use_regex === false ? null : compileOnigRegex(GPT2_PATTERN);
  return (text, out) => {
    const t = prefix && !text.startsWith(' ') ? ' ' + text : text;
    if (re) splitText(t, re, 'Isolated', false, out);
    else if (t) out.push(t);
  };
}

/**
 * Splits `text` around the matches of `re` as HF's Split does, appending pieces to `out`. Example, pattern "-"
 * on "a-b--c": Isolated -> a - b - - c; Removed -> a b c; MergedWithPrevious -> a- b- - c;
 * MergedWithNext -> a -b - -c; Contiguous -> a - b -- c. `invert` swaps which spans count as matches.
 */
export function splitText(text: string, re: RegExp, behavior: Behavior, invert: boolean, out: string[]): void {
  if (behavior === 'Isolated') { spans(text, re, out, null); return; }
  const pieces: string[] = [];
  const isMatch: boolean[] = [];
  spans(text, re, pieces, isMatch);
  let held = '';          // text waiting to be joined with what follows
  let heldIsMatch = false;
  for (let k = 0; k < pieces.length; k++) {
    const span = pieces[k]!;
    const m = isMatch[k] !== invert;
    switch (behavior) {
      case 'Removed': if (!m) out.push(span); break;
      case 'MergedWithPrevious':
        // Only non-matches are held: a match joins the non-match before it, never another match.
        if (m) { out.push(held + span); held = ''; }
        else { if (held) out.push(held); held = span; }
        break;
      case 'MergedWithNext':
        if (m) { if (held) out.push(held); held = span; }
        else { out.push(held + span); held = ''; }
        break;
      case 'Contiguous':
        if (held && heldIsMatch === m) held += span;
        else { if (held) out.push(held); held = span; heldIsMatch = m; }
        break;
    }
  }
  if (held) out.push(held);
}

/** Appends the non-empty spans of `text` (matches and the text between them) to `out`, flags to `isMatch`. */
function spans(text: string, re: RegExp, out: string[], isMatch: boolean[] | null): void {
  re.lastIndex = 0;
  let prev = 0;
  for (let m = re.exec(text); m !== null; m = re.exec(text)) {
    const start = m.index;
    const end = start + m[0].length;
    if (start !== prev) { out.push(text.slice(prev, start)); isMatch?.push(false); }
    if (end === start) {
      // An empty match only marks a boundary; step past one code point so the scan moves on.
      prev = end;
      if (end >= text.length) break;
      re.lastIndex = end + (text.codePointAt(end)! > 0xffff ? 2 : 1);
      continue;
    }
    out.push(m[0]);
    isMatch?.push(true);
    prev = end;
  }
  if (prev < text.length) { out.push(text.slice(prev)); isMatch?.push(false); }
}
