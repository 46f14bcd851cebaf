// Encode throughput with DeepSeek-V3's tokenizer.json (tokenizer.json).

import { read, meta, fmt } from './common.js';

export function renderTokenizer(): string[] {
  const tok = read('tokenizer');
  if (!tok) return [];
  const lines: string[] = [];
  lines.push(`## Tokenizer: DeepSeek-V3's tokenizer.json (${meta(tok)})`, '',
    `\`bench/tokenizer.ts\`: encode throughput on seeded mixed text (English, Chinese, code, emoji, digit and whitespace runs),`,
    `${[...new Map((tok.results as { text: string; textMB: number }[]).map((r) => [r.text, r.textMB])).entries()].map(([t, mb]) => `${fmt(mb, 2)} MB "${t}"`).join(' and ')};`,
    `the first pass starts with an empty pre-token cache, warm = best of ${tok.warmRuns}. The bench fails unless the two give the same`,
    'ids, element by element, on every pass.', '',
    '| text | tokenizer | load ms | tokens | MB/s first pass | MB/s warm |', '|---|---|---:|---:|---:|---:|');
  for (const r of tok.results) {
    lines.push(`| ${r.text} | ${r.name} | ${r.loadMs.toFixed(0)} | ${r.tokens} | ${r.coldMBs.toFixed(2)} | ${r.warmMBs.toFixed(2)} |`);
  }
  lines.push('');
  return lines;
}
