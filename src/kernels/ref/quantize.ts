// Fake quantisation for mixed-precision training (values rounded to what the low-precision format holds, kept in
// f32 so every kernel can consume them): bf16 rounding, and the paper's fine-grained FP8 — E4M3 with one f32 scale
// per 1×128 activation tile or per 128×128 weight block, scale = amax/448; and one scale per tensor, the coarse
// scaling the paper's recipe improves on (a negative control). Leaves out FP8 storage (weights/fp8.ts).

import type { Tensor } from '../../tensor/tensor.js';
import { f32 } from '../../tensor/tensor.js';
import { f32ToBf16, bf16ToF32, f32ToE4m3, E4M3_TABLE } from '../../weights/dtypes.js';

export type QuantMode = 'bf16' | 'fp8-tiles' | 'fp8-col-tiles' | 'fp8-blocks' | 'fp8-tensor';

const E4M3_MAX = 448;
const SMALLEST_F32 = 2 ** -149;

/** The scale of a group whose largest magnitude amax is finite: f32(amax/448), 1 for 0, 2^-149 where it underflows. */
export function fp8Scale(amax: number): number {
  return amax === 0 ? 1 : Math.max(Math.fround(amax / E4M3_MAX), SMALLEST_F32);
}

/**
 * Rounds the values of one scaling group (indices from `idx`) and returns its scale. As an FP8 kernel does it in f32:
 * s = f32(amax/448) (1 for an all-zero group, 2^-149 where amax/448 underflows), code = e4m3(f32(x/s)), value =
 * f32(e4m3 value · s). The largest magnitude lands on ±448 (or on the code just below where s rounded up). A group
 * holding NaN or ±Inf is left as it is, so the non-finite value reaches the loss and the trainer skips the step.
 */
function fp8Group(o: Float32Array, x: Float32Array, idx: (k: number) => number, n: number): number {
  let amax = 0;
  for (let k = 0; k < n; k++) amax = Math.max(amax, Math.abs(x[idx(k)]));
  if (!Number.isFinite(amax)) {
    for (let k = 0; k < n; k++) o[idx(k)] = x[idx(k)];
    return amax;
  }
  const scale = fp8Scale(amax);
  for (let k = 0; k < n; k++) o[idx(k)] = E4M3_TABLE[f32ToE4m3(Math.fround(x[idx(k)] / scale))] * scale;
  return scale;
}

/**
 * out [rows, cols] = quantise(x) (out may alias x); returns the FP8 scales (empty for bf16). bf16: round each value.
 * fp8-tiles: groups of 1×`block` along each row (activations entering a matmul over cols), scales [rows, ⌈cols/block⌉];
 * fp8-col-tiles: groups of block×1 down each column (the same activations entering the weight-gradient matmul, whose
 * sum runs over rows), scales [⌈rows/block⌉, cols]; fp8-blocks: block×block (weights), scales [⌈rows/block⌉,
 * ⌈cols/block⌉]; fp8-tensor: the whole [rows, cols] one group, scales [1]. Partial edge groups are groups too.
 * Example (fp8-tiles, block 128): a row of 200 values has tiles 0..127 and 128..199; if the second tile's largest
 * magnitude is 3.5, its scale is 3.5/448 = 2^-7 and its values round to the E4M3 grid times 2^-7.
 */
export function fakeQuantize(out: Tensor, x: Tensor, rows: number, cols: number, mode: QuantMode, block = 128): Float32Array {
  const o = f32(out), xa = f32(x);
  if (mode === 'bf16') {
    for (let i = 0; i < rows * cols; i++) o[i] = bf16ToF32(f32ToBf16(xa[i]));
    return new Float32Array(0);
  }
  if (mode === 'fp8-tensor') return Float32Array.of(fp8Group(o, xa, (k) => k, rows * cols));
  const tilesAcross = Math.ceil(cols / block), tilesDown = Math.ceil(rows / block);
  if (mode === 'fp8-tiles') {
    const scales = new Float32Array(rows * tilesAcross); // [rows, ⌈cols/block⌉]
    for (let r = 0; r < rows; r++) {
      for (let j = 0, c0 = 0; c0 < cols; j++, c0 += block) {
        scales[r * tilesAcross + j] = fp8Group(o, xa, (k) => r * cols + c0 + k, Math.min(block, cols - c0));
      }
    }
    return scales;
  }
  if (mode === 'fp8-col-tiles') {
    const scales = new Float32Array(tilesDown * cols); // [⌈rows/block⌉, cols]
    for (let c = 0; c < cols; c++) {
      for (let i = 0, r0 = 0; r0 < rows; i++, r0 += block) {
        scales[i * cols + c] = fp8Group(o, xa, (k) => (r0 + k) * cols + c, Math.min(block, rows - r0));
      }
    }
    return scales;
  }
  const scales = new Float32Array(tilesDown * tilesAcross); // [⌈rows/block⌉, ⌈cols/block⌉]
  for (let i = 0, r0 = 0; r0 < rows; i++, r0 += block) {
    const bm = Math.min(block, rows - r0);
    for (let j = 0, c0 = 0; c0 < cols; j++, c0 += block) {
      const bn = Math.min(block, cols - c0);
      scales[i * tilesAcross + j] = fp8Group(o, xa, (k) => (r0 + ((k / bn) | 0)) * cols + c0 + (k % bn), bm * bn);
    }
  }
  return scales;
}
