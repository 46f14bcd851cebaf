// Converts a stored weight to the format the kernels will read, while a checkpoint streams in: bf16, e4m3 with 128×128
// block scales (as DeepSeek-V3's checkpoints store FP8), and ggml's q8_0 / q4_0 (byte layouts in tensor/tensor.ts).
// Sources are any StoredDType, GGUF's block types included (Q8_0, Q4_0 here; Q4_K, Q6_K in kquants.ts), decoded to
// the float32 values of ggml's dequantize_row_*; a Q8_0 → q8_0 or Q4_0 → q4_0 conversion copies the bytes.
// The q8_0 / q4_0 quantizers give the bytes of ggml's quantize_row_q8_0_ref / quantize_row_q4_0_ref: every step in
// float32 as the C code does it (Math.fround after each operation), d stored as f16 rounded to nearest even.
// Temporaries are one row (plus one row of scale maxima for e4m3); a tensor is never widened to f32 whole.
// Leaves out reading files (safetensors.ts) and where the result lives (the loader hands in dst).
//
// Shapes: a weight [rows, cols] (leading dims of a higher-rank tensor count as rows; a vector [n] is one row).

import { byteSize, QUANT_BLOCK as QB, BLOCK_BYTES as BB } from '../tensor/tensor.js';
import { E4M3_TABLE, bf16FromBits, f16ToF32, f32ToF16, f32ToE4m3, isBlockDType, storedBytes, type BlockDType, type StoredDType } from './dtypes.js';
import { dequantizeQ4_K, dequantizeQ6_K } from './kquants.js';

export type ConvertTarget = 'bf16' | 'e4m3' | 'q8_0' | 'q4_0';

/** The target whose bytes a source already is (FP8 sources need their block scales too: convertWeight checks them). */
const SAME_BYTES: Partial<Record<StoredDType, ConvertTarget>> = { BF16: 'bf16', Q8_0: 'q8_0', Q4_0: 'q4_0' };

export interface SourceWeight {
  dtype: StoredDType;
  bytes: Uint8Array;                          // the tensor's stored bytes, little-endian, any byte offset
  shape: readonly number[];
  scaleInv?: Float32Array;                    // F8_E4M3 only: [ceil(rows/block[0]), ceil(cols/block[1])]
  block?: readonly [number, number];
}

/** The block of e4m3 targets: DeepSeek-V3's weight_block_size. */
export const E4M3_BLOCK: readonly [number, number] = [128, 128];

const E4M3_MAX = 448;
const SMALLEST_F32 = 2 ** -149;
const F16_MAX = 65504;
// Module-local copies: an imported binding is re-read on every use, even in optimized loops.
const QUANT_BLOCK: typeof QB = QB;
const BLOCK_BYTES = { q8_0: BB.q8_0, q4_0: BB.q4_0 } as const;

function rowsCols(shape: readonly number[]): [number, number] {
  const cols = shape.length === 0 ? 1 : shape[shape.length - 1];
  let rows = 1;
  for (let i = 0; i < shape.length - 1; i++) rows *= shape[i];
  return [rows, cols];
}

/** [ceil(rows/128), ceil(cols/128)]: the shape of an e4m3 target's dstScaleInv. */
export function e4m3ScaleShape(shape: readonly number[]): [number, number] {
  const [rows, cols] = rowsCols(shape);
  return [Math.ceil(rows / E4M3_BLOCK[0]), Math.ceil(cols / E4M3_BLOCK[1])];
}

/** Bytes of `dst` that convertWeight fills for `target` (e4m3: the codes; its scales go to dstScaleInv). */
export function convertedBytes(target: ConvertTarget, shape: readonly number[]): number {
  switch (target) {
    case 'bf16': return byteSize('bf16', shape);
    case 'e4m3': return byteSize('e4m3', shape);
    case 'q8_0':
    case 'q4_0': return byteSize(target, shape);
  }
}

/**
 * Writes `src` converted to `target` into dst (convertedBytes long) and, for e4m3, its block scales into dstScaleInv
 * [ceil(rows/128), ceil(cols/128)]. q8_0 / q4_0 need cols a multiple of 32; non-finite values are an error.
 */
