// What the training forward/backward functions share: the model context (config, RoPE, router spec, forward
// kernels), the backward kernels, and the batch layout — B sequences of T tokens flattened into N = B·T rows.

import type { Tensor, Scope } from '../tensor/tensor.js';
import type { BackwardKernels } from '../kernels/backend.js';
import type { ModelContext } from '../model/context.js';

export interface TrainStep {
  readonly ctx: ModelContext;
  readonly bw: BackwardKernels;
  readonly s: Scope;          // every activation of the step lives here until the backward pass is done
  readonly B: number;         // sequences
  readonly T: number;         // tokens per sequence (rows of the layer being run)
  readonly positions: Tensor; // i32 [B·T]: 0..T-1 per sequence
}

export const rowsOf = (st: TrainStep): number => st.B * st.T;
