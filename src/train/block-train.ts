// One decoder layer for training: h1 = h0 + MLA(norm(h0)); h2 = h1 + FFN(norm(h1)), forward with a tape and
// backward returning ∂L/∂h0 (accumulated into dh0) and parameter gradients.

import type { Tensor } from '../tensor/tensor.js';
import type { LayerWeights } from '../model/weights.js';
import type { TrainStep } from './context.js';
import { rowsOf } from './context.js';
import type { MlaTape } from './mla-train.js';
import { mlaTrainForward, mlaTrainBackward } from './mla-train.js';
import type { SwiGluTape, MoeTape, BalanceOptions } from './ffn-train.js';
import { swigluTrainForward, swigluTrainBackward, moeTrainForward, moeTrainBackward } from './ffn-train.js';

export interface BlockTape { h0: Tensor; x1: Tensor; h1: Tensor; x2: Tensor; mla: MlaTape; ffn: { dense: SwiGluTape } | { moe: MoeTape } }

/** Returns h2 [N, D] (a new tensor) and the tape. */
export function blockTrainForward(st: TrainStep, h0: Tensor, w: LayerWeights, balance: BalanceOptions): { h: Tensor; tape: BlockTape } {
  const b = st.ctx.backend, cfg = st.ctx.cfg, N = rowsOf(st), D = cfg.hiddenSize, eps = cfg.rmsNormEps;
  const x1 = st.s.tensor([N, D]), a = st.s.tensor([N, D]), h1 = st.s.tensor([N, D]);
  b.rmsnorm(x1, h0, w.inputNorm, N, D, eps);
  const mla = mlaTrainForward(st, a, x1, w.attn);
  b.add(h1, h0, a, N * D);
  const x2 = st.s.tensor([N, D]), f = st.s.tensor([N, D]), h2 = st.s.tensor([N, D]);
  b.rmsnorm(x2, h1, w.postNorm, N, D, eps);
  const ffn = w.ffn.kind === 'dense'
    ? { dense: swigluTrainForward(st, f, x2, w.ffn.mlp, cfg.intermediateSize) }
    : { moe: moeTrainForward(st, f, x2, w.ffn.moe, balance) };
  b.add(h2, h1, f, N * D);
  return { h: h2, tape: { h0, x1, h1, x2, mla, ffn } };
}

/** dh0 [N, D] += ∂L/∂h0 given dh2 [N, D] = ∂L/∂h2. */
export function blockTrainBackward(st: TrainStep, dh0: Tensor, dh2: Tensor, w: LayerWeights, g: LayerWeights, t: BlockTape,
  balance: BalanceOptions, balanceScale: number): void {
  const { ctx, bw, s } = st;
  const cfg = ctx.cfg, N = rowsOf(st), D = cfg.hiddenSize, eps = cfg.rmsNormEps;
  const dx2 = s.tensor([N, D]), dh1 = s.tensor([N, D]);
  if ('dense' in t.ffn) {
    if (w.ffn.kind !== 'dense' || g.ffn.kind !== 'dense') throw new Error('blockTrainBackward: tape and weights disagree');
    swigluTrainBackward(st, dx2, dh2, w.ffn.mlp, g.ffn.mlp, t.ffn.dense, cfg.intermediateSize);
  } else {
    if (w.ffn.kind !== 'moe' || g.ffn.kind !== 'moe') throw new Error('blockTrainBackward: tape and weights disagree');
    moeTrainBackward(st, dx2, dh2, w.ffn.moe, g.ffn.moe, t.ffn.moe, balance, balanceScale);
  }
  ctx.backend.copy(dh1, dh2, N * D);
  bw.rmsnormBackward(dh1, g.postNorm, dx2, t.h1, w.postNorm, N, D, eps);
  const dx1 = s.tensor([N, D]);
  mlaTrainBackward(st, dx1, dh1, w.attn, g.attn, t.mla);
  ctx.backend.add(dh0, dh0, dh1, N * D);
  bw.rmsnormBackward(dh0, g.inputNorm, dx1, t.h0, w.inputNorm, N, D, eps);
}
