// Tensor = {dtype, shape, byte offset into the shared heap}. Allocation, views, typed-array access. No math.
// Weights keep their stored width (bf16, f16, e4m3 with 128×128 block scales); activations are f32.

import type { Heap } from './heap.js';

export type DType = 'f32' | 'bf16' | 'f16' | 'e4m3' | 'i32';

export const DTYPE_SIZE: Record<DType, number> = { f32: 4, bf16: 2, f16: 2, e4m3: 1, i32: 4 };

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

export function byteLength(t: Tensor): number { return numel(t.shape) * DTYPE_SIZE[t.dtype]; }

export function empty(heap: Heap, shape: readonly number[], dtype: DType = 'f32'): Tensor {
  for (const d of shape) {
    if (!Number.isInteger(d) || d < 0) throw new Error(`tensor: invalid shape [${shape.join(', ')}]`);
  }
  const ptr = heap.alloc(numel(shape) * DTYPE_SIZE[dtype]);
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

/** A view of rows [start, start + count) along dim 0 (no copy). */
export function rows(t: Tensor, start: number, count: number): Tensor {
  const rowElems = numel(t.shape.slice(1));
  if (start < 0 || count < 0 || start + count > t.shape[0]) {
    throw new Error(`tensor: rows [${start}, ${start + count}) out of range for dim 0 of size ${t.shape[0]}`);
  }
  if (t.scale) throw new Error('tensor: row views of block-scaled weights are not supported');
  return { heap: t.heap, ptr: t.ptr + start * rowElems * DTYPE_SIZE[t.dtype], dtype: t.dtype, shape: [count, ...t.shape.slice(1)], owner: false };
}

export function reshape(t: Tensor, shape: readonly number[]): Tensor {
  if (numel(shape) !== numel(t.shape)) throw new Error(`tensor: cannot reshape [${t.shape.join(', ')}] to [${shape.join(', ')}]`);
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
