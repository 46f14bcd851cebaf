// DeepSeekMoE feed-forward: shared experts plus routed experts chosen by the router (routing and the grouped
// expert matmuls are backend ops), and the dense SwiGLU used by the first layers and as the shared expert.

import type { Tensor, Scope } from '../tensor/tensor.js';
import type { ModelContext } from './context.js';
import type { MoeWeights, SwiGluWeights } from './weights.js';

/** out [T, D] = down(silu(gate(x)) ⊙ up(x)), intermediate size I. */
export function swigluForward(ctx: ModelContext, s: Scope, out: Tensor, x: Tensor, w: SwiGluWeights, T: number, I: number): void {
  const b = ctx.backend, D = ctx.cfg.hiddenSize;
  const g = s.tensor([T, I]), u = s.tensor([T, I]);
  b.matmul(g, x, w.gate, T, D, I);
  b.matmul(u, x, w.up, T, D, I);
  b.siluMul(g, g, u, T * I);
  b.matmul(out, g, w.down, T, I, D);
}

/** Router decisions of one MoE layer, kept for load statistics. */
export interface RoutingResult { experts: Tensor; weights: Tensor }

/** out [T, D] = Σ_k w_k·expert_k(x) + shared(x). */
export function moeForward(ctx: ModelContext, s: Scope, out: Tensor, x: Tensor, w: MoeWeights, T: number): RoutingResult {
  const b = ctx.backend, cfg = ctx.cfg;
  const D = cfg.hiddenSize, E = cfg.nRoutedExperts, K = cfg.numExpertsPerTok, I = cfg.moeIntermediateSize;
  const logits = s.tensor([T, E]);
  b.matmul(logits, x, w.router, T, D, E);
  const experts = s.tensor([T, K], 'i32'), weights = s.tensor([T, K]);
  b.route(experts, weights, logits, w.bias, ctx.router, T);
  b.moe(out, x, experts, weights, w.bank, T, D, I, K);
  if (w.shared) {
    const sh = s.tensor([T, D]);
    swigluForward(ctx, s, sh, x, w.shared, T, I * cfg.nSharedExperts);
    b.add(out, out, sh, T * D);
  }
  return { experts, weights };
}
