// The fast backend: AssemblyScript SIMD kernels (relaxed SIMD where the engine has it) run on every core by the
// thread pool, over the heap's shared memory. Ops without a wasm kernel yet run the reference kernel, so every op
// is always available and the model never knows which one ran.
// Leaves out: f16 weights in wasm (they take the reference path).

import type { Backend } from '../backend.js';
import type { Tensor } from '../../tensor/tensor.js';
import type { Heap } from '../../tensor/heap.js';
import { refBackend } from '../ref/index.js';
import { moeWith } from '../ref/moe.js';
import { ThreadPool, defaultThreads } from '../pool/thread-pool.js';
import type { WasmFlavour } from './loader.js';
import { compileKernels, instantiateKernels } from './loader.js';

export interface WasmBackendOptions { threads?: number; flavour?: WasmFlavour }

/** Output columns per pool task grain: a multiple of the micro-kernel widths (4 and 12). */
const OC_GRAIN = 48;

export interface WasmBackend extends Backend {
  readonly threads: number;
  readonly flavour: WasmFlavour;
  /** Runs kernel export `fn(...args, start, end, thread)` over [0, items) on all threads (for sibling kernel sets). */
  run(fn: string, args: readonly number[], items: number, grain?: number): void;
  /** Bytes of per-thread scratch at `scratch` (threads × scratchBytes), free for any kernel during its call. */
  readonly scratch: number;
  readonly scratchBytes: number;
  close(): Promise<void>;
}

export function createWasmBackend(heap: Heap, opts: WasmBackendOptions = {}): WasmBackend {
  const threads = opts.threads ?? defaultThreads();
  const compiled = compileKernels(opts.flavour);
  const k = instantiateKernels(compiled, heap.memory);
  const pool = new ThreadPool(threads, k.exports, compiled.module, heap.memory);
  const scratch = heap.alloc(threads * k.scratchBytes); // one panel area per thread, lives as long as the backend

  function matmul(out: Tensor, x: Tensor, w: Tensor, T: number, C: number, OC: number, xStride = C): void {
    if (out.dtype !== 'f32' || x.dtype !== 'f32') throw new Error('matmul: activations must be f32');
    const base = [out.ptr, x.ptr, w.ptr, T, C, OC, xStride];
    switch (w.dtype) {
      case 'f32': return pool.run('matmulF32', [...base, scratch], OC, OC_GRAIN);
      case 'bf16': return pool.run('matmulBF16', [...base, scratch], OC, OC_GRAIN);
      case 'e4m3': {
        const s = w.scale;
        return pool.run('matmulE4M3', [...base, s ? s.scaleInv.ptr : 0, s ? s.block[0] : 0, s ? s.block[1] : 0, scratch], OC, OC_GRAIN);
      }
      default: return refBackend.matmul(out, x, w, T, C, OC, xStride);
    }
  }

  return {
    ...refBackend,
    name: `wasm-${compiled.flavour}×${threads}`,
    threads,
    flavour: compiled.flavour,
    run: (fn, args, items, grain) => pool.run(fn, args, items, grain),
    scratch,
    scratchBytes: k.scratchBytes,
    matmul,
    moe: moeWith(matmul),
    async close() {
      await pool.close();
      heap.release(scratch);
    },
  };
}
