// Matmul benchmark, one thread: GFLOP/s at T = C = OC = 1024 (prefill-like) and weight GB/s at T = 1 (decode-like)
// for the reference TypeScript kernel and the wasm SIMD / relaxed-SIMD kernels, f32, bf16 and e4m3 (128×128 blocks)
// weights. Writes bench/results/matmul.json. Leaves out threads (the pool measures its own scaling) and peers.

import * as fs from 'node:fs';
import * as os from 'node:os';
import { Heap } from '../src/tensor/heap.js';
import { empty, f32, u16, bytes, withScale, type Tensor } from '../src/tensor/tensor.js';
import { matmul } from '../src/kernels/ref/matmul.js';
import { f32ToBf16, f32ToE4m3 } from '../src/weights/dtypes.js';
import { loadKernels, relaxedSimdSupported, type MatmulKernels } from '../src/kernels/wasm/loader.js';
import { Rng } from '../src/util/random.js';

type WDType = 'f32' | 'bf16' | 'e4m3';
interface Row { dtype: WDType; kernel: string; T: number; C: number; OC: number; ms: number; gflops: number; weightGBs: number; expectedGflops?: number }

// Written before tuning, for this class of machine (Zen 3 EPYC, ~2.5–3.5 GHz, 2 × 128-bit FMA pipes, so a
// 16 flop/cycle f32x4 peak ≈ 40–55 GFLOP/s): ref ≈ 1 (scalar double JS); simd ≈ 20 (mul + add: twice the vector
// instructions per flop); relaxed ≈ 30 (fused multiply-add, 12 accumulators, panel in L1); bf16/e4m3 at T = 1024 within
// 5% of f32 (a panel is widened once per 1024 tokens). Decode (T = 1) is not in GFLOP/s terms; see weightGBs.
const EXPECTED: Record<string, number> = { ref: 1, 'wasm-simd': 20, 'wasm-relaxed': 30 };

const rng = new Rng(7);
const uniform = (): number => rng.nextU32() / 4294967296 * 2 - 1;

function weight(heap: Heap, dtype: WDType, OC: number, C: number): Tensor {
  if (dtype === 'f32') { const w = empty(heap, [OC, C]); f32(w).forEach((_, i, a) => { a[i] = uniform(); }); return w; }
  if (dtype === 'bf16') { const w = empty(heap, [OC, C], 'bf16'); u16(w).forEach((_, i, a) => { a[i] = f32ToBf16(uniform()); }); return w; }
  const w = empty(heap, [OC, C], 'e4m3');
  // Quantised as a checkpoint would be (block amax → 448), so subnormal codes are as rare as in real weights: they
  // cost the kernel a denormal-operand penalty, and uniformly random codes would make 1 in 18 of them subnormal.
  bytes(w).forEach((_, i, a) => { a[i] = f32ToE4m3(uniform() * 448); });
  const s = empty(heap, [Math.ceil(OC / 128), Math.ceil(C / 128)]);
  f32(s).fill(1 / 448);
  return withScale(w, { scaleInv: s, block: [128, 128] });
}

function runner(heap: Heap, k: MatmulKernels | null, out: Tensor, x: Tensor, w: Tensor, T: number, C: number, OC: number): () => void {
  if (!k) return () => matmul(out, x, w, T, C, OC);
  const scratch = heap.alloc(k.scratchBytes);
  if (w.dtype === 'f32') return () => k.matmulF32(out.ptr, x.ptr, w.ptr, T, C, OC, C, scratch);
  if (w.dtype === 'bf16') return () => k.matmulBF16(out.ptr, x.ptr, w.ptr, T, C, OC, C, scratch);
  const s = w.scale!;
  return () => k.matmulE4M3(out.ptr, x.ptr, w.ptr, T, C, OC, C, s.scaleInv.ptr, s.block[0], s.block[1], scratch);
}

/** Best time in ms over runs taking at least `minMs` in all (after one warm-up call). */
function time(fn: () => void, minMs: number, maxRuns: number): number {
  fn();
  let best = Infinity, total = 0;
  for (let i = 0; i < maxRuns && (i < 3 || total < minMs); i++) {
    const t0 = performance.now();
    fn();
    const dt = performance.now() - t0;
    best = Math.min(best, dt);
    total += dt;
  }
  return best;
}

const heap = new Heap(256 << 20);
const kernels: [string, MatmulKernels | null][] = [['ref', null], ['wasm-simd', await loadKernels(heap.memory, 'simd')]];
if (relaxedSimdSupported()) kernels.push(['wasm-relaxed', await loadKernels(heap.memory, 'relaxed')]);

const shapes = [
  { T: 1024, C: 1024, OC: 1024 },
  { T: 1, C: 1024, OC: 1024 },   // decode, weights in L2/L3
  { T: 1, C: 4096, OC: 4096 },   // decode, weights beyond L3 for f32
];
const results: Row[] = [];
for (const { T, C, OC } of shapes) {
  for (const dtype of ['f32', 'bf16', 'e4m3'] as const) {
    const x = empty(heap, [T, C]);
    f32(x).forEach((_, i, a) => { a[i] = uniform(); });
    const w = weight(heap, dtype, OC, C);
    const out = empty(heap, [T, OC]);
    for (const [name, k] of kernels) {
      const isRef = k === null;
      const ms = time(runner(heap, k, out, x, w, T, C, OC), isRef ? 0 : 300, isRef ? 1 : 2000);
      const flops = 2 * T * C * OC, wBytes = OC * C * (dtype === 'f32' ? 4 : dtype === 'bf16' ? 2 : 1);
      const row: Row = { dtype, kernel: name, T, C, OC, ms, gflops: flops / ms / 1e6, weightGBs: wBytes / ms / 1e6 };
      if (T > 1) row.expectedGflops = EXPECTED[name];
      results.push(row);
      console.log(`${dtype.padEnd(5)} ${name.padEnd(13)} T=${T} C=${C} OC=${OC}: ${ms.toFixed(3)} ms, ${row.gflops.toFixed(2)} GFLOP/s, ${row.weightGBs.toFixed(2)} GB/s of weights`);
    }
  }
}

const meta = { machine: os.cpus()[0]?.model ?? 'unknown', cores: os.cpus().length, node: process.version, date: new Date().toISOString() };
fs.mkdirSync('bench/results', { recursive: true });
fs.writeFileSync('bench/results/matmul.json', JSON.stringify({ ...meta, threads: 1, results }, null, 2) + '\n');
console.log('wrote bench/results/matmul.json');
