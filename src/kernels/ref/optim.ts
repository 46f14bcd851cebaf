// Optimizer kernels: AdamW with decoupled weight decay (moments f32, or bf16 as the paper keeps them in FP8
// training), the squared norm for global gradient clipping, in-place scaling, and the auxiliary-loss-free bias
// update b_i += γ·sign(mean_load − load_i).

import type { Tensor } from '../../tensor/tensor.js';
import { f32, u16, numel } from '../../tensor/tensor.js';
import { bf16ToF32, f32ToBf16 } from '../../weights/dtypes.js';
import { gradF32 } from './elementwise.js';
import type { AdamWHyper } from '../backend.js';

function moments(t: Tensor, what: string): { get(i: number): number; set(i: number, v: number): void } {
  if (t.dtype === 'f32') { const a = f32(t); return { get: (i) => a[i], set: (i, v) => { a[i] = v; } }; }
  if (t.dtype === 'bf16') { const a = u16(t); return { get: (i) => bf16ToF32(a[i]), set: (i, v) => { a[i] = f32ToBf16(v); } }; }
  throw new Error(`adamw: ${what} must be f32 or bf16, got ${t.dtype}`);
}

/**
 * One AdamW update of n values: m = β1·m + (1−β1)·g, v = β2·v + (1−β2)·g², with bias correction at `step` (1-based),
 * w −= lr·(m̂/(√v̂ + eps) + weightDecay·w).
 */
export function adamw(w: Tensor, g: Tensor, m: Tensor, v: Tensor, n: number, h: AdamWHyper): void {
  const wa = gradF32(w, 'adamw', 'w'), ga = f32(g), ma = moments(m, 'm'), va = moments(v, 'v');
  const c1 = 1 - Math.pow(h.beta1, h.step), c2 = 1 - Math.pow(h.beta2, h.step);
  for (let i = 0; i < n; i++) {
    const mi = h.beta1 * ma.get(i) + (1 - h.beta1) * ga[i];
    const vi = h.beta2 * va.get(i) + (1 - h.beta2) * ga[i] * ga[i];
    ma.set(i, mi); va.set(i, vi);
    wa[i] -= h.lr * ((mi / c1) / (Math.sqrt(vi / c2) + h.eps) + h.weightDecay * wa[i]);
  }
}

/** Elements per partial sum of sumSquares (a multiple of 4): the unit a thread of a parallel twin takes whole. */
export const SUM_SQUARES_CHUNK = 4096;

/**
 * Σ g² over the tensor in double precision, in a fixed order that a parallel (and SIMD) twin can follow exactly, so
 * the gradient norm does not depend on the thread count: per chunk of SUM_SQUARES_CHUNK elements, four running sums
 * over the indices ≡ 0, 1, 2, 3 (mod 4) combined as (s0 + s1) + (s2 + s3); then the chunks' sums in chunk order.
 * (Each f32 square is exact in f64; only the additions round.)
 */
export function sumSquares(g: Tensor): number {
  const a = f32(g);
  let s = 0;
  for (let lo = 0; lo < a.length; lo += SUM_SQUARES_CHUNK) {
    const sums = [0, 0, 0, 0], hi = Math.min(a.length, lo + SUM_SQUARES_CHUNK);
    for (let i = lo; i < hi; i++) sums[(i - lo) & 3] += a[i] * a[i];
    s += (sums[0] + sums[1]) + (sums[2] + sums[3]);
  }
  return s;
}

/** g *= factor, in place (the product in double precision, rounded once to f32). */
export function scaleInPlace(g: Tensor, factor: number): void {
  const a = f32(g);
  for (let i = 0; i < a.length; i++) a[i] *= factor;
}

/**
 * Aux-loss-free balancing, bias f32 [E], counts f32 [E]: 'sign' (the paper) bias[e] += γ·sign(mean − counts[e]);
 * 'proportional' (Loss-Free Balancing, Table 3) bias[e] += γ·(mean − counts[e])/mean, the violation relative to the
 * balanced load, so that γ means the same step size for a violation of 100% whatever the batch size.
 */
export function balanceBiasUpdate(bias: Tensor, counts: Tensor, gamma: number, mode: 'sign' | 'proportional' = 'sign'): void {
  const b = gradF32(bias, 'balanceBiasUpdate', 'bias'), c = f32(counts), E = numel(bias.shape);
  let mean = 0;
  for (let e = 0; e < E; e++) mean += c[e] / E;
  if (mode === 'proportional' && mean === 0) return; // nothing was routed: no violation to correct
  for (let e = 0; e < E; e++) b[e] += gamma * (mode === 'sign' ? Math.sign(mean - c[e]) : (mean - c[e]) / mean);
}