export function convertWeight(src: SourceWeight, target: ConvertTarget, dst: Uint8Array, dstScaleInv?: Float32Array): void {
  const where = `convertWeight(${src.dtype} [${src.shape.join(', ')}] → ${target})`;
  checkSource(src, where);
  const want = convertedBytes(target, src.shape);
  if (dst.length !== want) throw new Error(`${where}: dst has ${dst.length} bytes, expected ${want}`);
  const [rows, cols] = rowsCols(src.shape);
  if (target === 'e4m3') {
    const [sm, sn] = e4m3ScaleShape(src.shape);
    if (!dstScaleInv || dstScaleInv.length !== sm * sn) {
      throw new Error(`${where}: dstScaleInv must hold [${sm}, ${sn}] = ${sm * sn} scales, got ${dstScaleInv ? dstScaleInv.length : 'none'}`);
    }
    const same = src.dtype === 'F8_E4M3' && src.scaleInv && src.block?.[0] === E4M3_BLOCK[0] && src.block[1] === E4M3_BLOCK[1];
    if (same) { dst.set(src.bytes); dstScaleInv.set(src.scaleInv!); return; }
    toE4m3(src, rows, cols, dst, dstScaleInv, where);
    return;
  }
  if (SAME_BYTES[src.dtype] === target) { dst.set(src.bytes); return; }
  const read = rowDecoder(src, cols);
  const row = new Float32Array(cols);
  if (target === 'bf16') {
    const bits = new Int32Array(row.buffer), out = new Uint16Array(cols), outBytes = new Uint8Array(out.buffer);
    for (let r = 0; r < rows; r++) {
      read(r, row);
      for (let c = 0; c < cols; c++) out[c] = bf16FromInt32Bits(bits[c]);
      dst.set(outBytes, r * cols * 2);
    }
    return;
  }
  const quantize = target === 'q8_0' ? quantizeRowQ8_0 : quantizeRowQ4_0;
  const rowBytes = (cols / QUANT_BLOCK) * BLOCK_BYTES[target];
  for (let r = 0; r < rows; r++) {
    read(r, row);
    quantize(row, dst, r * rowBytes, `${where} row ${r}`);
  }
}

/**
 * bf16FromBits over a float's bits read as int32 (a Uint32Array read above 2^31 is a double, which ran 4× slower):
 * a finite value's rounding carry cannot leave int32, so the low 16 bits after the shift are the bf16.
 */
function bf16FromInt32Bits(b: number): number {
  if ((b & 0x7f800000) === 0x7f800000 && (b & 0x7fffff) !== 0) return bf16FromBits(b >>> 0);
  return ((b + 0x7fff + ((b >> 16) & 1)) >> 16) & 0xffff;
}

function checkSource(src: SourceWeight, where: string): void {
  for (const d of src.shape) {
    if (!Number.isSafeInteger(d) || d < 0) throw new Error(`${where}: invalid shape`);
  }
  const want = storedBytes(src.dtype, src.shape, where);
  if (src.bytes.length !== want) throw new Error(`${where}: ${src.bytes.length} bytes, expected ${want}`);
  if (src.scaleInv === undefined) return;
  if (src.dtype !== 'F8_E4M3') throw new Error(`${where}: block scales belong to F8_E4M3 sources only`);
  const b = src.block;
  if (!b || !Number.isSafeInteger(b[0]) || !Number.isSafeInteger(b[1]) || b[0] < 1 || b[1] < 1) {
    throw new Error(`${where}: scaleInv needs a block of two positive integers, got ${b ? `[${b.join(', ')}]` : 'none'}`);
  }
  const [rows, cols] = rowsCols(src.shape);
  const sm = Math.ceil(rows / b[0]), sn = Math.ceil(cols / b[1]);
  if (src.scaleInv.length !== sm * sn) throw new Error(`${where}: scaleInv has ${src.scaleInv.length} values, expected [${sm}, ${sn}] = ${sm * sn}`);
}

let f16Table: Float32Array | null = null;

