// Training-step benchmark: tokens/s and MFU of the default `nano` model on the Brown corpus, f32, bf16 and fp8
// precision on 1 and then 2 threads, all in one process and each thread count's precisions back to back (so their
// ratios compare like with like), after warm-up steps; each row records the 1-minute load average at its end, since
// other processes on the machine slow a run as much as the host does. MFU twice, each against a denominator the run measures at start-up with its threads: the 256³ f32 matmul
// peak, and the f32x4 multiply-add ceiling (src/bench/fma-peak.ts). bench/train-precision.ts compares the precisions
// more closely (their steps alternate). Writes bench/results/train.json.

import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { train, type PeakFlops, type StepMetrics } from '../src/train/trainer.js';
import { DEFAULT_TRAIN, type Precision } from '../src/train/options.js';
import { stealMeter } from './steal.js';

interface Row {
  preset: string; precision: Precision; threads: number; tokensPerStep: number; steps: number; warmup: number;
  tokS: number; stepSec: number; mfu: number; mfuFma: number; peaks: PeakFlops; stealPercent: number | null; loadAverage: number;
}

/** Optimizer steps run, and the first ones left out of the mean (tier-up, first allocations). */
const STEPS: Record<'f32' | 'bf16' | 'fp8', { steps: number; warmup: number }> = { f32: { steps: 8, warmup: 3 }, bf16: { steps: 8, warmup: 3 }, fp8: { steps: 8, warmup: 3 } };
const mean = (xs: number[]) => xs.reduce((a, x) => a + x, 0) / xs.length;

const rows: Row[] = [];
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'qiusuo-bench-train-'));
try {
  for (const threads of [1, 2]) {
    for (const precision of ['f32', 'bf16', 'fp8'] as const) {
      const { steps: n, warmup } = STEPS[precision];
      const steps: StepMetrics[] = [];
      let peaks: PeakFlops | null = null;
      const steal = stealMeter();
      const r = await train({ ...DEFAULT_TRAIN, out: path.join(tmp, `${precision}-${threads}`), maxSteps: n, evalEvery: 1000, checkpointEvery: 1000, evalWindows: 1, precision, threads, sample: false },
        { log() {}, warn() {}, start: (i) => { peaks = i.peaks; }, step: (m) => { steps.push(m); } });
      await r.model.dispose();
      const timed = steps.slice(warmup);
      const tokS = mean(timed.map((m) => m.tokensPerSec)), tokensPerStep = DEFAULT_TRAIN.batch * DEFAULT_TRAIN.seqLen;
      const row: Row = {
        preset: DEFAULT_TRAIN.preset, precision, threads, tokensPerStep, steps: n, warmup, tokS, stepSec: tokensPerStep / tokS,
        mfu: mean(timed.map((m) => m.mfu)), mfuFma: mean(timed.map((m) => m.mfuFma)), peaks: peaks!, stealPercent: steal(),
        loadAverage: os.loadavg()[0],
      };
      rows.push(row);
      console.log(`${row.preset} ${precision} ×${threads}: ${tokS.toFixed(0)} tok/s, ${row.stepSec.toFixed(2)} s/step; MFU ${(row.mfu * 100).toFixed(1)}% of the start-up `
        + `matmul peak (${row.peaks.matmul.toFixed(1)} GFLOP/s), ${(row.mfuFma * 100).toFixed(1)}% of the FMA ceiling (${row.peaks.fma.toFixed(1)} GFLOP/s); host steal ${row.stealPercent?.toFixed(1) ?? 'n/a'}%, load average ${row.loadAverage.toFixed(1)}`);
    }
  }
} finally {
  fs.rmSync(tmp, { recursive: true, force: true });
}
fs.mkdirSync('bench/results', { recursive: true });
fs.writeFileSync('bench/results/train.json', JSON.stringify({
  machine: os.cpus()[0]?.model, cores: os.cpus().length, node: process.version, date: new Date().toISOString(), results: rows,
}, null, 2) + '\n');
