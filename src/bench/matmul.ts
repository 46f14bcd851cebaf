// Matmul throughput of a backend: out [T, OC] = x [T, C] · Wᵀ with W f32, bf16, fp8 (e4m3, 128×128 block scales,
// quantised from realistic values so subnormal codes are as rare as in checkpoints), q8_0 or q4_0 (random codes). Best time over repeated runs
// after a warm-up. Used by `qiusuo bench matmul` and bench/matmul.ts.

import { Heap } from '../tensor/heap.js';
import { empty, f32, u16, bytes, withScale, type Tensor } from '../tensor/tensor.js';
import { f32ToBf16, f32ToE4m3, f32ToF16 } from '../weights/dtypes.js';
import { refBackend } from '../kernels/ref/index.js';
import { createWasmBackend } from '../kernels/wasm/backend.js';
import type { WasmFlavour } from '../kernels/wasm/loader.js';
import type { Backend } from '../kernels/backend.js';
import { Rng } from '../util/random.js';

export type BenchDType = 'f32' | 'bf16' | 'fp8' | 'q8_0' | 'q4_0';

export interface MatmulBenchOptions {
  T: number; C: number; OC: number;
  dtype: BenchDType;
  kernels: 'ref' | 'wasm';
  flavour?: WasmFlavour;   // wasm only; default: relaxed where available
  threads?: number;        // wasm only; default: all cores
  minMs?: number;          // keep timing until this much time has been spent (default 300)
}

export interface MatmulBenchResult { gflops: number; ms: number; weightGBs: number; backend: string }

/** Bytes of an [OC, C] weight of `dtype`. */
export function weightBytes(dtype: BenchDType, OC: number, C: number): number {
  return { f32: 4, bf16: 2, fp8: 1, q8_0: 34 / 32, q4_0: 18 / 32 }[dtype] * OC * C;
}

/** A random [OC, C] weight of `dtype` (q8_0 / q4_0: random codes, every block scale 2^-7). */
export function randomWeight(heap: Heap, dtype: BenchDType, OC: number, C: number, rng: Rng): Tensor {
  const uniform = () => (rng.nextU32() / 4294967296) * 2 - 1;
  if (dtype === 'q8_0' || dtype === 'q4_0') {
    const w = empty(heap, [OC, C], dtype), b = bytes(w), blockBytes = dtype === 'q8_0' ? 34 : 18, d = f32ToF16(2 ** -7);
    for (let i = 0; i < b.length; i++) b[i] = rng.nextU32() & 0xff;
    for (let i = 0; i < b.length; i += blockBytes) { b[i] = d & 0xff; b[i + 1] = d >>> 8; }
    return w;
  }
  if (dtype === 'f32') { const w = empty(heap, [OC, C]); f32(w).forEach((_, i, a) => { a[i] = uniform(); }); return w; }
  if (dtype === 'bf16') { const w = empty(heap, [OC, C], 'bf16'); u16(w).forEach((_, i, a) => { a[i] = f32ToBf16(uniform()); }); return w; }
  const w = empty(heap, [OC, C], 'e4m3');
  bytes(w).forEach((_, i, a) => { a[i] = f32ToE4m3(uniform() * 448); });
  const s = empty(heap, [Math.ceil(OC / 128), Math.ceil(C / 128)]);
  f32(s).fill(1 / 448);
  return withScale(w, { scaleInv: s, block: [128, 128] });
}

export async function benchMatmul(o: MatmulBenchOptions): Promise<MatmulBenchResult> {
  const { T, C, OC } = o;
  const wBytes = weightBytes(o.dtype, OC, C);
  const heap = new Heap(T * C * 4 + T * OC * 4 + wBytes + (8 << 20));
  const backend: Backend = o.kernels === 'ref' ? refBackend : createWasmBackend(heap, { threads: o.threads, flavour: o.flavour });
  try {
    const rng = new Rng(7);
    const x = empty(heap, [T, C]);
    f32(x).forEach((_, i, a) => { a[i] = (rng.nextU32() / 4294967296) * 2 - 1; });
    const w = randomWeight(heap, o.dtype, OC, C, rng);
    const out = empty(heap, [T, OC]);
    const run = () => backend.matmul(out, x, w, T, C, OC);
    // Warm-up: the JIT's tier-up of the kernels, worker start, caches.
    for (let t0 = performance.now(); performance.now() - t0 < (o.kernels === 'ref' ? 0 : 200);) run();
    const minMs = o.kernels === 'ref' ? 0 : o.minMs ?? 300;
    let best = Infinity, total = 0;
    for (let i = 0; i < 2000 && (i < (o.kernels === 'ref' ? 1 : 3) || total < minMs); i++) {
      const t0 = performance.now();
      run();
      const dt = performance.now() - t0;
      best = Math.min(best, dt);
      total += dt;
    }
    return { gflops: (2 * T * C * OC) / best / 1e6, ms: best, weightGBs: wBytes / best / 1e6, backend: backend.name };
  } finally {
    await backend.close?.();
  }
}
