// The FP8 limited-accumulation control's training speed: the default `nano` model on the Brown corpus, 2 threads,
// f32, fp8 and fp8-low-acc training runs alternated in one process for ROUNDS rounds (the machine drifts ±30%, so
// only runs interleaved in time compare), each run's first step left out of its mean. Then the kernel alone:
// matmulLowAcc against the f32 wasm matmul on the model's largest forward shape, alternated. Writes
// bench/results/train-low-acc.json. Leaves out 1 thread and bf16 (bench/train.ts).

import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { train, type StepMetrics } from '../src/train/trainer.js';
import { DEFAULT_TRAIN, type Precision } from '../src/train/options.js';
import { Heap } from '../src/tensor/heap.js';
import { fromF32, empty } from '../src/tensor/tensor.js';
import { createWasmBackend } from '../src/kernels/wasm/backend.js';
import { createWasmBackward } from '../src/kernels/wasm/backward.js';
import { writeJsonAtomically } from '../src/weights/safetensors.js';

const ROUNDS = 3, THREADS = 2;
const STEPS: Partial<Record<Precision, number>> = { f32: 6, fp8: 3, 'fp8-low-acc': 3 };
const PRECISIONS: Precision[] = ['f32', 'fp8', 'fp8-low-acc'];
const mean = (xs: number[]) => xs.reduce((a, x) => a + x, 0) / xs.length;

interface Run { precision: Precision; round: number; steps: number; tokS: number; loadAverage: number }
const runs: Run[] = [];
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'qiusuo-bench-low-acc-'));
try {
  for (let round = 0; round < ROUNDS; round++) {
    for (const precision of PRECISIONS) {
      const steps: StepMetrics[] = [], n = STEPS[precision]!;
      const r = await train({ ...DEFAULT_TRAIN, out: path.join(tmp, `${precision}-${round}`), maxSteps: n, evalEvery: 1000, checkpointEvery: 1000, evalWindows: 1, precision, threads: THREADS, sample: false },
        { log() {}, warn() {}, start() {}, step: (m) => { steps.push(m); } });
      await r.model.dispose();
      const run = { precision, round, steps: n, tokS: mean(steps.slice(1).map((m) => m.tokensPerSec)), loadAverage: os.loadavg()[0] };
      runs.push(run);
      console.log(`round ${round} ${precision}: ${run.tokS.toFixed(0)} tok/s (load ${run.loadAverage.toFixed(1)})`);
    }
  }
} finally {
  fs.rmSync(tmp, { recursive: true, force: true });
}
const tokS = Object.fromEntries(PRECISIONS.map((p) => [p, mean(runs.filter((r) => r.precision === p).map((r) => r.tokS))]));
console.log(`mean tok/s: ${PRECISIONS.map((p) => `${p} ${tokS[p].toFixed(0)}`).join(', ')}; fp8-low-acc/f32 ${(tokS['fp8-low-acc'] / tokS.f32).toFixed(3)}, fp8-low-acc/fp8 ${(tokS['fp8-low-acc'] / tokS.fp8).toFixed(3)}`);

// The kernel: x [T, C]·W [OC, C]ᵀ with T = 8·128 tokens, C = 128 (hidden), OC = 384 (FFN), as matmulLowAcc and as
// the f32 matmul, alternated, best of REPS each.
const T = 1024, C = 128, OC = 384, REPS = 20;
const heap = new Heap(64 << 20), backend = createWasmBackend(heap, { threads: THREADS }), bw = createWasmBackward(backend);
const x = fromF32(heap, Float32Array.from({ length: T * C }, (_, i) => Math.sin(i)), [T, C]);
const w = fromF32(heap, Float32Array.from({ length: OC * C }, (_, i) => Math.cos(i)), [OC, C]), out = empty(heap, [T, OC]);
const best = { f32: Infinity, lowAcc: Infinity };
for (let r = 0; r < REPS; r++) {
  let t0 = performance.now();
  backend.matmul(out, x, w, T, C, OC);
  best.f32 = Math.min(best.f32, performance.now() - t0);
  t0 = performance.now();
  bw.matmulLowAcc(out, x, w, T, OC, C);
  best.lowAcc = Math.min(best.lowAcc, performance.now() - t0);
}
await backend.close();
const gflops = (ms: number) => (2 * T * C * OC) / ms / 1e6;
console.log(`kernel ${T}×${C}·${OC}: f32 matmul ${best.f32.toFixed(2)} ms (${gflops(best.f32).toFixed(1)} GFLOP/s), matmulLowAcc ${best.lowAcc.toFixed(2)} ms (${gflops(best.lowAcc).toFixed(1)} GFLOP/s)`);

fs.mkdirSync('bench/results', { recursive: true });
writeJsonAtomically('bench/results/train-low-acc.json', {
  machine: os.cpus()[0]?.model, cores: os.cpus().length, node: process.version, date: new Date().toISOString(), threads: THREADS,
  preset: DEFAULT_TRAIN.preset, tokensPerStep: DEFAULT_TRAIN.batch * DEFAULT_TRAIN.seqLen, runs, meanTokS: tokS,
  kernel: { T, C, OC, f32Ms: best.f32, lowAccMs: best.lowAcc, f32Gflops: gflops(best.f32), lowAccGflops: gflops(best.lowAcc) },
});
