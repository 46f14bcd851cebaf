// What every group of wasm ops shares: the heap, the pool's run(), per-thread scratch, the work thresholds that decide
// how many threads a call is worth, and the arenas.

import type { Heap } from '../../tensor/heap.js';
import type { ArenaSet } from './arenas.js';

export interface WasmContext {
  readonly heap: Heap;
  readonly threads: number;
  /** Runs kernel export `fn(...args, start, end, thread)` over [0, items) on all threads, on memory `arena` (default 0). */
  run(fn: string, args: readonly number[], items: number, split?: number | readonly number[], arena?: number): void;
  /** A kernel export of this thread's instance on the main heap (for the kernels' own size queries). */
  query(fn: string, ...args: number[]): number;
  /** threads × scratchBytes of per-thread scratch in the main heap. */
  readonly scratch: number;
  readonly scratchBytes: number;
  /** Least work (≈ multiply-adds or elements) one thread takes in a call. */
  readonly minWork: number;
  /** Smallest matmul share worth a thread, in multiply-adds. */
  readonly matmulMinMacs: number;
  readonly arenas: ArenaSet;
}

/** Items per grain so that one grain holds at least minWork, for items of `work` each. */
export function grainFor(cx: WasmContext, work: number): number {
  return Math.max(1, Math.ceil(cx.minWork / Math.max(1, work)));
}
