// Fixtures for the wasm-ops tests: seeded random activations and weights (f32, bf16, e4m3 with block scales whose
// rows may not align with a head's rows), an element-wise comparison with a clear message, and a loop over every
// build (SIMD; relaxed SIMD where the engine has it) and thread count. Not a test file itself.

import assert from 'node:assert/strict';
import { Heap } from '../../src/tensor/heap.js';
import { empty, f32, u16, bytes, withScale, type Tensor } from '../../src/tensor/tensor.js';
import { f32ToBf16 } from '../../src/weights/dtypes.js';
import { Rng } from '../../src/util/random.js';
import { relaxedSimdSupported, type WasmFlavour } from '../../src/kernels/wasm/loader.js';
import { createWasmBackend, type WasmBackend } from '../../src/kernels/wasm/backend.js';

export type WeightKind = 'f32' | 'bf16' | 'e4m3/16' | 'e4m3/5' | 'e4m3';
export const WEIGHT_KINDS: readonly WeightKind[] = ['f32', 'bf16', 'e4m3/16', 'e4m3/5', 'e4m3'];

export const FLAVOURS: WasmFlavour[] = relaxedSimdSupported() ? ['simd', 'relaxed'] : ['simd'];

/** f32 tensor of uniform values in [−scale, scale). */
export function rand(heap: Heap, shape: readonly number[], r: Rng, scale = 1): Tensor {
  const t = empty(heap, shape);
  f32(t).forEach((_, i, a) => { a[i] = (r.uniform() * 2 - 1) * scale; });
  return t;
}

/** A random weight [rows, cols]: e4m3/b has b×b block scales (e4m3/5: blocks that cut through heads), e4m3 none. */
export function randWeight(heap: Heap, kind: WeightKind, rows: number, cols: number, r: Rng): Tensor {
  if (kind === 'f32') return rand(heap, [rows, cols], r);
  if (kind === 'bf16') {
    const w = empty(heap, [rows, cols], 'bf16');
    u16(w).forEach((_, i, a) => { a[i] = f32ToBf16(r.uniform() * 2 - 1); });
    return w;
  }
  const w = empty(heap, [rows, cols], 'e4m3');
  bytes(w).forEach((_, i, a) => { const c = r.nextU32() % 254; a[i] = c >= 0x7f ? c + 1 : c; }); // no NaN codes
  if (kind === 'e4m3') return w;
  const b = kind === 'e4m3/16' ? 16 : 5;
  const s = empty(heap, [Math.ceil(rows / b), Math.ceil(cols / b)]);
  f32(s).forEach((_, i, a) => { a[i] = (0.5 + r.uniform()) / 448; });
  return withScale(w, { scaleInv: s, block: [b, b] });
}

/**
 * Every element within tol·(1 + |want| + scale); NaN where a number is wanted fails (an unwritten output). `scale`:
 * the size of the terms a value sums, where they cancel (rms of the outputs of a matmul with large weights).
 */
export function assertClose(got: ArrayLike<number>, want: ArrayLike<number>, tol: number, what: string, scale = 0): void {
  assert.equal(got.length, want.length, `${what}: length`);
  let worst = 0, at = -1;
  for (let i = 0; i < want.length; i++) {
    const e = Math.abs(got[i] - want[i]) / (1 + Math.abs(want[i]) + scale);
    if (!(e <= worst)) { worst = Number.isNaN(e) ? Infinity : e; at = i; }
  }
  assert.ok(worst <= tol, `${what}: element ${at} is ${got[at]}, want ${want[at]} (error ${worst} > ${tol})`);
}

/** Runs fn on a fresh heap and wasm backend for every build × {1, 2} threads. */
export async function eachBackend(fn: (heap: Heap, k: WasmBackend, label: string) => void): Promise<void> {
  for (const flavour of FLAVOURS) {
    for (const threads of [1, 2]) {
      const heap = new Heap(8 << 20);
      const k = createWasmBackend(heap, { flavour, threads, minWork: 1 }); // minWork 1: tiny calls split too
      try {
        fn(heap, k, `${flavour}×${threads}`);
      } finally {
        await k.close();
      }
    }
  }
}

/** Root mean square of the values. */
export function rms(a: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * a[i];
  return Math.sqrt(s / Math.max(1, a.length));
}
