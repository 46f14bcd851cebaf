// Matmul backward benchmark: GFLOP/s of the wasm dx (dout·W) and dw (doutᵀ·x) kernels next to the wasm forward
// matmul at a training shape (T = 512 tokens, C = OC = 1024, f32 weights), SIMD and relaxed SIMD, 1 and 2 threads.
// Writes bench/results/matmul-backward.json. Leaves out the reference kernels (minutes at this shape) and peers.

import * as fs from 'node:fs';
import * as os from 'node:os';
import { Heap } from '../src/tensor/heap.js';
import { empty, f32, type Tensor } from '../src/tensor/tensor.js';
import { relaxedSimdSupported, type WasmFlavour } from '../src/kernels/wasm/loader.js';
import { createWasmBackend } from '../src/kernels/wasm/backend.js';
import { createWasmBackward } from '../src/kernels/wasm/backward.js';
import { Rng } from '../src/util/random.js';

interface Row { op: 'forward' | 'dx' | 'dw'; flavour: WasmFlavour; threads: number; T: number; C: number; OC: number; ms: number; gflops: number }

const T = 512, C = 1024, OC = 1024;
const rng = new Rng(7);
const filled = (heap: Heap, shape: number[]): Tensor => {
  const t = empty(heap, shape);
  f32(t).forEach((_, i, a) => { a[i] = rng.nextU32() / 4294967296 * 2 - 1; });
  return t;
};

/** Best time in ms over runs taking at least `minMs` in all (after one warm-up call). */
function time(fn: () => void, minMs: number): number {
  fn();
  let best = Infinity, total = 0;
  for (let i = 0; i < 3 || total < minMs; i++) {
    const t0 = performance.now();
    fn();
    const dt = performance.now() - t0;
    best = Math.min(best, dt);
    total += dt;
  }
  return best;
}

const flavours: WasmFlavour[] = relaxedSimdSupported() ? ['simd', 'relaxed'] : ['simd'];
const threadCounts = [...new Set([1, Math.min(2, os.availableParallelism?.() ?? os.cpus().length)])];
const results: Row[] = [];
for (const flavour of flavours) {
  for (const threads of threadCounts) {
    const heap = new Heap(64 << 20);
    const backend = createWasmBackend(heap, { flavour, threads });
    const B = createWasmBackward(backend);
    const x = filled(heap, [T, C]), w = filled(heap, [OC, C]), dout = filled(heap, [T, OC]);
    const out = empty(heap, [T, OC]), dx = empty(heap, [T, C]), dw = empty(heap, [OC, C]);
    const ops: [Row['op'], () => void][] = [
      ['forward', () => backend.matmul(out, x, w, T, C, OC)],
      ['dx', () => B.matmulBackward(dx, null, dout, x, w, T, C, OC)],
      ['dw', () => B.matmulBackward(null, dw, dout, x, w, T, C, OC)],
    ];
    for (const [op, fn] of ops) {
      const ms = time(fn, 400);
      const row: Row = { op, flavour, threads, T, C, OC, ms, gflops: (2 * T * C * OC) / ms / 1e6 };
      results.push(row);
      console.log(`${flavour.padEnd(7)} ×${threads} ${op.padEnd(7)} T=${T} C=${C} OC=${OC}: ${ms.toFixed(3)} ms, ${row.gflops.toFixed(2)} GFLOP/s`);
    }
    await backend.close();
  }
}

const meta = { machine: os.cpus()[0]?.model ?? 'unknown', cores: os.cpus().length, node: process.version, date: new Date().toISOString() };
fs.mkdirSync('bench/results', { recursive: true });
fs.writeFileSync('bench/results/matmul-backward.json', JSON.stringify({ ...meta, results }, null, 2) + '\n');
console.log('wrote bench/results/matmul-backward.json');