/** A function writing row r of the source, as float32, into dst (cols long). */
function rowDecoder(src: SourceWeight, cols: number): (r: number, dst: Float32Array) => void {
  const { bytes } = src;
  if (isBlockDType(src.dtype)) {
    const decode = BLOCK_DECODERS[src.dtype], rowBytes = storedBytes(src.dtype, [cols]);
    return (r, dst) => decode(bytes, r * rowBytes, dst);
  }
  switch (src.dtype) {
    case 'F32':
      return (r, dst) => { new Uint8Array(dst.buffer, dst.byteOffset, cols * 4).set(bytes.subarray(r * cols * 4, (r + 1) * cols * 4)); };
    case 'BF16':
    case 'F16': {
      // An odd byte offset cannot be viewed as u16: such rows are copied to an aligned row first.
      const aligned = bytes.byteOffset % 2 === 0;
      const all = aligned ? new Uint16Array(bytes.buffer, bytes.byteOffset, bytes.length / 2) : null;
      const copy = aligned ? null : new Uint16Array(cols);
      const rowOf = (r: number): Uint16Array => {
        if (all) return all.subarray(r * cols, (r + 1) * cols);
        new Uint8Array(copy!.buffer).set(bytes.subarray(r * cols * 2, (r + 1) * cols * 2));
        return copy!;
      };
      if (src.dtype === 'BF16') {
        return (r, dst) => {
          const h = rowOf(r), out = new Uint32Array(dst.buffer, dst.byteOffset, cols);
          for (let c = 0; c < cols; c++) out[c] = h[c] << 16;
        };
      }
      const table = f16Table ??= Float32Array.from({ length: 65536 }, (_, b) => f16ToF32(b));
      return (r, dst) => { const h = rowOf(r); for (let c = 0; c < cols; c++) dst[c] = table[h[c]]; };
    }
    case 'F8_E4M3': {
      const s = src.scaleInv;
      if (!s) return (r, dst) => { const base = r * cols; for (let c = 0; c < cols; c++) dst[c] = E4M3_TABLE[bytes[base + c]]; };
      const [bm, bn] = src.block!;
      const sCols = Math.ceil(cols / bn);
      return (r, dst) => {
        const base = r * cols, srow = ((r / bm) | 0) * sCols;
        for (let c0 = 0; c0 < cols; c0 += bn) {
          const scale = s[srow + c0 / bn], end = Math.min(cols, c0 + bn);
          for (let c = c0; c < end; c++) dst[c] = E4M3_TABLE[bytes[base + c]] * scale;
        }
      };
    }
  }
}

// ---- GGUF's block types as sources: (bytes, byte offset of the first block, dst) decodes dst.length values.

/** ggml's dequantize_row_q8_0: value j of a block is qs[j]·d (exact in float32: 8 bits times an f16). */
function dequantizeQ8_0(src: Uint8Array, at: number, dst: Float32Array): void {
  for (let b = 0, o = at; b < dst.length; b += QUANT_BLOCK, o += BLOCK_BYTES.q8_0) {
    const d = f16ToF32(src[o] | (src[o + 1] << 8));
    for (let j = 0; j < QUANT_BLOCK; j++) dst[b + j] = ((src[o + 2 + j] << 24) >> 24) * d;
  }
}

/** ggml's dequantize_row_q4_0: byte j of qs holds value j (low nibble) and j + 16 (high), each (q − 8)·d. */
function dequantizeQ4_0(src: Uint8Array, at: number, dst: Float32Array): void {
  const half = QUANT_BLOCK / 2;
  for (let b = 0, o = at; b < dst.length; b += QUANT_BLOCK, o += BLOCK_BYTES.q4_0) {
    const d = f16ToF32(src[o] | (src[o + 1] << 8));
    for (let j = 0; j < half; j++) {
      const q = src[o + 2 + j];
      dst[b + j] = ((q & 0xf) - 8) * d;
      dst[b + half + j] = ((q >> 4) - 8) * d;
    }
  }
}

const BLOCK_DECODERS: Record<BlockDType, (src: Uint8Array, at: number, dst: Float32Array) => void> = {
  Q8_0: dequantizeQ8_0, Q4_0: dequantizeQ4_0, Q4_K: dequantizeQ4_K, Q6_K: dequantizeQ6_K,
};

/**
 * rows × cols values of a block-typed tensor (bytes: whole rows of blocks, any byte offset) as float32 into dst
 * (rows·cols long), the values of ggml's dequantize_row_* for that type.
 */
export function dequantizeRows(dtype: BlockDType, bytes: Uint8Array, rows: number, cols: number, dst: Float32Array): void {
  const where = `dequantizeRows(${dtype} [${rows}, ${cols}])`;
  const rowBytes = storedBytes(dtype, [cols], where);
  if (bytes.length !== rows * rowBytes) throw new Error(`${where}: ${bytes.length} bytes, expected ${rows * rowBytes}`);
  if (dst.length !== rows * cols) throw new Error(`${where}: dst holds ${dst.length} values, expected ${rows * cols}`);
  BLOCK_DECODERS[dtype](bytes, 0, dst);
}

