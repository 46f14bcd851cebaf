// Training step tokens/s and MFU per precision and thread count (train.json).

import { read, meta, fmt } from './common.js';

export function renderTrain(): string[] {
  const tr = read('train');
  if (!tr) return [];
  const lines: string[] = [];
  interface TRow { preset: string; precision: string; threads: number; tokensPerStep: number; steps: number; warmup: number; tokS: number; stepSec: number;
    mfu: number; mfuFma: number; peaks: { matmul: number; fma: number }; stealPercent: number | null; loadAverage: number }
  const rows = tr.results as TRow[];
  const f32 = (t: number) => rows.find((r) => r.precision === 'f32' && r.threads === t);
  const stepsOf = (p: string) => rows.find((r) => r.precision === p);
  const stealMax = Math.max(...rows.map((r) => r.stealPercent ?? 0));
  lines.push(`## Training step (${meta(tr)})`, '',
    `\`bench/train.ts\`: the default \`qiusuo train\` model (${rows[0].preset}) on the Brown corpus, ${rows[0].tokensPerStep} tokens per optimizer step, every row`,
    `in one process; each row the mean over steps ${[...new Set(rows.map((r) => r.precision))].map((p) => `${stepsOf(p)!.warmup + 1}–${stepsOf(p)!.steps} (${p})`).join(', ')}.`,
    'fp8 simulates the paper\'s FP8 values in f32 arithmetic: slower, not faster. MFU = model FLOPs (6 × active non-embedding',
    'parameters + attention) per second over a peak the run measures at start-up with its threads: the f32x4 multiply-add',
    'ceiling (`src/bench/fma-peak.ts`; `mfuFma` in metrics.jsonl) and the 256³ f32 matmul peak (`mfu`). Host steal up to',
    `${fmt(stealMax)}%; "load" is the machine's 1-minute load average at the row's end: other processes on these ${tr.cores} cores slow a row,`,
    'two-thread rows most.', '',
    '| precision | threads | tokens/s | s/step | step time / f32 | MFU vs measured FMA ceiling | FMA ceiling GFLOP/s | MFU vs start-up matmul peak | matmul peak GFLOP/s | load |',
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
  for (const r of rows) {
    const base = f32(r.threads);
    lines.push(`| ${r.precision} | ${r.threads} | ${fmt(r.tokS, 0)} | ${fmt(r.stepSec, 2)} | ${base ? `${fmt(r.stepSec / base.stepSec, 2)}×` : 'n/a'} | `
      + `${fmt(r.mfuFma * 100)}% | ${fmt(r.peaks.fma)} | ${fmt(r.mfu * 100)}% | ${fmt(r.peaks.matmul)} | ${fmt(r.loadAverage)} |`);
  }
  lines.push('');
  return lines;
}
