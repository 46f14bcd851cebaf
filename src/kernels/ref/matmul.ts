// Reference matmul: out[t, o] = Σ_c x[t, c]·W[o, c] in double precision, W of any stored width.
// The definition the fast kernels are tested against; deliberately simple.

import type { Tensor } from '../../tensor/tensor.js';
import { f32 } from '../../tensor/tensor.js';
import { rowReader } from './weights.js';

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
