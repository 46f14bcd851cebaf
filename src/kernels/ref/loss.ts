// Reference losses over the vocabulary: row softmax, and cross-entropy with its backward, in double precision
// (log-sum-exp with the row maximum subtracted, so large logits neither overflow nor lose the target's term).
// Leaves out: averaging and the MTP weight λ/D (the caller's choice, passed to the backward as dlossScale).

import type { Tensor } from '../../tensor/tensor.js';
import { f32, i32 } from '../../tensor/tensor.js';
import { gradF32 } from './elementwise.js';

/** The target meaning "no loss at this position" (padding, prompt tokens). */
export const IGNORE_TARGET = -1;

/** log Σ_v exp(x[base + v]) for one row, stable. */
function logSumExp(x: Float32Array, base: number, V: number): number {
  let max = -Infinity;
  for (let v = 0; v < V; v++) if (x[base + v] > max) max = x[base + v];
  let sum = 0;
  for (let v = 0; v < V; v++) sum += Math.exp(x[base + v] - max);
  return max + Math.log(sum);
}

function checkTarget(kernel: string, target: number, t: number, V: number): void {
  if (target !== IGNORE_TARGET && (target < 0 || target >= V)) {
    throw new Error(`${kernel}: target ${target} at position ${t} is neither ${IGNORE_TARGET} (ignore) nor in the vocabulary (0..${V - 1})`);
  }
}

/** out[t] = softmax(x[t]) over V. out [T, V], x [T, V] (out may alias x). */
export function softmaxForward(out: Tensor, x: Tensor, T: number, V: number): void {
  const o = f32(out), xa = f32(x);
  for (let t = 0; t < T; t++) {
    const lse = logSumExp(xa, t * V, V);
    for (let v = 0; v < V; v++) o[t * V + v] = Math.exp(xa[t * V + v] - lse);
  }
}

/**
 * losses[t] = logsumexp(logits[t]) − logits[t, targets[t]], or 0 where targets[t] = −1 (ignored).
 * losses [T] (written, not accumulated), logits [T, V], targets i32 [T].
 */
export function crossEntropyForward(losses: Tensor, logits: Tensor, targets: Tensor, T: number, V: number): void {
  const l = f32(losses), z = f32(logits), y = i32(targets);
  for (let t = 0; t < T; t++) {
    checkTarget('crossEntropyForward', y[t], t, V);
    l[t] = y[t] === IGNORE_TARGET ? 0 : logSumExp(z, t * V, V) - z[t * V + y[t]];
  }
}

/**
 * Backward of crossEntropyForward for the objective dlossScale·Σ_t losses[t] (e.g. dlossScale = 1/valid tokens).
 * ACCUMULATES: dlogits[t] += (softmax(logits[t]) − onehot(targets[t]))·dlossScale; ignored rows get nothing.
 * dlogits [T, V] (f32; must not alias logits), logits [T, V], targets i32 [T].
 */
export function crossEntropyBackward(dlogits: Tensor, logits: Tensor, targets: Tensor, dlossScale: number, T: number, V: number): void {
  const dz = gradF32(dlogits, 'crossEntropyBackward', 'dlogits'), z = f32(logits), y = i32(targets);
  for (let t = 0; t < T; t++) {
    checkTarget('crossEntropyBackward', y[t], t, V);
    if (y[t] === IGNORE_TARGET) continue;
    const lse = logSumExp(z, t * V, V);
    for (let v = 0; v < V; v++) {
      const p = Math.exp(z[t * V + v] - lse);
      dz[t * V + v] += (v === y[t] ? p - 1 : p) * dlossScale;
    }
  }
}
