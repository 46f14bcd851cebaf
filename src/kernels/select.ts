// Chooses the backend a model runs on: the wasm SIMD kernels on a thread pool (default), or the plain TypeScript
// reference kernels (QIUSUO_KERNELS=ref or --kernels ref), e.g. to check a result against the definition.

import type { Heap } from '../tensor/heap.js';
import type { Backend, BackwardKernels } from './backend.js';
import { refBackend } from './ref/index.js';
import { createWasmBackend, type WasmBackend } from './wasm/backend.js';
import { refBackward } from './ref/backward.js';
import { createWasmBackward } from './wasm/backward.js';

export type KernelsKind = 'wasm' | 'ref';

export interface BackendOptions { kernels?: KernelsKind; threads?: number }

export function parseKernelsKind(v: string, where: string): KernelsKind {
  if (v !== 'wasm' && v !== 'ref') throw new Error(`${where} must be "wasm" or "ref", got "${v}"`);
  return v;
}

export function createBackend(heap: Heap, opts: BackendOptions = {}): Backend {
  const env = process.env.QIUSUO_KERNELS;
  const kind = opts.kernels ?? (env ? parseKernelsKind(env, 'QIUSUO_KERNELS') : 'wasm');
  return kind === 'ref' ? refBackend : createWasmBackend(heap, { threads: opts.threads });
}

/** The backward kernels that go with a forward backend: wasm on its thread pool, or the reference ones. */
export function backwardFor(backend: Backend): BackwardKernels {
  return 'run' in backend ? createWasmBackward(backend as WasmBackend) : refBackward;
}
