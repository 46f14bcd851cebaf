// Codecs for the dtypes a DeepSeek-V3 checkpoint stores: F32, BF16, F16 and F8_E4M3 (e4m3fn), and the sizes of
// GGUF's block-quantized types (Q8_0, Q4_0, Q4_K, Q6_K), which only GGUF files hold (their codecs: quantize.ts,
// kquants.ts). Pure functions over numbers and typed arrays, all rounding to nearest, ties to even.
// Leaves out any notion of tensors or files; model code keeps weights at their stored width.

import { preview } from '../util/json.js';

/** A dtype with a fixed width per value: what safetensors files hold. */
export type ElementDType = 'F32' | 'BF16' | 'F16' | 'F8_E4M3';
/** ggml's block-quantized types: a row (the last dim) is whole blocks of BLOCK_VALUES values each. */
export type BlockDType = 'Q8_0' | 'Q4_0' | 'Q4_K' | 'Q6_K';
export type StoredDType = ElementDType | BlockDType;

export const DTYPE_BYTES: Record<ElementDType, number> = { F32: 4, BF16: 2, F16: 2, F8_E4M3: 1 };

/** Values per block and bytes per block (ggml-common.h: block_q8_0, block_q4_0, block_q4_K, block_q6_K). */
export const BLOCK_VALUES: Record<BlockDType, number> = { Q8_0: 32, Q4_0: 32, Q4_K: 256, Q6_K: 256 };
export const BLOCK_BYTES: Record<BlockDType, number> = { Q8_0: 34, Q4_0: 18, Q4_K: 144, Q6_K: 210 };

export function isBlockDType(dtype: StoredDType): dtype is BlockDType { return dtype in BLOCK_VALUES; }

const SUPPORTED: readonly ElementDType[] = ['F32', 'BF16', 'F16', 'F8_E4M3'];

/** Checks a dtype string from a safetensors header (never a block type); `where` says which file/tensor it came from. */
export function parseDType(s: string, where: string): ElementDType {
  if ((SUPPORTED as readonly string[]).includes(s)) return s as ElementDType;
  throw new Error(`${where}: unsupported dtype ${preview(s)} (supported: ${SUPPORTED.join(', ')})`);
}

/**
 * Bytes of a tensor of `shape` stored as `dtype`: rows × bytes of a row, a row being the last dim (a scalar is one
 * value). A block type needs rows that are whole blocks; `where` names the tensor in that error.
 * Example: Q4_K [2, 512] is 2 rows of 2 blocks of 144 bytes = 576.
 */
export function storedBytes(dtype: StoredDType, shape: readonly number[], where = 'storedBytes'): number {
  const cols = shape.length === 0 ? 1 : shape[shape.length - 1]!;
  let rows = 1;
  for (let i = 0; i < shape.length - 1; i++) rows *= shape[i]!;
  if (!isBlockDType(dtype)) return rows * cols * DTYPE_BYTES[dtype];
  const per = BLOCK_VALUES[dtype];
  if (cols % per !== 0) {
    throw new Error(`${where}: ${dtype} needs rows (the last dim) that are a multiple of ${per}, got shape [${shape.join(', ')}]`);
  }
  return rows * (cols / per) * BLOCK_BYTES[dtype];
}

// Typed-array views below assume a little-endian host (every platform Node ships on).
const HOST_IS_LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

// Scratch for float32 <-> bits in the scalar codecs. Not state: no value outlives a call.
const scratchF32 = new Float32Array(1);
const scratchU32 = new Uint32Array(scratchF32.buffer);

function f32Bits(x: number): number {
  scratchF32[0] = x;
  return scratchU32[0]!;
}

function bitsF32(bits: number): number {
  scratchU32[0] = bits;
  return scratchF32[0]!;
}

// ---------------------------------------------------------------------------------------------
// BF16: the top 16 bits of a float32.