function nonFinite(x: Float32Array, from: number, to: number, where: string): Error {
  let i = from;
  while (i < to && Number.isFinite(x[i])) i++;
  return new Error(`${where}: non-finite value ${x[i]} at column ${i}`);
}

function putF16(dst: Uint8Array, at: number, d: number, where: string, col: number): void {
  if (Math.abs(d) > F16_MAX) throw new Error(`${where}: the block at column ${col} needs a scale of ${d}, beyond f16's range`);
  const h = f32ToF16(d);
  dst[at] = h & 0xff;
  dst[at + 1] = h >>> 8;
}

// Both quantizers below avoid data-dependent branches (signs and clamps by integer arithmetic): with random signs,
// branches mispredicted and ran at a third of the speed. A block's largest magnitude is found on the float bits as
// integers (|x| orders as bits & 0x7fffffff), twice as fast as Math.max over floats, and any NaN or ±Inf shows as bits
// of 0x7f800000 and up.

const F32_INF_BITS = 0x7f800000;
const amaxScratch = new Float32Array(1), amaxScratchBits = new Int32Array(amaxScratch.buffer);

/** The largest |x| bits of x[from, from + 32), as int (≥ F32_INF_BITS: a value is not finite). */
function blockAmaxBits(xBits: Int32Array, from: number): number {
  let m = 0;
  for (let j = from; j < from + QUANT_BLOCK; j++) m = Math.max(m, xBits[j] & 0x7fffffff);
  return m;
}

function bitsAsF32(bits: number): number { amaxScratchBits[0] = bits; return amaxScratch[0]; }

/**
 * One row as q8_0 blocks at dst[at ..] (ggml's quantize_row_q8_0_ref): d = amax / 127, codes round(x · (1/d)) with
 * ties away from zero (C's roundf); an all-zero block gets d = 0 and zero codes.
 */
export function quantizeRowQ8_0(x: Float32Array, dst: Uint8Array, at: number, where = 'quantizeRowQ8_0'): void {
  const n = x.length;
  if (n % QUANT_BLOCK !== 0) throw new Error(`${where}: a row of ${n} values is not a whole number of ${QUANT_BLOCK}-value blocks`);
  const xBits = new Int32Array(x.buffer, x.byteOffset, n);
  for (let b = 0, o = at; b < n; b += QUANT_BLOCK, o += BLOCK_BYTES.q8_0) {
    const m = blockAmaxBits(xBits, b);
    if (m >= F32_INF_BITS) throw nonFinite(x, b, b + QUANT_BLOCK, where);
    const d = Math.fround(bitsAsF32(m) / 127), id = d ? Math.fround(1 / d) : 0;
    putF16(dst, o, d, where, b);
    // roundf(x·id): x·id ∓ 0.5 by x's sign bit (0.5 + (−1 or 0)) is exact in a double, and truncation finishes it.
    for (let j = b, p = o + 2; j < b + QUANT_BLOCK; j++, p++) dst[p] = (Math.fround(x[j] * id) + (0.5 + (xBits[j] >> 31))) | 0;
  }
}

/**
 * One row as q4_0 blocks at dst[at ..] (ggml's quantize_row_q4_0_ref): max is the first value of largest magnitude,
 * with its sign (+0 for an all-zero block); d = max / −8, so max's code is 0; codes min(15, trunc(x · (1/d) + 8.5)).
 */
export function quantizeRowQ4_0(x: Float32Array, dst: Uint8Array, at: number, where = 'quantizeRowQ4_0'): void {
  const n = x.length, half = QUANT_BLOCK / 2;
  if (n % QUANT_BLOCK !== 0) throw new Error(`${where}: a row of ${n} values is not a whole number of ${QUANT_BLOCK}-value blocks`);
  const xBits = new Int32Array(x.buffer, x.byteOffset, n);
  for (let b = 0, o = at; b < n; b += QUANT_BLOCK, o += BLOCK_BYTES.q4_0) {
    const m = blockAmaxBits(xBits, b);
    if (m >= F32_INF_BITS) throw nonFinite(x, b, b + QUANT_BLOCK, where);
    let k = b;
    while ((xBits[k] & 0x7fffffff) !== m) k++;
    const max = m === 0 ? 0 : x[k]; // ggml's max stays +0 when no |value| exceeds 0, even for a block of −0
    const d = Math.fround(max / -8), id = d ? Math.fround(1 / d) : 0;
    putF16(dst, o, d, where, b);
    for (let j = 0; j < half; j++) {
      // The code before the clamp is 0..16; c − (c >> 4) takes 16 to 15 and keeps the rest.
      const lo = Math.fround(Math.fround(x[b + j] * id) + 8.5) | 0;
      const hi = Math.fround(Math.fround(x[b + half + j] * id) + 8.5) | 0;
      dst[o + 2 + j] = (lo - (lo >> 4)) | ((hi - (hi >> 4)) << 4);
    }
  }
}

