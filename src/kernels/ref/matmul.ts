// Reference matmul: out[t, o] = Σ_c x[t, c]·W[o, c] in double precision, W of any stored width, and its backward.
// The definition the fast kernels are tested against; deliberately simple.

import type { Tensor } from '../../tensor/tensor.js';
import { f32 } from '../../tensor/tensor.js';
import { rowReader } from './weights.js';
import { gradF32 } from './elementwise.js';

export function matmul(out: Tensor, x: Tensor, w: Tensor, T: number, C: number, OC: number, xStride = C): void {
  const o = f32(out), xa = f32(x);
  const read = rowReader(w, C);
  const row = new Float32Array(C);
  for (let oc = 0; oc < OC; oc++) {
    read(oc, row);
    for (let t = 0; t < T; t++) {
      const xb = t * xStride;
      let acc = 0;
      for (let c = 0; c < C; c++) acc += xa[xb + c] * row[c];
      o[t * OC + oc] = acc;
    }
  }
}

/**
 * Backward of `matmul`. ACCUMULATES (+=) into dx and dw; pass null for a gradient that is not needed.
 *   dx[t, c] += Σ_o dout[t, o]·W[o, c]        dw[o, c] += Σ_t dout[t, o]·x[t, c]
 * dx [T, C] rows at xStride (laid out like x) or null, dw [OC, C] (f32) or null, dout [T, OC],
 * x [T, C] rows at xStride, W [OC, C] (any weight dtype; only read for dx).
 */
export function matmulBackward(dx: Tensor | null, dw: Tensor | null, dout: Tensor, x: Tensor, w: Tensor,
  T: number, C: number, OC: number, xStride = C): void {
  const g = f32(dout);
  if (dx) {
    const dxa = gradF32(dx, 'matmulBackward', 'dx');
    const read = rowReader(w, C);
    const row = new Float32Array(C);
    const acc = new Float64Array(T * C);
    for (let oc = 0; oc < OC; oc++) {
      read(oc, row);
      for (let t = 0; t < T; t++) {
        const go = g[t * OC + oc], ab = t * C;
        for (let c = 0; c < C; c++) acc[ab + c] += go * row[c];
      }
    }
    for (let t = 0; t < T; t++) for (let c = 0; c < C; c++) dxa[t * xStride + c] += acc[t * C + c];
  }
  if (dw) {
    const dwa = gradF32(dw, 'matmulBackward', 'dw'), xa = f32(x);
    const acc = new Float64Array(C);
    for (let oc = 0; oc < OC; oc++) {
      acc.fill(0);
      for (let t = 0; t < T; t++) {
        const go = g[t * OC + oc], xb = t * xStride;
        for (let c = 0; c < C; c++) acc[c] += go * xa[xb + c];
      }
      for (let c = 0; c < C; c++) dwa[oc * C + c] += acc[c];
    }
  }
}
