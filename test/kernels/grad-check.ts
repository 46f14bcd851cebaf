// Shared helpers of the backward-kernel tests (reference and wasm): seeded random tensors on a heap, copies, the
// finite-difference check, and a runner over both backends' backward kernels.

import assert from 'node:assert/strict';
import type { Tensor } from '../../src/tensor/tensor.js';
import { empty, f32, fromF32 } from '../../src/tensor/tensor.js';
import { Heap } from '../../src/tensor/heap.js';
import type { BackwardKernels } from '../../src/kernels/backend.js';
import { refBackward } from '../../src/kernels/ref/backward.js';
import { createWasmBackend } from '../../src/kernels/wasm/backend.js';
import { createWasmBackward } from '../../src/kernels/wasm/backward.js';

/** Uniform numbers in [-1, 1) from a seeded xorshift32 (deterministic tests). */
export function random(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0;
    return (s / 4294967296) * 2 - 1;
  };
}

/** Random and zero tensors on `heap`. */
export function tensorMakers(heap: Heap) {
  return {
    rand: (r: () => number, shape: number[], amp = 1): Tensor =>
      fromF32(heap, Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => r() * amp), shape),
    zeros: (shape: number[]): Tensor => empty(heap, shape),
  };
}

/** Σ a ⊙ b in double precision over the first n values. */
export function dot(a: Float32Array, b: Float32Array, n = a.length): number {
  let s = 0;
  for (let i = 0; i < n; i++) s += a[i] * b[i];
  return s;
}

/**
 * Asserts the analytic gradient of L with respect to every element of `input` against central differences.
 * The step is the one actually stored in f32: (x+h) − (x−h) after rounding.
 */
export function checkGrad(what: string, input: Tensor, analytic: Tensor, L: () => number, h = 1e-2, tol = 2e-3): void {
  const a = f32(input), g = f32(analytic);
  assert.equal(a.length, g.length, `${what}: gradient and input sizes differ`);
  const fd = new Float64Array(a.length);
  for (let i = 0; i < a.length; i++) {
    const x0 = a[i];
    a[i] = x0 + h; const up = a[i]; const lp = L();
    a[i] = x0 - h; const dn = a[i]; const lm = L();
    a[i] = x0;
    fd[i] = (lp - lm) / (up - dn);
  }
  let scale = 0;
  for (let i = 0; i < a.length; i++) scale = Math.max(scale, Math.abs(g[i]), Math.abs(fd[i]));
  assert.ok(scale > 1e-3, `${what}: the gradient is (near) zero everywhere, the check would be vacuous`);
  let worst = 0, at = 0;
  for (let i = 0; i < a.length; i++) {
    const e = Math.abs(fd[i] - g[i]);
    if (e > worst) { worst = e; at = i; }
  }
  assert.ok(worst <= tol * scale, `${what}: entry ${at} analytic ${g[at]} vs finite difference ${fd[at]} (scale ${scale})`);
}

/** A tensor of `shape` filled with r()·amp. */
export function filled(heap: Heap, shape: number[], r: () => number, amp = 1): Tensor {
  const t = empty(heap, shape);
  f32(t).forEach((_, i, a) => { a[i] = r() * amp; });
  return t;
}

/** A copy of an f32 tensor (two gradients starting from the same values). */
export function clone(heap: Heap, t: Tensor): Tensor {
  const c = empty(heap, t.shape);
  f32(c).set(f32(t));
  return c;
}

/** Runs fn with the reference backward kernels, then with the wasm backend's (two threads, on its own heap). */
export async function withBackwards(fn: (bw: BackwardKernels, heap: Heap) => void): Promise<void> {
  fn(refBackward, new Heap(1 << 16));
  const heap = new Heap(1 << 20), wasm = createWasmBackend(heap, { threads: 2 });
  try { fn(createWasmBackward(wasm), heap); } finally { await wasm.close?.(); }
}
