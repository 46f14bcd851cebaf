// Reads rows of a weight matrix of any stored width as f32, the one place the reference kernels dequantise.
// FP8 rows use the 128×128 (or configured) block scales, q8_0 / q4_0 rows their per-block f16 scales (byte layouts in
// tensor.ts); nothing keeps a full f32 copy of a weight.

import type { Tensor } from '../../tensor/tensor.js';
import { f32, u16, bytes, QUANT_BLOCK, BLOCK_BYTES } from '../../tensor/tensor.js';
import { E4M3_TABLE, f16ToF32 } from '../../weights/dtypes.js';

const F16_TABLE = Float32Array.from({ length: 65536 }, (_, b) => f16ToF32(b));

/** Returns a function that writes row `r` (C values) of the [rows, C] weight `w` into `dst`. */
export function rowReader(w: Tensor, C: number): (r: number, dst: Float32Array) => void {
  switch (w.dtype) {
    case 'f32': {
      const a = f32(w);
      return (r, dst) => { dst.set(a.subarray(r * C, r * C + C)); };
    }
    case 'bf16': {
      const a = u16(w);
      const bits = new Uint32Array(C);
      const asF = new Float32Array(bits.buffer);
      return (r, dst) => {
        const base = r * C;
        for (let c = 0; c < C; c++) bits[c] = a[base + c] << 16;
        dst.set(asF.subarray(0, C));
      };
    }
    case 'f16': {
      const a = u16(w);
      return (r, dst) => { const base = r * C; for (let c = 0; c < C; c++) dst[c] = F16_TABLE[a[base + c]]; };
    }
    case 'e4m3': {
      const a = bytes(w);
      if (!w.scale) return (r, dst) => { const base = r * C; for (let c = 0; c < C; c++) dst[c] = E4M3_TABLE[a[base + c]]; };
      const [bm, bn] = w.scale.block;
      const s = f32(w.scale.scaleInv);
      const scaleCols = Math.ceil(C / bn);
      return (r, dst) => {
        const base = r * C;
        const srow = ((r / bm) | 0) * scaleCols;
        for (let c = 0; c < C; c++) dst[c] = E4M3_TABLE[a[base + c]] * s[srow + ((c / bn) | 0)];
      };
    }
    case 'q8_0': {
      const a = bytes(w), rowBytes = (C / QUANT_BLOCK) * BLOCK_BYTES.q8_0;
      return (r, dst) => {
        for (let b = 0, o = r * rowBytes; b < C; b += QUANT_BLOCK, o += BLOCK_BYTES.q8_0) {
          const d = F16_TABLE[a[o] | (a[o + 1] << 8)];
          for (let j = 0; j < QUANT_BLOCK; j++) dst[b + j] = ((a[o + 2 + j] << 24) >> 24) * d; // int8 code
        }
      };
    }
    case 'q4_0': {
      const a = bytes(w), rowBytes = (C / QUANT_BLOCK) * BLOCK_BYTES.q4_0, half = QUANT_BLOCK / 2;
      return (r, dst) => {
        for (let b = 0, o = r * rowBytes; b < C; b += QUANT_BLOCK, o += BLOCK_BYTES.q4_0) {
          const d = F16_TABLE[a[o] | (a[o + 1] << 8)];
          for (let j = 0; j < half; j++) {
            const q = a[o + 2 + j];
            dst[b + j] = ((q & 15) - 8) * d;
            dst[b + half + j] = ((q >>> 4) - 8) * d;
          }
        }
      };
    }
    case 'i32':
      throw new Error('kernels: an i32 tensor is not a weight');
  }
}


/** Reads one value of a vector-like weight (norm weights, biases) of any float dtype. */
export function vectorAsF32(w: Tensor, n: number): Float32Array {
  const out = new Float32Array(n);
  rowReader(w, n)(0, out);
  return out;
}
