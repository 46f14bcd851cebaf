// AdamW written out from the paper's formula (Loshchilov & Hutter; PyTorch's form) in float64, for the optimizer
// tests. Shares no code with src/. Leaves out clipping and the choice of which parameters decay (the tests do those).

import type { AdamWHyper } from '../../src/kernels/backend.js';

/** Round an f32 to nearest even at 16 bits (bf16), written independently of src/weights/dtypes.ts. */
export function bf16Round(x: number): number {
  const f = new Float32Array([x]), u = new Uint32Array(f.buffer);
  u[0] = ((u[0] + 0x7fff + ((u[0] >>> 16) & 1)) & 0xffff0000) >>> 0;
  return f[0];
}

/** One parameter tensor's AdamW state: weights and both moments. */
export interface AdamWF64 { w: number[]; m: number[]; v: number[]; step: number }

export function adamwStateF64(w0: readonly number[]): AdamWF64 {
  return { w: w0.slice(), m: w0.map(() => 0), v: w0.map(() => 0), step: 0 };
}

/**
 * One step t = step + 1, in place:
 *   m ← β1·m + (1−β1)·g,  v ← β2·v + (1−β2)·g²,  m̂ = m/(1−β1^t),  v̂ = v/(1−β2^t),  w ← w − lr·(m̂/(√v̂ + ε) + λ·w).
 * With bf16 moments the stored m and v are rounded to bf16 (this step uses them unrounded).
 */
export function adamwStepF64(s: AdamWF64, g: readonly number[], h: Omit<AdamWHyper, 'step'>, bf16Moments = false): void {
  const t = ++s.step;
  for (let i = 0; i < s.w.length; i++) {
    const m = h.beta1 * s.m[i] + (1 - h.beta1) * g[i];
    const v = h.beta2 * s.v[i] + (1 - h.beta2) * g[i] * g[i];
    const mHat = m / (1 - h.beta1 ** t), vHat = v / (1 - h.beta2 ** t);
    s.w[i] = s.w[i] - h.lr * (mHat / (Math.sqrt(vHat) + h.eps) + h.weightDecay * s.w[i]);
    s.m[i] = bf16Moments ? bf16Round(m) : m;
    s.v[i] = bf16Moments ? bf16Round(v) : v;
  }
}
