// The vocabulary shared by the GGUF reader and writer: ggml tensor types with their block layouts, GGUF metadata value
// types with their ids and sizes, and the shapes of metadata values and tensor infos. Facts from ggml's ggml.h,
// ggml-common.h and gguf.h. Leaves out any quantisation maths (quantize.ts) and anything model-specific.

/** The ggml tensor types qiusuo reads and writes; every other ggml type is refused by name (GGML_TYPE_NAMES). */
export type GgmlType = 'F32' | 'F16' | 'BF16' | 'Q8_0' | 'Q4_0' | 'Q4_K' | 'Q6_K';

/** ggml_type ids, as stored in a GGUF tensor info (ggml.h). */
export const GGML_TYPE_ID: Record<GgmlType, number> = { F32: 0, F16: 1, Q4_0: 2, Q8_0: 8, Q4_K: 12, Q6_K: 14, BF16: 30 };

/**
 * Values per block and bytes per block (ggml-common.h): Q8_0 = f16 scale + 32 int8; Q4_0 = f16 scale + 16 bytes of
 * nibbles; Q4_K = 2 f16 + 12 bytes of 6-bit scales/mins + 128 bytes of nibbles; Q6_K = 128 + 64 bytes of bits,
 * 16 int8 scales, f16 scale.
 */
export const GGML_BLOCK: Record<GgmlType, { values: number; bytes: number }> = {
  F32: { values: 1, bytes: 4 },
  F16: { values: 1, bytes: 2 },
  BF16: { values: 1, bytes: 2 },
  Q8_0: { values: 32, bytes: 34 },
  Q4_0: { values: 32, bytes: 18 },
  Q4_K: { values: 256, bytes: 144 },
  Q6_K: { values: 256, bytes: 210 },
};

/** Every ggml_type id a GGUF file may hold (ggml.h; 4, 5, 31-33, 36-38 were removed), so refusals can name the type. */
export const GGML_TYPE_NAMES: ReadonlyMap<number, string> = new Map([
  [0, 'F32'], [1, 'F16'], [2, 'Q4_0'], [3, 'Q4_1'], [6, 'Q5_0'], [7, 'Q5_1'], [8, 'Q8_0'], [9, 'Q8_1'],
  [10, 'Q2_K'], [11, 'Q3_K'], [12, 'Q4_K'], [13, 'Q5_K'], [14, 'Q6_K'], [15, 'Q8_K'], [16, 'IQ2_XXS'],
  [17, 'IQ2_XS'], [18, 'IQ3_XXS'], [19, 'IQ1_S'], [20, 'IQ4_NL'], [21, 'IQ3_S'], [22, 'IQ2_S'], [23, 'IQ4_XS'],
  [24, 'I8'], [25, 'I16'], [26, 'I32'], [27, 'I64'], [28, 'F64'], [29, 'IQ1_M'], [30, 'BF16'], [34, 'TQ1_0'],
  [35, 'TQ2_0'], [39, 'MXFP4'], [40, 'NVFP4'], [41, 'Q1_0'],
]);

export const GGML_TYPE_BY_ID: ReadonlyMap<number, GgmlType> = new Map(
  (Object.entries(GGML_TYPE_ID) as [GgmlType, number][]).map(([type, id]) => [id, type]),
);

/** ggml refuses tensor names of GGML_MAX_NAME (64) bytes or more. */
export const GGML_MAX_NAME_BYTES = 63;
export const GGML_MAX_DIMS = 4;

/**
 * Bytes of a tensor of `type` with dimensions `ne` (ggml order: ne[0] is the contiguous row). Throws if `ne` is not
 * 1..4 positive integers, if ne[0] is not a whole number of blocks, or if the size is beyond 2^53.
 */
export function ggmlBytes(type: GgmlType, ne: readonly number[]): number {
  const block = GGML_BLOCK[type];
  if (block === undefined) throw new Error(`unknown ggml type ${JSON.stringify(type)}`);
  if (ne.length < 1 || ne.length > GGML_MAX_DIMS) throw new Error(`ne ${JSON.stringify(ne)} must have 1 to ${GGML_MAX_DIMS} dimensions`);
  ne.forEach((n, j) => {
    if (!Number.isSafeInteger(n) || n <= 0) throw new Error(`ne ${JSON.stringify(ne)}: ne[${j}] = ${n} is not a positive integer`);
  });
  if (ne[0]! % block.values !== 0) {
    throw new Error(`ne ${JSON.stringify(ne)}: ne[0] = ${ne[0]} is not a multiple of ${type}'s block of ${block.values} values`);
  }
  let bytes = (ne[0]! / block.values) * block.bytes;
  for (const n of ne.slice(1)) bytes *= n;
  if (!Number.isSafeInteger(bytes)) throw new Error(`ne ${JSON.stringify(ne)}: ${type} tensor of this shape is too large (over 2^53 bytes)`);
  return bytes;
}

export type GgufScalarType = 'u8' | 'i8' | 'u16' | 'i16' | 'u32' | 'i32' | 'f32' | 'bool' | 'string' | 'u64' | 'i64' | 'f64';

/** u64/i64 values are JS numbers: reading refuses values beyond ±2^53, writing refuses non-safe integers. */
export type GgufScalar = number | boolean | string;

export type GgufValue =
  | { type: GgufScalarType; value: GgufScalar }
  | { type: 'array'; itemType: GgufScalarType; value: GgufScalar[] };

/** gguf_type ids (gguf.h); 9 is ARRAY. */
export const GGUF_VALUE_TYPE_ID: Record<GgufScalarType, number> = {
  u8: 0, i8: 1, u16: 2, i16: 3, u32: 4, i32: 5, f32: 6, bool: 7, string: 8, u64: 10, i64: 11, f64: 12,
};
export const GGUF_ARRAY_TYPE_ID = 9;

export const GGUF_SCALAR_BY_ID: ReadonlyMap<number, GgufScalarType> = new Map(
  (Object.entries(GGUF_VALUE_TYPE_ID) as [GgufScalarType, number][]).map(([type, id]) => [id, type]),
);

/** Bytes of one value of each type; a string's is its smallest (an empty one: just the u64 length). */
export const GGUF_SCALAR_MIN_BYTES: Record<GgufScalarType, number> = {
  u8: 1, i8: 1, u16: 2, i16: 2, u32: 4, i32: 4, f32: 4, bool: 1, string: 8, u64: 8, i64: 8, f64: 8,
};

export const NUMERIC_TYPES: readonly GgufScalarType[] = ['u8', 'i8', 'u16', 'i16', 'u32', 'i32', 'f32', 'u64', 'i64', 'f64'];

export interface GgufTensorInfo {
  name: string;
  type: GgmlType;
  ne: number[];
  /** absolute file offset of its data */
  offset: number;
  byteLength: number;
}

export interface GgufTensorSpec {
  name: string;
  type: GgmlType;
  ne: readonly number[];
}

export const GGUF_MAGIC = 'GGUF';
export const GGUF_VERSION = 3;
export const GGUF_DEFAULT_ALIGNMENT = 32;
export const ALIGNMENT_KEY = 'general.alignment';

export function isPowerOfTwo(n: number): boolean {
  return Number.isSafeInteger(n) && n > 0 && (n & (n - 1)) === 0 && n <= 0x80000000;
}

export function alignUp(n: number, alignment: number): number {
  return Math.ceil(n / alignment) * alignment;
}
