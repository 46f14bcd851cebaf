// The optimizer kernels in wasm (optim.as) on the backend's thread pool, bit-identical to src/kernels/ref/optim.ts:
// AdamW with f32 or bf16 moments, Σ g² for global-norm clipping (per-chunk partial sums in f64, added here in chunk
// order, so the norm does not depend on the thread count), and in-place scaling.
// Leaves out: moments of two different dtypes (the reference kernel takes them), balanceBiasUpdate (E values).

import type { AdamWHyper, BackwardKernels } from '../backend.js';
import type { Tensor } from '../../tensor/tensor.js';
import { numel } from '../../tensor/tensor.js';
import { gradF32 } from '../ref/elementwise.js';
import { adamw as refAdamw, SUM_SQUARES_CHUNK } from '../ref/optim.js';
import type { WasmBackend } from './backend.js';

/** Least elements per thread of the elementwise updates: below it, waking a pool thread costs more than it saves. */
const UPDATE_GRAIN = 4096;

export type OptimKernels = Pick<BackwardKernels, 'adamw' | 'sumSquares' | 'scaleInPlace'>;

export function createWasmOptim(backend: WasmBackend): OptimKernels {
  function adamw(w: Tensor, g: Tensor, m: Tensor, v: Tensor, n: number, h: AdamWHyper): void {
    gradF32(w, 'adamw', 'w');
    if (g.dtype !== 'f32') throw new Error(`adamw: g must be f32, got ${g.dtype}`);
    for (const [t, what] of [[m, 'm'], [v, 'v']] as const) {
      if (t.dtype !== 'f32' && t.dtype !== 'bf16') throw new Error(`adamw: ${what} must be f32 or bf16, got ${t.dtype}`);
    }
    if (m.dtype !== v.dtype) return refAdamw(w, g, m, v, n, h);
    const c1 = 1 - Math.pow(h.beta1, h.step), c2 = 1 - Math.pow(h.beta2, h.step);
    backend.run(m.dtype === 'f32' ? 'adamwF32' : 'adamwBF16',
      [w.ptr, g.ptr, m.ptr, v.ptr, h.lr, h.beta1, h.beta2, h.eps, h.weightDecay, c1, c2], n, UPDATE_GRAIN);
  }

  function sumSquares(g: Tensor): number {
    if (g.dtype !== 'f32') throw new Error(`sumSquares: g must be f32, got ${g.dtype}`);
    const n = numel(g.shape), chunks = Math.ceil(n / SUM_SQUARES_CHUNK);
    if (chunks === 0) return 0;
    const heap = g.heap, partials = heap.alloc(chunks * 8);
    try {
      backend.run('sumSquaresChunks', [partials, g.ptr, n, SUM_SQUARES_CHUNK], chunks, 1);
      const p = new Float64Array(heap.memory.buffer, partials, chunks);
      let s = 0;
      for (let c = 0; c < chunks; c++) s += p[c];
      return s;
    } finally {
      heap.release(partials);
    }
  }

  function scaleInPlace(g: Tensor, factor: number): void {
    if (g.dtype !== 'f32') throw new Error(`scaleInPlace: g must be f32, got ${g.dtype}`);
    backend.run('scaleF32', [g.ptr, factor], numel(g.shape), UPDATE_GRAIN);
  }

  return { adamw, sumSquares, scaleInPlace };
}