/** float32 bits → bf16 bits, rounding to nearest, ties to even (the codec of f32ToBf16, for loops over bit views). */
export function bf16FromBits(bits: number): number {
  if ((bits & 0x7f800000) === 0x7f800000 && (bits & 0x007fffff) !== 0) {
    return ((bits >>> 16) | 0x0040) & 0xffff; // NaN: keep sign and payload top, force quiet bit
  }
  const lsb = (bits >>> 16) & 1;
  return ((bits + 0x7fff + lsb) >>> 16) & 0xffff; // carry into the exponent gives Inf on overflow
}

/**
 * float32 → bf16 bits. `x` is taken as a float32 (rounded to one first, as the name says).
 * Example: 1 + 2^-8 lies halfway between 1 and 1 + 2^-7 and goes to the even one, 1.0 (0x3F80).
 */
export function f32ToBf16(x: number): number {
  return bf16FromBits(f32Bits(x));
}

export function bf16ToF32(bits: number): number {
  return bitsF32((bits & 0xffff) << 16);
}

// ---------------------------------------------------------------------------------------------
// F16: IEEE binary16, bias 15, 10 mantissa bits, subnormals down to 2^-24.

function roundShiftRightEven(v: number, shift: number): number {
  // v >> shift, rounded to nearest, ties to even; v < 2^31, 1 ≤ shift ≤ 30.
  const q = v >>> shift;
  const rem = v & ((1 << shift) - 1);
  const half = 1 << (shift - 1);
  return rem > half || (rem === half && (q & 1) === 1) ? q + 1 : q;
}

function f16FromBits(bits: number): number {
  const sign = (bits >>> 16) & 0x8000;
  const exp = (bits >>> 23) & 0xff;
  const mant = bits & 0x7fffff;
  if (exp === 0xff) return mant !== 0 ? sign | 0x7e00 | (mant >>> 13) : sign | 0x7c00;
  const e = exp - 127;
  if (e > 15) return sign | 0x7c00;
  if (e >= -14) {
    // Normal: keep 10 mantissa bits; a carry out of the mantissa bumps the exponent (0x7BFF+1 = Inf).
    return sign | roundShiftRightEven(((e + 15) << 23) | mant, 13);
  }
  // Subnormal (or zero): value = full · 2^(e-23) = (full · 2^(e+1)) units of 2^-24.
  const shift = -(e + 1); // ≥ 14
  if (shift > 24) return sign; // below half the smallest subnormal: rounds to ±0
  return sign | roundShiftRightEven(0x800000 | mant, shift);
}

/** float32 → f16 bits (`x` taken as a float32). Overflow goes to ±Inf, tiny values to subnormals or ±0. */
export function f32ToF16(x: number): number {
  return f16FromBits(f32Bits(x));
}

export function f16ToF32(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exp = (bits >>> 10) & 0x1f;
  const mant = bits & 0x3ff;
  if (exp === 0) return sign * mant * 2 ** -24;
  if (exp === 0x1f) return mant !== 0 ? NaN : sign * Infinity;
  return sign * (1 + mant / 1024) * 2 ** (exp - 15);
}

// ---------------------------------------------------------------------------------------------
// F8_E4M3 (e4m3fn): 1 sign, 4 exponent (bias 7), 3 mantissa bits. No infinities; S.1111.111 is NaN.
// Largest finite 0x7E = 1.75 · 2^8 = 448; smallest subnormal 0x01 = 2^-9; smallest normal 0x08 = 2^-6.

export function e4m3ToF32(code: number): number {
  const sign = code & 0x80 ? -1 : 1;
  const exp = (code >>> 3) & 0xf;
  const mant = code & 0x7;
  if (exp === 0xf && mant === 0x7) return NaN;
  if (exp === 0) return sign * mant * 2 ** -9;
  return sign * (1 + mant / 8) * 2 ** (exp - 7);
}

function roundHalfEven(v: number): number {
  const f = Math.floor(v);
  const d = v - f;
  if (d > 0.5) return f + 1;
  if (d < 0.5) return f;
  return f % 2 === 0 ? f : f + 1;
}

