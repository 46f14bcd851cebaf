// Decode matmul (T = 1) speed in GB/s of weight bytes for bf16, fp8 (e4m3), q8_0 and q4_0 weights on one wasm backend
// (relaxed SIMD where the engine has it; 2 threads unless THREADS is set), the dtypes timed in alternation so that a
// drift of the shared machine's speed touches all of them alike. Shapes: a MoE layer's gate+up+down of 2048 × 1408·3
// (in cache), and 2048 × 57344 (over 64 MB in every format). Prints a table; writes bench/results/matmul-decode.json.

import * as fs from 'node:fs';
import * as os from 'node:os';
import { Heap } from '../src/tensor/heap.js';
import { empty, f32 } from '../src/tensor/tensor.js';
import { createWasmBackend } from '../src/kernels/wasm/backend.js';
import { randomWeight, weightBytes, type BenchDType } from '../src/bench/matmul.js';
import { Rng } from '../src/util/random.js';

const threads = Number(process.env.THREADS ?? 2), rounds = Number(process.env.ROUNDS ?? 7);
const dtypes: BenchDType[] = ['bf16', 'fp8', 'q8_0', 'q4_0'];
const results: { dtype: BenchDType; C: number; OC: number; weightMB: number; bestGBs: number; medianGBs: number }[] = [];
for (const [C, OC] of [[2048, 1408 * 3], [2048, 57344]]) {
  const heap = new Heap(dtypes.reduce((a, d) => a + weightBytes(d, OC, C), 0) + (C + OC) * 4 + (64 << 20));
  const k = createWasmBackend(heap, { threads });
  try {
    const rng = new Rng(7);
    const x = empty(heap, [1, C]), out = empty(heap, [1, OC]);
    f32(x).forEach((_, i, a) => { a[i] = rng.uniform() * 2 - 1; });
    const ws = dtypes.map((d) => randomWeight(heap, d, OC, C, rng));
    const times: number[][] = dtypes.map(() => []);
    for (let round = 0; round < rounds; round++) {
      ws.forEach((w, i) => {
        for (let t0 = performance.now(); performance.now() - t0 < 100;) k.matmul(out, x, w, 1, C, OC); // warm, and settle caches
        const reps = Math.max(3, Math.ceil(2e8 / weightBytes(dtypes[i], OC, C)));
        const t0 = performance.now();
        for (let r = 0; r < reps; r++) k.matmul(out, x, w, 1, C, OC);
        times[i].push((performance.now() - t0) / reps);
      });
    }
    dtypes.forEach((dtype, i) => {
      const sorted = times[i].slice().sort((a, b) => a - b), bytes = weightBytes(dtype, OC, C);
      const row = { dtype, C, OC, weightMB: bytes / 2 ** 20, bestGBs: bytes / sorted[0] / 1e6, medianGBs: bytes / sorted[sorted.length >> 1] / 1e6 };
      results.push(row);
      console.log(`${dtype.padEnd(5)} C=${C} OC=${OC} (${row.weightMB.toFixed(0)} MB): ${row.medianGBs.toFixed(2)} GB/s median, ${row.bestGBs.toFixed(2)} best of ${rounds} (${k.name})`);
    });
  } finally {
    await k.close();
  }
}
const meta = { machine: os.cpus()[0]?.model ?? 'unknown', cores: os.cpus().length, node: process.version, date: new Date().toISOString(), threads };
fs.mkdirSync('bench/results', { recursive: true });
fs.writeFileSync('bench/results/matmul-decode.json', JSON.stringify({ ...meta, results }, null, 2) + '\n');
