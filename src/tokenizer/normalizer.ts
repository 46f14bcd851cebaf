// The "normalizer" of a tokenizer.json, as a plain string -> string function: null, Sequence, the four
// Unicode forms, Lowercase, Prepend and Replace. DeepSeek-V3 ships an empty Sequence (identity).
// Leaves out: alignment/offset tracking and the BERT/Precompiled/Strip normalizers, which throw when loaded.

import { compileOnigRegex, literalRegex } from './onig-regex.js';
import { MAX_SEQUENCE_DEPTH } from './pre-tokenizer.js';
import { preview } from '../util/json.js';

export type Normalizer = (text: string) => string;

/** Returns null when the normalizer is the identity (so callers can skip it). */
export function buildNormalizer(json: unknown, where: string, depth = 0): Normalizer | null {
  if (json === null || json === undefined) return null;
  const o = json as Record<string, unknown>;
  switch (o.type) {
    case 'Sequence': {
      if (!Array.isArray(o.normalizers)) throw new Error(`${where}: Sequence normalizer needs a "normalizers" array`);
      if (depth >= MAX_SEQUENCE_DEPTH) throw new Error(`${where}: Sequence normalizers nested more than ${MAX_SEQUENCE_DEPTH} deep`);
      const parts = o.normalizers
        .map((n, i) => buildNormalizer(n, `${where}.normalizers[${i}]`, depth + 1))
        .filter((n): n is Normalizer => n !== null);
      if (parts.length === 0) return null;
      return (text) => parts.reduce((t, f) => f(t), text);
    }
    case 'NFC': case 'NFD': case 'NFKC': case 'NFKD': {
      const form = o.type;
      return (text) => text.normalize(form);
    }
    case 'Lowercase': return (text) => text.toLowerCase();
    case 'Prepend': {
      const p = String(o.prepend ?? '');
      return (text) => (text ? p + text : text);
    }
    case 'Replace': {
      const pat = o.pattern as { Regex?: unknown; String?: unknown } | undefined;
      const re = typeof pat?.Regex === 'string' ? compileOnigRegex(pat.Regex, where)
        : typeof pat?.String === 'string' ? literalRegex(pat.String) : null;
      if (!re) throw new Error(`${where}: Replace needs pattern {"Regex"} or {"String"}`);
      const content = String(o.content ?? '');
      return (text) => text.replace(re, () => content);
    }
    default: throw new Error(`${where}: unsupported normalizer type ${preview(o.type)}`);
  }
}
