// Feed-forward layers for training: the dense SwiGLU and DeepSeekMoE (router, routed experts grouped by expert,
// shared experts), forward with a tape and backward with accumulated parameter gradients. The router's gradient
// flows through the unbiased gate weights of the chosen experts (selection is constant; the bias gets none), plus
// the balance loss's gradient through all scores when it is on.

import type { Tensor } from '../tensor/tensor.js';
import { rows } from '../tensor/tensor.js';
import type { SwiGluWeights, MoeWeights } from '../model/weights.js';
import type { TrainStep } from './context.js';
import { rowsOf } from './context.js';

export interface SwiGluTape { x: Tensor; g: Tensor; u: Tensor; a: Tensor }

export function swigluTrainForward(st: TrainStep, out: Tensor, x: Tensor, w: SwiGluWeights, I: number): SwiGluTape {
  const b = st.ctx.backend, N = rowsOf(st), D = st.ctx.cfg.hiddenSize;
  const g = st.s.tensor([N, I]), u = st.s.tensor([N, I]), a = st.s.tensor([N, I]);
  b.matmul(g, x, w.gate, N, D, I);
  b.matmul(u, x, w.up, N, D, I);
  b.siluMul(a, g, u, N * I);
  b.matmul(out, a, w.down, N, I, D);
  return { x, g, u, a };
}

export function swigluTrainBackward(st: TrainStep, dx: Tensor, dout: Tensor, w: SwiGluWeights, gw: SwiGluWeights, t: SwiGluTape, I: number): void {
  const bw = st.bw, N = rowsOf(st), D = st.ctx.cfg.hiddenSize;
  const da = st.s.tensor([N, I]), dg = st.s.tensor([N, I]), du = st.s.tensor([N, I]);
  bw.matmulBackward(da, gw.down, dout, t.a, w.down, N, I, D);
  bw.siluMulBackward(dg, du, da, t.g, t.u, N * I);
  bw.matmulBackward(dx, gw.gate, dg, t.x, w.gate, N, D, I);
  bw.matmulBackward(dx, gw.up, du, t.x, w.up, N, D, I);
}

/** How the balance loss is applied: per sequence (complementary, paper §2.1.3), over the batch (classic), or off. */
export interface BalanceOptions { mode: 'sequence' | 'batch' | 'off'; alpha: number }

export interface MoeTape { x: Tensor; logits: Tensor; experts: Tensor; weights: Tensor; shared: SwiGluTape | null; balanceLoss: number }

export function moeTrainForward(st: TrainStep, out: Tensor, x: Tensor, w: MoeWeights, balance: BalanceOptions): MoeTape {
  const { ctx, bw, s, B, T } = st;
  const b = ctx.backend, cfg = ctx.cfg, N = rowsOf(st);
  const D = cfg.hiddenSize, E = cfg.nRoutedExperts, K = cfg.numExpertsPerTok, I = cfg.moeIntermediateSize;
  const logits = s.tensor([N, E]), experts = s.tensor([N, K], 'i32'), weights = s.tensor([N, K]);
  b.matmul(logits, x, w.router, N, D, E);
  b.route(experts, weights, logits, w.bias, ctx.router, N);
  b.moe(out, x, experts, weights, w.bank, N, D, I, K);
  let shared: SwiGluTape | null = null;
  if (w.shared) {
    const sh = s.tensor([N, D]);
    shared = swigluTrainForward(st, sh, x, w.shared, I * cfg.nSharedExperts);
    b.add(out, out, sh, N * D);
  }
  let balanceLoss = 0;
  if (balance.mode === 'sequence') {
    for (let i = 0; i < B; i++) balanceLoss += bw.balanceLoss(null, rows(logits, i * T, T), rows(experts, i * T, T), ctx.router, T, balance.alpha, 0) / B;
  } else if (balance.mode === 'batch') {
    balanceLoss = bw.balanceLoss(null, logits, experts, ctx.router, N, balance.alpha, 0);
  }
  return { x, logits, experts, weights, shared, balanceLoss };
}

/** `balanceScale`: ∂(total loss)/∂(this layer's balance loss), i.e. its weight in the objective. */
export function moeTrainBackward(st: TrainStep, dx: Tensor, dout: Tensor, w: MoeWeights, gw: MoeWeights, t: MoeTape,
  balance: BalanceOptions, balanceScale: number): void {
  const { ctx, bw, s, B, T } = st;
  const cfg = ctx.cfg, N = rowsOf(st);
  const D = cfg.hiddenSize, E = cfg.nRoutedExperts, K = cfg.numExpertsPerTok, I = cfg.moeIntermediateSize;
  const dweights = s.tensor([N, K]), dlogits = s.tensor([N, E]);
  bw.moeBackward(dx, dweights, gw.bank, dout, t.x, t.experts, t.weights, w.bank, N, D, I, K);
  bw.routeBackward(dlogits, dweights, t.logits, t.experts, ctx.router, N);
  if (balance.mode === 'sequence') {
    for (let i = 0; i < B; i++) {
      bw.balanceLoss(rows(dlogits, i * T, T), rows(t.logits, i * T, T), rows(t.experts, i * T, T), ctx.router, T, balance.alpha, balanceScale / B);
    }
  } else if (balance.mode === 'batch') {
    bw.balanceLoss(dlogits, t.logits, t.experts, ctx.router, N, balance.alpha, balanceScale);
  }
  bw.matmulBackward(dx, gw.router, dlogits, t.x, w.router, N, D, E);
  if (w.shared) swigluTrainBackward(st, dx, dout, w.shared, gw.shared!, t.shared!, I * cfg.nSharedExperts);
}
