// Tensor = {dtype, shape, byte offset into the shared heap}. Allocation, views, typed-array access. No math.
// Weights keep their stored width (bf16, f16, e4m3 with 128×128 block scales) or a compact block format (q8_0, q4_0:
// ggml's byte layouts, blocks of 32 along each row); activations are f32.

import type { Heap } from './heap.js';

export type DType = 'f32' | 'bf16' | 'f16' | 'e4m3' | 'i32' | 'q8_0' | 'q4_0';

/** Bytes per element of the dtypes stored one element at a time. */
const ELEMENT_BYTES = { f32: 4, bf16: 2, f16: 2, e4m3: 1, i32: 4 } as const;

/**
 * The block formats, as ggml lays them out: each block holds QUANT_BLOCK consecutive values of one row (the last dim),
 * an f16 scale d first, then the codes. q8_0: int8 qs[32], value qs[j]·d (34 bytes). q4_0: uint8 qs[16], element j in
 * the low nibble of qs[j] and element j + 16 in the high nibble, value (nibble − 8)·d (18 bytes).
 */
export const QUANT_BLOCK = 32;
export const BLOCK_BYTES = { q8_0: 34, q4_0: 18 } as const;

export function isBlockDType(dtype: DType): dtype is keyof typeof BLOCK_BYTES { return dtype in BLOCK_BYTES; }

/** Bytes a tensor of `dtype` and `shape` takes; block formats need a last dim that is a multiple of 32. */
export function byteSize(dtype: DType, shape: readonly number[]): number {
  if (!isBlockDType(dtype)) return numel(shape) * ELEMENT_BYTES[dtype];
  const cols = shape.length === 0 ? 1 : shape[shape.length - 1];
  if (cols % QUANT_BLOCK !== 0) {
    throw new Error(`tensor: ${dtype} needs rows (the last dim) that are a multiple of ${QUANT_BLOCK}, got shape [${shape.join(', ')}]`);
  }
  return (numel(shape) / QUANT_BLOCK) * BLOCK_BYTES[dtype];
}

/** Fine-grained FP8 block scales: value[i,j] = code[i,j] * scaleInv[i / block[0] | 0, j / block[1] | 0]. */
export interface BlockScale {
  readonly scaleInv: Tensor;           // f32 [ceil(rows/bm), ceil(cols/bn)]
  readonly block: readonly [number, number];
}

export interface Tensor {
  readonly heap: Heap;
  readonly ptr: number;                // byte offset into heap.memory
  readonly dtype: DType;
  readonly shape: readonly number[];
  readonly scale?: BlockScale;         // only for e4m3 weights
  readonly owner: boolean;             // false for views; only owners may be disposed
}

export function numel(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

export function byteLength(t: Tensor): number { return byteSize(t.dtype, t.shape); }

export function empty(heap: Heap, shape: readonly number[], dtype: DType = 'f32'): Tensor {
  for (const d of shape) {
    if (!Number.isInteger(d) || d < 0) throw new Error(`tensor: invalid shape [${shape.join(', ')}]`);
  }
  const ptr = heap.alloc(byteSize(dtype, shape));
  return { heap, ptr, dtype, shape: [...shape], owner: true };
}

export function fromF32(heap: Heap, data: ArrayLike<number>, shape: readonly number[]): Tensor {
  if (numel(shape) !== data.length) throw new Error(`tensor: ${data.length} values do not fill shape [${shape.join(', ')}]`);
  const t = empty(heap, shape, 'f32');
  f32(t).set(data);
  return t;
}

export function fromI32(heap: Heap, data: ArrayLike<number>, shape: readonly number[] = [data.length]): Tensor {
  if (numel(shape) !== data.length) throw new Error(`tensor: ${data.length} values do not fill shape [${shape.join(', ')}]`);
  const t = empty(heap, shape, 'i32');
  i32(t).set(data);
  return t;
}

/** Attaches FP8 block scales to an e4m3 weight. */
export function withScale(t: Tensor, scale: BlockScale): Tensor {
  if (t.dtype !== 'e4m3') throw new Error('tensor: block scales belong to e4m3 weights only');
  return { ...t, scale };
}

/** A view of rows [start, start + count) along dim 0 (no copy); a row of a block format is whole blocks. */
export function rows(t: Tensor, start: number, count: number): Tensor {
  if (start < 0 || count < 0 || start + count > t.shape[0]) {
    throw new Error(`tensor: rows [${start}, ${start + count}) out of range for dim 0 of size ${t.shape[0]}`);
  }
  if (t.scale) throw new Error('tensor: row views of block-scaled weights are not supported');
  return { heap: t.heap, ptr: t.ptr + start * byteSize(t.dtype, t.shape.slice(1)), dtype: t.dtype, shape: [count, ...t.shape.slice(1)], owner: false };
}

export function reshape(t: Tensor, shape: readonly number[]): Tensor {
  if (numel(shape) !== numel(t.shape)) throw new Error(`tensor: cannot reshape [${t.shape.join(', ')}] to [${shape.join(', ')}]`);
  byteSize(t.dtype, shape); // a block format's rows must stay whole blocks
  return { ...t, shape: [...shape], owner: false };
}

export function dispose(t: Tensor): void {
  if (!t.owner) throw new Error('tensor: dispose of a view');
  t.heap.release(t.ptr);
  if (t.scale) dispose(t.scale.scaleInv);
}

function check(t: Tensor, dtype: DType): void {
  if (t.dtype !== dtype) throw new Error(`tensor: expected ${dtype}, got ${t.dtype}`);
}

// Fresh views each call: the shared buffer object changes when the memory grows.
export function f32(t: Tensor): Float32Array { check(t, 'f32'); return new Float32Array(t.heap.memory.buffer, t.ptr, numel(t.shape)); }
export function i32(t: Tensor): Int32Array { check(t, 'i32'); return new Int32Array(t.heap.memory.buffer, t.ptr, numel(t.shape)); }
export function u16(t: Tensor): Uint16Array {
  if (t.dtype !== 'bf16' && t.dtype !== 'f16') throw new Error(`tensor: expected bf16/f16, got ${t.dtype}`);
  return new Uint16Array(t.heap.memory.buffer, t.ptr, numel(t.shape));
}
export function bytes(t: Tensor): Uint8Array { return new Uint8Array(t.heap.memory.buffer, t.ptr, byteLength(t)); }

/** Copies an f32 tensor out of the heap. */
export function toF32Array(t: Tensor): Float32Array { return f32(t).slice(); }

/**
 * Tracks the tensors allocated during one computation and frees them together:
 * `const s = new Scope(heap); try { … s.f32([T, D]) … } finally { s.release(); }`.
 */
export class Scope {
  private owned: Tensor[] = [];
  constructor(readonly heap: Heap) {}
  tensor(shape: readonly number[], dtype: DType = 'f32'): Tensor {
    const t = empty(this.heap, shape, dtype);
    this.owned.push(t);
    return t;
  }
  i32(data: ArrayLike<number>): Tensor { const t = fromI32(this.heap, data); this.owned.push(t); return t; }
  release(): void { for (const t of this.owned.splice(0).reverse()) dispose(t); }
}
