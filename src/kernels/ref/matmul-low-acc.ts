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
 * Products a tensor core adds among themselves before aligning their sum into the limited accumulator. Why 4:
 * truncating after every product loses ~7.8% of a K = 4096 sum of positive products, groups of 4 lose ~2%, the
 * "nearly 2%" maximum relative error at K = 4096 that DeepSeek-V3 §3.3.2 measured on H800 (test/kernels: calibration).
 */
export const LOW_ACC_GROUP = 4;

/**
 * out[m, n] = Σ_k a[m, k]·b[n, k] with a 14-bit accumulator: acc = +0, then for each group of LOW_ACC_GROUP
 * consecutive k (the last may be shorter) p_k = f32(a·b), g = f32(f32(f32(p0 + p1) + p2) + p3) left to right (fewer
 * terms in a short group), acc = truncate14(f32(acc + g)). out [M, N] is written (not added to), a [M, K], b [N, K].
 * Example: 1 followed by groups each adding 2^-14 keeps 1 however many groups follow, since each 1 + 2^-14 truncates
 * back to 1 (the grid step above 1 is 2^-13): small terms that arrive in separate groups are lost.
 */
export function matmulLowAcc(out: Tensor, a: Tensor, b: Tensor, M: number, N: number, K: number): void {
  const o = f32(out), x = f32(a), y = f32(b);
  const acc = new Float32Array(1), bits = new Uint32Array(acc.buffer);
  for (let m = 0; m < M; m++) {
    for (let n = 0; n < N; n++) {
      acc[0] = 0;
      for (let k0 = 0; k0 < K; k0 += LOW_ACC_GROUP) {
        const kEnd = Math.min(k0 + LOW_ACC_GROUP, K);
        let g = Math.fround(x[m * K + k0] * y[n * K + k0]);
        for (let k = k0 + 1; k < kEnd; k++) g = Math.fround(g + Math.fround(x[m * K + k] * y[n * K + k]));
        acc[0] = acc[0] + g; // the store rounds the sum to f32
        bits[0] &= LOW_ACC_MASK;
      }
      o[m * N + n] = acc[0];
    }
  }
}