// ---- e4m3 with 128×128 block scales, one band of 128 rows at a time: a pass for the blocks' maxima, a pass to encode.

function toE4m3(src: SourceWeight, rows: number, cols: number, dst: Uint8Array, scaleInv: Float32Array, where: string): void {
  const [bm, bn] = E4M3_BLOCK;
  const sn = Math.ceil(cols / bn);
  const read = rowDecoder(src, cols);
  const row = new Float32Array(cols), bits = new Uint32Array(row.buffer), amax = new Float64Array(sn);
  for (let r0 = 0; r0 < rows; r0 += bm) {
    const r1 = Math.min(rows, r0 + bm);
    amax.fill(0);
    for (let r = r0; r < r1; r++) {
      read(r, row);
      for (let j = 0; j < sn; j++) {
        let m = amax[j], sum = 0;
        for (let c = j * bn, end = Math.min(cols, c + bn); c < end; c++) { const a = Math.abs(row[c]); sum += a; if (a > m) m = a; }
        if (!Number.isFinite(sum)) throw nonFinite(row, j * bn, Math.min(cols, (j + 1) * bn), `${where} row ${r}`);
        amax[j] = m;
      }
    }
    const srow = (r0 / bm) * sn;
    for (let j = 0; j < sn; j++) {
      let s = amax[j] === 0 ? 1 : Math.fround(amax[j] / E4M3_MAX);
      if (s === 0) s = SMALLEST_F32; // amax so tiny that amax/448 underflows float32
      scaleInv[srow + j] = s;
    }
    for (let r = r0; r < r1; r++) {
      read(r, row);
      for (let j = 0; j < sn; j++) {
        const s = scaleInv[srow + j];
        for (let c = j * bn, end = Math.min(cols, c + bn); c < end; c++) row[c] = row[c] / s; // stored as float32
      }
      const base = r * cols;
      for (let c = 0; c < cols; c++) dst[base + c] = e4m3FromBits(bits[c]);
    }
  }
}

/**
 * float32 bits → e4m3fn code, the same as f32ToE4m3 (nearest, ties to even; beyond 448 saturates) without its
 * logarithm: a normal value's f32 exponent and top mantissa bits are e4m3's fields once rounded at bit 20.
 */
function e4m3FromBits(bits: number): number {
  const sign = (bits >>> 24) & 0x80, a = bits & 0x7fffffff;
  if (a > 0x43e00000) return sign | 0x7e;                 // above 448
  if (a >= 0x3c800000) {                                  // 2^-6 and up: normal e4m3
    const rounded = a + 0x7ffff + ((a >>> 20) & 1);
    return sign | ((rounded >>> 20) - ((127 - 7) << 3));
  }
  return f32ToE4m3(sign ? -bitsToF32(a) : bitsToF32(a));   // subnormal e4m3 (rare in real weights)
}

const scratch = new Float32Array(1), scratchBits = new Uint32Array(scratch.buffer);
function bitsToF32(bits: number): number { scratchBits[0] = bits; return scratch[0]; }

/** Writes every row of `src` as float32 into dst (rows × cols values): the exporter's path to any other format. */
export function decodeWeightRows(src: SourceWeight, dst: Float32Array): void {
  const where = `decodeWeightRows(${src.dtype} [${src.shape.join(', ')}])`;
  checkSource(src, where);
  const [rows, cols] = rowsCols(src.shape);
  if (dst.length !== rows * cols) throw new Error(`${where}: dst holds ${dst.length} values, expected ${rows * cols}`);
  const decode = rowDecoder(src, cols);
  for (let r = 0; r < rows; r++) decode(r, dst.subarray(r * cols, (r + 1) * cols));
}
