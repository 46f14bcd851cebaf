// Training precisions with their steps taking turns in one process (bench/train-precision.ts): the builds on the way
// from the JS fake quantisation to the wasm one, each a JSON of its own (train-precision-before, -stage1, -stage2,
// then train-precision.json for the current build). The builds' names and the expectation written before optimising
// are not in the JSONs, so they stay fixed text here.

import { read, meta, fmt, span } from './common.js';

interface PrecisionRun { machine: string; cores: number; node: string; date: string; preset: string; threads: number; steps: number; warmup: number;
  loadAverage: number; tokensPerStep: number; results: { precision: string; tokS: number; vsF32: number }[] }

/** Each row's result file and the build it measured, oldest first. */
const BUILDS: [file: string, build: (r: PrecisionRun) => string][] = [
  ['train-precision-before', (r) => `before: fakeQuantize in JS (6e8288f), ${r.steps} steps`],
  ['train-precision-stage1', () => 'wasm fakeQuantize (382f122)'],
  ['train-precision-stage2', () => '+ precision.ts: MoE SiLU on the backend, dout rounded once (a7aef6e)'],
  ['train-precision', (r) => `the same, ${r.steps} steps`],
];

export function renderTrainPrecision(): string[] {
  const current = read('train-precision') as PrecisionRun | null;
  if (!current) return [];
  const rows = BUILDS.map(([file, build]) => ({ file, build, run: read(file) as PrecisionRun | null })).filter((b) => b.run !== null);
  const at = (run: PrecisionRun, p: string) => run.results.find((r) => r.precision === p);
  const lines = [`## Training precision, steps alternating (${meta(current)})`, '',
    `\`bench/train-precision.ts\`: ${current.preset} on the Brown corpus, ${current.threads} threads, ${current.tokensPerStep} tokens per step; the precisions train concurrently`,
    `in one process, so their steps take turns (${current.results.map((r) => r.precision).join(', ')}, ${current.results[0].precision}, …) and the machine's drift (it was`,
    `shared: load average ${span(rows.map((b) => b.run!.loadAverage))} on ${current.cores} cores, which is why f32 is below the table above) falls on all alike. tokens/s: the`,
    `median over the steps after ${current.warmup} warm-up steps; "× f32": the median of step-by-step ratios to f32. fp8-per-tensor is the`,
    'negative control (one FP8 scale per tensor). Expected before optimising: fp8 from ~0.1× to 0.6–0.7× once its rounding',
    'is a few SIMD passes per matmul instead of JS; bf16 ~0.8× from the wasm rounding alone and ~0.9× once the precision',
    'MoE forward stops running SiLU·mul in JS.', '',
    '| build | f32 tok/s | bf16 | fp8 | fp8-per-tensor | results |', '|---|---:|---:|---:|---:|---|'];
  const cell = (run: PrecisionRun, p: string) => { const r = at(run, p); return r ? `${fmt(r.tokS, 0)} (${fmt(r.vsF32, 2)}×)` : '—'; };
  for (const { file, build, run } of rows) {
    lines.push(`| ${build(run!)} | ${fmt(at(run!, 'f32')?.tokS, 0)} | ${cell(run!, 'bf16')} | ${cell(run!, 'fp8')} | ${cell(run!, 'fp8-per-tensor')} | ${file}.json |`);
  }
  const [before, stage1, stage2] = ['train-precision-before', 'train-precision-stage1', 'train-precision-stage2'].map((f) => rows.find((b) => b.file === f)?.run);
  if (before && stage1 && stage2) {
    const ratio = (run: PrecisionRun, p: string) => fmt(at(run, p)?.vsF32, 2);
    lines.push('', `Measured: the wasm rounding took fp8 from ${ratio(before, 'fp8')}× to ${ratio(stage1, 'fp8')}× (expected 0.6–0.7×) and bf16 from ${ratio(before, 'bf16')}× to ${ratio(stage1, 'bf16')}×; the`,
      `precision.ts changes are within this machine's noise (${span([stage2, current].map((r) => at(r, 'bf16')!.vsF32), 2)}× bf16 in two runs). What still keeps bf16 under f32:`,
      'the MoE forward of the precision path runs expert by expert with a JS gather and float64 scatter (the f32 path batches',
      'the experts in five pool calls), and every rounded operand is a fresh zeroed heap allocation.');
  }
  lines.push('');
  return lines;
}
