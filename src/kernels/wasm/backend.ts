// The fast backend: AssemblyScript SIMD kernels (relaxed SIMD where the engine has it) run on every core by the
// thread pool, over the heap's shared memory. Every forward op runs in wasm (matmul.as, ops.as, attention.as) except
// routing (route.ts: allocation-free TypeScript, bit-identical to the reference); an op whose weight dtype has no
// wasm path (f16) runs the reference kernel, so every op is always available and the model never knows which ran.
// Weights beyond one memory's 4 GiB live in weight arenas, which every pool thread addresses too (arenas.ts).
// The ops are grouped by what they share: row-ops.ts, matmul-ops.ts (and MoE), attention-ops.ts.
// Leaves out: f16 weights in wasm.

import type { Backend } from '../backend.js';
import type { Tensor } from '../../tensor/tensor.js';
import type { Heap } from '../../tensor/heap.js';
import { refBackend } from '../ref/index.js';
import { ThreadPool, defaultThreads } from '../pool/thread-pool.js';
import type { WasmFlavour } from './loader.js';
import { compileKernels, instantiateKernels } from './loader.js';
import { createRouter } from './route.js';
import { ArenaSet } from './arenas.js';
import type { WasmContext } from './context.js';
import { createMatmulOps } from './matmul-ops.js';
import { createRowOps } from './row-ops.js';
import { createAttentionOps } from './attention-ops.js';
import { RopeTable } from './rope-table.js';

export interface WasmBackendOptions {
  threads?: number;
  flavour?: WasmFlavour;
  /** Least work (≈ multiply-adds or elements) one thread takes in a call (default MIN_WORK); tests pass 1 to split tiny calls. */
  minWork?: number;
}

/** Least work (≈ multiply-adds or elements) one thread takes in a call: below it a call stays on fewer threads. */
const MIN_WORK = 65536;
/**
 * Smallest matmul share worth a thread: 2^16 multiply-adds (a decode row over 256 KB of f32 weights), well above what
 * handing work to a pool thread that is awake costs (pool threads spin between the calls of a forward pass).
 */
const MATMUL_MIN_MACS = 1 << 16;

export interface WasmBackend extends Backend {
  readonly threads: number;
  readonly flavour: WasmFlavour;
  /** Runs kernel export `fn(...args, start, end, thread)` over [0, items) on all threads (for sibling kernel sets). */
  run(fn: string, args: readonly number[], items: number, split?: number | readonly number[]): void;
  /** Bytes of per-thread scratch at `scratch` (threads × scratchBytes), free for any kernel during its call. */
  readonly scratch: number;
  readonly scratchBytes: number;
  /** Training forwards in wasm, same contracts as BackwardKernels' (the reference ones are in ref/loss.ts). */
  softmaxForward(out: Tensor, x: Tensor, T: number, V: number): void;
  crossEntropyForward(losses: Tensor, logits: Tensor, targets: Tensor, T: number, V: number): void;
  close(): Promise<void>;
}

export function createWasmBackend(heap: Heap, opts: WasmBackendOptions = {}): WasmBackend {
  const threads = opts.threads ?? defaultThreads();
  const compiled = compileKernels(opts.flavour);
  const k = instantiateKernels(compiled, heap.memory);
  const pool = new ThreadPool(threads, k.exports, compiled.module, heap.memory);
  const scratchBytes = k.scratchBytes;
  const scratch = heap.alloc(threads * scratchBytes); // one area per thread, lives as long as the backend
  const run = (fn: string, args: readonly number[], items: number, split?: number | readonly number[], arena?: number) =>
    pool.run(fn, args, items, split, arena);
  const cx: WasmContext = {
    heap, threads, run, scratch, scratchBytes,
    query: (fn, ...args) => k.exports[fn](...args) as number,
    minWork: opts.minWork ?? MIN_WORK,
    matmulMinMacs: opts.minWork ?? MATMUL_MIN_MACS,
    arenas: new ArenaSet(heap, scratch, pool, scratchBytes),
  };
  const rope = new RopeTable(heap);
  return {
    ...refBackend,
    name: `wasm-${compiled.flavour}×${threads}`,
    threads,
    flavour: compiled.flavour,
    run: (fn, args, items, split) => run(fn, args, items, split),
    scratch,
    scratchBytes,
    ...createRowOps(cx, rope),
    ...createMatmulOps(cx),
    ...createAttentionOps(cx),
    route: createRouter(),
    forgetHeap: (h: Heap) => cx.arenas.forget(h),
    async close() {
      await pool.close();
      rope.release();
      cx.arenas.release();
      heap.release(scratch);
    },
  };
}
