// The memories a wasm backend computes on. Activations live in the backend's heap (arena 0); weights too large for
// one 4 GiB memory live in further heaps (weight arenas, see tensor/arenas.ts). A kernel addresses one memory, so an
// op on a weight in another arena copies its activations into a staging area there, runs there, and copies the
// result back: a decode step's activations are a few KB, a weight read is megabytes.
// Leaves out: which tensors go where (the loader's placement) and the ops themselves (matmul-ops.ts, …).

import type { Heap } from '../../tensor/heap.js';
import type { ThreadPool } from '../pool/thread-pool.js';

export interface Arena {
  /** The pool's memory index (0: the backend's own heap). */
  readonly index: number;
  readonly heap: Heap;
  /** threads × scratchBytes of per-thread kernel scratch in this arena. */
  readonly scratch: number;
}

interface Staging { ptr: number; bytes: number }

/** Staging areas of an arena: activations, and the task tables of the calls that read them. */
export type StageSlot = 'data' | 'table';

export class ArenaSet {
  private readonly byHeap = new Map<Heap, { arena: Arena; staging: Record<StageSlot, Staging> }>();

  constructor(main: Heap, mainScratch: number, private readonly pool: ThreadPool, private readonly scratchBytesPerThread: number) {
    this.byHeap.set(main, { arena: { index: 0, heap: main, scratch: mainScratch }, staging: unstaged() });
  }

  /** The arena of `heap`, made addressable by every pool thread the first time it is seen. */
  of(heap: Heap): Arena {
    let known = this.byHeap.get(heap);
    if (!known) {
      const index = this.pool.addMemory(heap.memory);
      const scratch = heap.alloc(this.pool.threads * this.scratchBytesPerThread);
      known = { arena: { index, heap, scratch }, staging: unstaged() };
      this.byHeap.set(heap, known);
    }
    return known.arena;
  }

  /**
   * A staging area of at least `bytes` in `arena`, for what one op copies in (its contents are the caller's until the
   * next stage() of that slot on that arena; ops do not nest).
   */
  stage(arena: Arena, bytes: number, slot: StageSlot = 'data'): number {
    const s = this.byHeap.get(arena.heap)!.staging[slot];
    if (bytes > s.bytes) {
      if (s.ptr) arena.heap.release(s.ptr);
      s.ptr = 0; s.bytes = 0;
      const size = Math.max(bytes, 1 << 16);
      s.ptr = arena.heap.alloc(size);
      s.bytes = size;
    }
    return s.ptr;
  }

  /** Forgets a weight arena whose tensors were freed, so neither this thread nor the workers keep its memory. */
  forget(heap: Heap): void {
    const known = this.byHeap.get(heap);
    if (!known || known.arena.index === 0) return;
    this.byHeap.delete(heap);
    this.pool.removeMemory(known.arena.index);
  }

  /** Frees the staging areas and weight-arena scratch (the main arena's scratch belongs to the backend). */
  release(): void {
    for (const { arena, staging } of this.byHeap.values()) {
      for (const s of Object.values(staging)) if (s.ptr) arena.heap.release(s.ptr);
      if (arena.index !== 0) arena.heap.release(arena.scratch);
    }
    this.byHeap.clear();
  }
}

const unstaged = (): Record<StageSlot, Staging> => ({ data: { ptr: 0, bytes: 0 }, table: { ptr: 0, bytes: 0 } });

/** Copies `bytes` bytes between two heaps' memories (or within one). */
export function copyBytes(dst: Heap, dstPtr: number, src: Heap, srcPtr: number, bytes: number): void {
  new Uint8Array(dst.memory.buffer, dstPtr, bytes).set(new Uint8Array(src.memory.buffer, srcPtr, bytes));
}

/** Copies `rows` rows of `cols` f32 from src (rows `stride` elements apart) to dst, packed. */
export function copyRows(dst: Heap, dstPtr: number, src: Heap, srcPtr: number, rows: number, cols: number, stride: number): void {
  if (stride === cols) return copyBytes(dst, dstPtr, src, srcPtr, rows * cols * 4);
  for (let r = 0; r < rows; r++) copyBytes(dst, dstPtr + r * cols * 4, src, srcPtr + r * stride * 4, cols * 4);
}
