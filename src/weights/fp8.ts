// FP8 block quantisation as DeepSeek-V3 stores it: e4m3fn codes plus one float32 `scale_inv` per block.
// W[i,j] = value(code[i,j]) * scaleInv[floor(i/BM), floor(j/BN)]; edge blocks are partial.
// Leaves out matmuls on FP8 data (kernels/) and tensor naming (`<name>_scale_inv`, the name map).
//
// Shapes: M rows, N cols (a linear weight is [out, in]); BM×BN block; SM = ceil(M/BM), SN = ceil(N/BN).

import { E4M3_TABLE, f32ToE4m3 } from './dtypes.js';

const E4M3_MAX = 448;
const SMALLEST_F32 = 2 ** -149;

function checkBlock(fn: string, rows: number, cols: number, block: [number, number]): [number, number] {
  const [bm, bn] = block;
  for (const [what, v] of [['rows', rows], ['cols', cols]] as const) {
    if (!Number.isSafeInteger(v) || v < 0) throw new Error(`${fn}: ${what} must be a non-negative integer, got ${v}`);
  }
  if (!Number.isSafeInteger(bm) || !Number.isSafeInteger(bn) || bm < 1 || bn < 1) {
    throw new Error(`${fn}: block must be two positive integers, got [${bm}, ${bn}]`);
  }
  return [Math.ceil(rows / bm), Math.ceil(cols / bn)];
}

/**
 * Quantise a row-major [M, N] float matrix. Each block's scaleInv = amax(block)/448 (as float32; 1 for
 * an all-zero block), so the block's largest magnitude maps to ±448 and every code is finite. Codes are
 * e4m3(f32(w / scaleInv)), the same rounding as the training simulation's (kernels/ref/quantize.ts).
 * Non-finite inputs are an error (they have no faithful e4m3fn code under a finite scale).
 */
export function quantizeFp8Blocks(
  w: Float32Array, // [M, N]
  rows: number,
  cols: number,
  block: [number, number],
): { codes: Uint8Array; scaleInv: Float32Array; scaleShape: [number, number] } {
  const [sm, sn] = checkBlock('quantizeFp8Blocks', rows, cols, block);
  const [bm, bn] = block;
  if (w.length !== rows * cols) {
    throw new Error(`quantizeFp8Blocks: weight has ${w.length} values, expected ${rows}×${cols} = ${rows * cols}`);
  }
  const codes = new Uint8Array(rows * cols); // [M, N]
  const scaleInv = new Float32Array(sm * sn); // [SM, SN]
  for (let bi = 0; bi < sm; bi++) {
    const i0 = bi * bm;
    const i1 = Math.min(i0 + bm, rows);
    for (let bj = 0; bj < sn; bj++) {
      const j0 = bj * bn;
      const j1 = Math.min(j0 + bn, cols);
      let amax = 0;
      for (let i = i0; i < i1; i++) {
        for (let j = j0; j < j1; j++) {
          const v = w[i * cols + j]!;
          if (!Number.isFinite(v)) throw new Error(`quantizeFp8Blocks: non-finite value ${v} at [${i}, ${j}]`);
          amax = Math.max(amax, Math.abs(v));
        }
      }
      let s = amax === 0 ? 1 : Math.fround(amax / E4M3_MAX);
      if (s === 0) s = SMALLEST_F32; // amax so tiny that amax/448 underflows float32
      scaleInv[bi * sn + bj] = s;
      for (let i = i0; i < i1; i++) {
        for (let j = j0; j < j1; j++) codes[i * cols + j] = f32ToE4m3(Math.fround(w[i * cols + j]! / s)); // w/s in f32, as kernels do
      }
    }
  }
  return { codes, scaleInv, scaleShape: [sm, sn] };
}

/** Inverse of quantizeFp8Blocks: float32 [M, N] from codes [M, N] and scaleInv [SM, SN]. */
export function dequantizeFp8Blocks(
  codes: Uint8Array, // [M, N]
  scaleInv: Float32Array, // [SM, SN]
  rows: number,
  cols: number,
  block: [number, number],
): Float32Array {
  const [sm, sn] = checkBlock('dequantizeFp8Blocks', rows, cols, block);
  const [bm, bn] = block;
  if (codes.length !== rows * cols) {
    throw new Error(`dequantizeFp8Blocks: ${codes.length} codes, expected ${rows}×${cols} = ${rows * cols}`);
  }
  if (scaleInv.length !== sm * sn) {
    throw new Error(`dequantizeFp8Blocks: ${scaleInv.length} scales, expected [${sm}, ${sn}] = ${sm * sn} for block [${bm}, ${bn}]`);
  }
  const out = new Float32Array(rows * cols); // [M, N]
  for (let i = 0; i < rows; i++) {
    const srow = Math.floor(i / bm) * sn;
    for (let j = 0; j < cols; j++) {
      out[i * cols + j] = E4M3_TABLE[codes[i * cols + j]!]! * scaleInv[srow + Math.floor(j / bn)]!;
    }
  }
  return out;
}