/**
 * number → e4m3fn code, rounding the exact value (no float32 step) to nearest, ties to even.
 * |x| > 448 (Inf included) saturates to ±448 (0x7E / 0xFE), NaN → 0x7F, -0 → 0x80.
 * Example: 1.0625 = 1 + 2^-4 is halfway between 1 (0x38) and 1.125 (0x39) and goes to 0x38.
 */
export function f32ToE4m3(x: number): number {
  if (Number.isNaN(x)) return 0x7f;
  const sign = x < 0 || Object.is(x, -0) ? 0x80 : 0;
  const a = Math.abs(x);
  if (a > 448) return sign | 0x7e;
  if (a < 2 ** -6) {
    // Subnormal grid: multiples of 2^-9. Rounding up to 8 lands on 0x08, the smallest normal.
    return sign | roundHalfEven(a * 512);
  }
  let e = Math.floor(Math.log2(a));
  if (2 ** e > a) e -= 1;
  if (2 ** (e + 1) <= a) e += 1;
  let m = roundHalfEven((a / 2 ** e) * 8 - 8); // 0..8
  if (m === 8) {
    e += 1;
    m = 0;
  }
  return sign | ((e + 7) << 3) | m; // a ≤ 448 keeps this at or below 0x7E
}

/** All 256 e4m3fn codes decoded: E4M3_TABLE[code] === e4m3ToF32(code). */
export const E4M3_TABLE: Float32Array = Float32Array.from({ length: 256 }, (_, c) => e4m3ToF32(c));

// ---------------------------------------------------------------------------------------------
// Whole arrays, little-endian bytes.

function assertLittleEndianHost(): void {
  if (!HOST_IS_LITTLE_ENDIAN) throw new Error('weights/dtypes: big-endian hosts are not supported');
}

/** Float32 values → stored bytes of `dtype` (rounding as the scalar codecs do). */
export function encodeArray(src: Float32Array, dtype: ElementDType): Uint8Array {
  assertLittleEndianHost();
  const n = src.length;
  switch (dtype) {
    case 'F32':
      return new Uint8Array(src.buffer.slice(src.byteOffset, src.byteOffset + src.byteLength));
    case 'BF16':
    case 'F16': {
      const bits = new Uint32Array(src.buffer, src.byteOffset, n);
      const out = new Uint16Array(n);
      const fromBits = dtype === 'BF16' ? bf16FromBits : f16FromBits;
      for (let i = 0; i < n; i++) out[i] = fromBits(bits[i]!);
      return new Uint8Array(out.buffer);
    }
    case 'F8_E4M3': {
      const out = new Uint8Array(n);
      for (let i = 0; i < n; i++) out[i] = f32ToE4m3(src[i]!);
      return out;
    }
  }
}

/** Stored bytes of `dtype` → float32 values (a fresh array; `bytes` may sit at any offset). */
export function decodeArray(bytes: Uint8Array, dtype: ElementDType): Float32Array {
  assertLittleEndianHost();
  const width = DTYPE_BYTES[dtype];
  if (bytes.length % width !== 0) {
    throw new Error(`decodeArray: ${bytes.length} bytes is not a whole number of ${dtype} values (${width} bytes each)`);
  }
  const n = bytes.length / width;
  const aligned = bytes.byteOffset % width === 0 ? bytes : bytes.slice();
  switch (dtype) {
    case 'F32':
      return new Float32Array(aligned.buffer, aligned.byteOffset, n).slice();
    case 'BF16': {
      const src = new Uint16Array(aligned.buffer, aligned.byteOffset, n);
      const out = new Float32Array(n);
      const outBits = new Uint32Array(out.buffer);
      for (let i = 0; i < n; i++) outBits[i] = src[i]! << 16;
      return out;
    }
    case 'F16': {
      const src = new Uint16Array(aligned.buffer, aligned.byteOffset, n);
      const out = new Float32Array(n);
      for (let i = 0; i < n; i++) out[i] = f16ToF32(src[i]!);
      return out;
    }
    case 'F8_E4M3': {
      const out = new Float32Array(n);
      for (let i = 0; i < n; i++) out[i] = E4M3_TABLE[bytes[i]!]!;
      return out;
    }
  }
}
