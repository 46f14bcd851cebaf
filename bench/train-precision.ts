// Precision A/B: training tokens/s of the default `nano` model at f32, bf16, fp8 and fp8-per-tensor, step by step in
// alternation: the four runs share one process and train concurrently, and since a trainer yields to the event loop
// between steps (never inside one), their steps take turns — f32, bf16, fp8, fp8-per-tensor, f32, … — so drift of the
// machine (±30%, other processes) lands on all four alike. Each precision's tokens/s is the median over its steps after
// the warm-up, its ratio to f32 the median of step-by-step ratios (step i against f32's step i). Leaves out MFU and
// 1-thread rows (bench/train.ts). Writes bench/results/train-precision.json (OUT=name: bench/results/name.json).
//   node --import tsx bench/train-precision.ts [--precisions f32,bf16,fp8,fp8-per-tensor] [--threads 2] [--steps 12] [--warmup 3]

import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { train } from '../src/train/trainer.js';
import { DEFAULT_TRAIN, type Precision } from '../src/train/options.js';
import { writeJsonAtomically } from '../src/weights/safetensors.js';

const { values: a } = parseArgs({ options: {
  precisions: { type: 'string', default: 'f32,bf16,fp8,fp8-per-tensor' },
  threads: { type: 'string', default: '2' }, steps: { type: 'string', default: '12' }, warmup: { type: 'string', default: '3' },
} });
const threads = Number(a.threads), steps = Number(a.steps), warmup = Number(a.warmup);
for (const [name, v, min] of [['threads', threads, 1], ['steps', steps, 1], ['warmup', warmup, 0]] as const) {
  if (!Number.isInteger(v) || v < min) throw new Error(`--${name} must be an integer ≥ ${min}, got ${a[name]}`);
}
const PRECISIONS = a.precisions.split(',') as Precision[];
if (PRECISIONS[0] !== 'f32') throw new Error(`--precisions must start with f32 (the baseline), got ${a.precisions}`);
if (warmup >= steps) throw new Error(`--warmup (${warmup}) must be below --steps (${steps})`);

const median = (xs: number[]) => { const s = [...xs].sort((p, q) => p - q), m = s.length >> 1; return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2; };

/** Each precision's tokens/s per step, in the order the steps ran (to show that they took turns). */
const tokS = Object.fromEntries(PRECISIONS.map((p) => [p, [] as number[]])) as Record<Precision, number[]>;
const order: string[] = [];
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'qiusuo-bench-precision-'));
try {
  await Promise.all(PRECISIONS.map(async (precision) => {
    const r = await train({ ...DEFAULT_TRAIN, out: path.join(tmp, precision), maxSteps: steps, evalEvery: 1000, checkpointEvery: 1000, evalWindows: 1, precision, threads, sample: false },
      { log() {}, warn() {}, start() {}, step: (m) => { tokS[precision].push(m.tokensPerSec); order.push(`${precision}#${m.step}`); } });
    await r.model.dispose();
  }));
} finally {
  fs.rmSync(tmp, { recursive: true, force: true });
}
console.log(`step order: ${order.join(' ')}`);
const results = PRECISIONS.map((precision) => {
  const timed = tokS[precision].slice(warmup), f32 = tokS.f32.slice(warmup);
  return { precision, tokS: median(timed), vsF32: median(timed.map((t, i) => t / f32[i])), steps: tokS[precision] };
});
for (const r of results) console.log(`${r.precision}: ${r.tokS.toFixed(0)} tok/s, ${r.vsF32.toFixed(2)}× f32 (load average ${os.loadavg()[0].toFixed(1)})`);
fs.mkdirSync('bench/results', { recursive: true });
const file = process.env.OUT ? `bench/results/${process.env.OUT}.json` : 'bench/results/train-precision.json';
writeJsonAtomically(file, {
  machine: os.cpus()[0]?.model, cores: os.cpus().length, node: process.version, date: new Date().toISOString(),
  label: process.env.LABEL ?? null, preset: DEFAULT_TRAIN.preset, threads, steps, warmup, loadAverage: os.loadavg()[0],
  tokensPerStep: DEFAULT_TRAIN.batch * DEFAULT_TRAIN.seqLen, results,
});
console.log(`wrote ${file}`);
