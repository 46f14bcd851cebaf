// Training-step benchmark: tokens/s and MFU (against the measured matmul peak) of the default `nano` model on the
// Brown corpus, 1 and 2 threads, f32 and bf16 precision, after warm-up steps. Writes bench/results/train.json.

import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { train, type StepMetrics } from '../src/train/trainer.js';
import { DEFAULT_TRAIN, type Precision } from '../src/train/options.js';

interface Row { preset: string; precision: Precision; threads: number; tokensPerStep: number; tokS: number; mfu: number; stepSec: number }

const STEPS = 8, WARMUP = 3;
const rows: Row[] = [];
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'qiusuo-bench-train-'));
try {
  for (const precision of ['f32', 'bf16'] as Precision[]) {
    for (const threads of [1, 2]) {
      const steps: StepMetrics[] = [];
      const r = await train({ ...DEFAULT_TRAIN, out: path.join(tmp, `${precision}-${threads}`), maxSteps: STEPS, evalEvery: 1000, checkpointEvery: 1000, evalWindows: 1, precision, threads, sample: false },
        { log() {}, warn() {}, start() {}, step: (m) => { steps.push(m); } });
      await r.model.dispose();
      const timed = steps.slice(WARMUP);
      const tokS = timed.reduce((a, m) => a + m.tokensPerSec, 0) / timed.length;
      const mfu = timed.reduce((a, m) => a + m.mfu, 0) / timed.length;
      const tokensPerStep = DEFAULT_TRAIN.batch * DEFAULT_TRAIN.seqLen;
      rows.push({ preset: DEFAULT_TRAIN.preset, precision, threads, tokensPerStep, tokS, mfu, stepSec: tokensPerStep / tokS });
      console.log(`${DEFAULT_TRAIN.preset} ${precision} ×${threads}: ${tokS.toFixed(0)} tok/s, MFU ${(mfu * 100).toFixed(1)}%, ${(tokensPerStep / tokS).toFixed(2)} s/step`);
    }
  }
} finally {
  fs.rmSync(tmp, { recursive: true, force: true });
}
fs.mkdirSync('bench/results', { recursive: true });
fs.writeFileSync('bench/results/train.json', JSON.stringify({
  machine: os.cpus()[0]?.model, cores: os.cpus().length, node: process.version, date: new Date().toISOString(), steps: STEPS, warmup: WARMUP, results: rows,
}, null, 2) + '\n');
