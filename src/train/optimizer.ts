// AdamW over the named parameters (β1 0.9, β2 0.95, weight decay 0.1 except norms and biases), with global-norm
// gradient clipping. Moments are f32, or bf16 as in the paper's FP8 recipe. State is saved with checkpoints.

import type { Heap } from '../tensor/heap.js';
import type { Tensor, DType } from '../tensor/tensor.js';
import { empty, numel, dispose } from '../tensor/tensor.js';
import type { BackwardKernels } from '../kernels/backend.js';
import type { NamedParam } from './grads.js';

export interface AdamWOptions { beta1: number; beta2: number; eps: number; weightDecay: number; clip: number; momentDtype: 'f32' | 'bf16' }

export const DEFAULT_ADAMW: AdamWOptions = { beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0.1, clip: 1.0, momentDtype: 'f32' };

export class AdamW {
  readonly m: Tensor[];
  readonly v: Tensor[];
  step = 0;

  constructor(heap: Heap, readonly params: NamedParam[], readonly grads: NamedParam[], readonly o: AdamWOptions) {
    const dt: DType = o.momentDtype;
    this.m = params.map((p) => empty(heap, p.w.shape, dt));
    this.v = params.map((p) => empty(heap, p.w.shape, dt));
  }

  /** Clips the gradients to global norm `clip` (if positive) and applies one update. Returns the pre-clip norm. */
  update(bw: BackwardKernels, lr: number): number {
    let ss = 0;
    for (const g of this.grads) ss += bw.sumSquares(g.w);
    const norm = Math.sqrt(ss);
    if (!Number.isFinite(norm)) return norm; // caller skips the step
    if (this.o.clip > 0 && norm > this.o.clip) for (const g of this.grads) bw.scaleInPlace(g.w, this.o.clip / norm);
    this.step += 1;
    this.params.forEach((p, i) => {
      bw.adamw(p.w, this.grads[i].w, this.m[i], this.v[i], numel(p.w.shape), {
        lr, beta1: this.o.beta1, beta2: this.o.beta2, eps: this.o.eps, weightDecay: p.decay ? this.o.weightDecay : 0, step: this.step,
      });
    });
    return norm;
  }

  dispose(): void { for (const t of [...this.m, ...this.v]) dispose(t); }
}
