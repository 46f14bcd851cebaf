// Reference elementwise and row ops: embedding gather, RMSNorm, residual add, SiLU·mul, row concat.

import type { Tensor } from '../../tensor/tensor.js';
import { f32, i32 } from '../../tensor/tensor.js';
import { rowReader, vectorAsF32 } from './weights.js';

export function embedding(out: Tensor, ids: Tensor, table: Tensor, T: number, D: number): void {
  const o = f32(out), id = i32(ids);
  const V = table.shape[0];
  const read = rowReader(table, D);
  const row = new Float32Array(D);
  for (let t = 0; t < T; t++) {
    if (id[t] < 0 || id[t] >= V) throw new Error(`embedding: token id ${id[t]} at position ${t} is outside the vocabulary (0..${V - 1})`);
    read(id[t], row);
    o.set(row, t * D);
  }
}

export function rmsnorm(out: Tensor, x: Tensor, w: Tensor, T: number, D: number, eps: number, xStride = D, outStride = D): void {
  const o = f32(out), xa = f32(x), wa = vectorAsF32(w, D);
  for (let t = 0; t < T; t++) {
    const xb = t * xStride, ob = t * outStride;
    let ss = 0;
    for (let d = 0; d < D; d++) ss += xa[xb + d] * xa[xb + d];
    const inv = 1 / Math.sqrt(ss / D + eps);
    for (let d = 0; d < D; d++) o[ob + d] = wa[d] * (xa[xb + d] * inv);
  }
}

export function copy(out: Tensor, src: Tensor, n: number): void {
  f32(out).set(f32(src).subarray(0, n));
}

export function add(out: Tensor, a: Tensor, b: Tensor, n: number): void {
  const o = f32(out), aa = f32(a), ba = f32(b);
  for (let i = 0; i < n; i++) o[i] = aa[i] + ba[i];
}

export function siluMul(out: Tensor, gate: Tensor, up: Tensor, n: number): void {
  const o = f32(out), g = f32(gate), u = f32(up);
  for (let i = 0; i < n; i++) o[i] = (g[i] / (1 + Math.exp(-g[i]))) * u[i];
}

export function concat(out: Tensor, a: Tensor, b: Tensor, T: number, A: number, B: number): void {
  const o = f32(out), aa = f32(a), ba = f32(b);
  for (let t = 0; t < T; t++) {
    o.set(aa.subarray(t * A, t * A + A), t * (A + B));
    o.set(ba.subarray(t * B, t * B + B), t * (A + B) + A);
  }
}
