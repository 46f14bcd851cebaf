// Fake quantisation for mixed-precision training (values rounded to what the low-precision format holds, kept in
// f32 so every kernel can consume them): bf16 rounding, and the paper's fine-grained FP8 — E4M3 with one scale per
// 1×128 activation tile or per 128×128 weight block, scale = amax/448.

import type { Tensor } from '../../tensor/tensor.js';
import { f32 } from '../../tensor/tensor.js';
import { f32ToBf16, bf16ToF32, f32ToE4m3, E4M3_TABLE } from '../../weights/dtypes.js';

export type QuantMode = 'bf16' | 'fp8-tiles' | 'fp8-col-tiles' | 'fp8-blocks';

const E4M3_MAX = 448;

/** Rounds the values of one scaling group (indices from `idx`) to E4M3 × (amax/448). */
function fp8Group(o: Float32Array, x: Float32Array, idx: (k: number) => number, n: number): void {
  let amax = 0;
  for (let k = 0; k < n; k++) amax = Math.max(amax, Math.abs(x[idx(k)]));
  if (amax === 0 || !Number.isFinite(amax)) { for (let k = 0; k < n; k++) o[idx(k)] = amax === 0 ? 0 : x[idx(k)]; return; }
  const scale = amax / E4M3_MAX;
  for (let k = 0; k < n; k++) o[idx(k)] = E4M3_TABLE[f32ToE4m3(x[idx(k)] / scale)] * scale;
}

/**
 * out [rows, cols] = quantise(x) (out may alias x). bf16: round each value. fp8-tiles: groups of 1×`block` along
 * each row (activations entering a matmul over cols); fp8-col-tiles: groups of block×1 down each column (the same
 * activations entering the weight-gradient matmul, whose sum runs over rows); fp8-blocks: block×block (weights).
 * Partial edge groups are groups too.
 */
export function fakeQuantize(out: Tensor, x: Tensor, rows: number, cols: number, mode: QuantMode, block = 128): void {
  const o = f32(out), xa = f32(x);
  if (mode === 'bf16') {
    for (let i = 0; i < rows * cols; i++) o[i] = bf16ToF32(f32ToBf16(xa[i]));
    return;
  }
  if (mode === 'fp8-tiles') {
    for (let r = 0; r < rows; r++) {
      for (let c0 = 0; c0 < cols; c0 += block) {
        fp8Group(o, xa, (k) => r * cols + c0 + k, Math.min(block, cols - c0));
      }
    }
    return;
  }
  if (mode === 'fp8-col-tiles') {
    for (let c = 0; c < cols; c++) {
      for (let r0 = 0; r0 < rows; r0 += block) {
        fp8Group(o, xa, (k) => (r0 + k) * cols + c, Math.min(block, rows - r0));
      }
    }
    return;
  }
  for (let r0 = 0; r0 < rows; r0 += block) {
    const bm = Math.min(block, rows - r0);
    for (let c0 = 0; c0 < cols; c0 += block) {
      const bn = Math.min(block, cols - c0);
      fp8Group(o, xa, (k) => (r0 + ((k / bn) | 0)) * cols + c0 + (k % bn), bm * bn);
    }
  }
}
