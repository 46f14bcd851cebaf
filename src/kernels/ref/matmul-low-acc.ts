// Reference GEMM with a limited-precision accumulator: the negative control for FP8 training that models an H800
// tensor core's FP8 accumulation (DeepSeek-V3 §3.3.2: ~14 significant bits kept) WITHOUT the paper's promotion of
// partial sums to FP32 every 128 elements. The definition the wasm twin (wasm/matmul-low-acc.as) matches bit for bit.
// Leaves out blocking and threads: it is the sequential definition.

import type { Tensor } from '../../tensor/tensor.js';
import { f32 } from '../../tensor/tensor.js';

/**
 * The f32 bits an accumulator keeps: sign, exponent and the top 13 of 23 fraction bits (14 significant bits with the
 * implicit one); the low 10 bits of the pattern are cleared, which truncates the magnitude toward zero, as aligned
 * fixed-point addition drops the bits shifted out. Subnormals keep multiples of 2^-139 (so magnitudes below it flush
 * to a signed zero); ±0 and ±Inf are unchanged; a NaN stays a NaN, since every NaN that f32 arithmetic produces has
 * the quiet bit (fraction bit 22), which the mask keeps.
 */
export const LOW_ACC_MASK = 0xfffffc00;

/**
 * out[m, n] = Σ_k a[m, k]·b[n, k] with a 14-bit accumulator: acc = +0, then for k = 0..K−1 in order
 * p = f32(a·b); acc = truncate14(f32(acc + p)). out [M, N] is written (not added to), a [M, K], b [N, K], all f32.
 * Example: summing 1 + 2^-14 + 2^-14 + … keeps 1 however many terms follow, since each 1 + 2^-14 truncates back to 1
 * (the grid step above 1 is 2^-13): the small terms a long sum adds one by one are lost.
 */
export function matmulLowAcc(out: Tensor, a: Tensor, b: Tensor, M: number, N: number, K: number): void {
  const o = f32(out), x = f32(a), y = f32(b);
  const acc = new Float32Array(1), bits = new Uint32Array(acc.buffer);
  for (let m = 0; m < M; m++) {
    for (let n = 0; n < N; n++) {
      acc[0] = 0;
      for (let k = 0; k < K; k++) {
        acc[0] = acc[0] + Math.fround(x[m * K + k] * y[n * K + k]); // the store rounds the sum to f32
        bits[0] &= LOW_ACC_MASK;
      }
      o[m * N + n] = acc[0];
    }
  }
}
