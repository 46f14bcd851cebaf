// Multi-token prediction module (paper §2.2). At input position i it takes the previous stage's hidden state h_i and
// the next token t_{i+1}:
//   x_i = eh_proj(concat[enorm(E[t_{i+1}]), hnorm(h_i)])   — embedding FIRST, as the released weights expect;
// then a full decoder layer (its own latent cache, RoPE position i), shared_head.norm and shared_head.head,
// predicting t_{i+2}. Depth 1's h_i is model.norm(h_L), the final-normed state that feeds lm_head (vLLM, SGLang,
// TensorRT-LLM and Megatron-LM all do this); a chained depth k > 1 takes depth k−1's output after its shared_head.norm.

import type { Tensor, Scope } from '../tensor/tensor.js';
import type { ModelContext } from './context.js';
import type { MtpWeights } from './weights.js';
import type { AttentionStep } from './mla.js';
import { blockForward } from './block.js';

/**
 * The module's decoder step over T rows: hIn [T, D] (the previous stage's normed hidden states), next [T] the token
 * after each row's position. Appends the rows' latents to `pool` as `step` says. Returns the output after
 * shared_head.norm [T, D]: the input of a chained depth, and (through mtpHead) the draft logits.
 */
export function mtpBlock(ctx: ModelContext, s: Scope, w: MtpWeights, hIn: Tensor, next: readonly number[], pool: Tensor, step: AttentionStep): Tensor {
  const b = ctx.backend, D = ctx.cfg.hiddenSize, eps = ctx.cfg.rmsNormEps, T = step.T;
  if (next.length !== T) throw new Error(`mtp: ${next.length} next tokens for ${T} rows`);
  const e = s.tensor([T, D]), en = s.tensor([T, D]), hn = s.tensor([T, D]), cat = s.tensor([T, 2 * D]);
  b.embedding(e, s.i32(next), w.embed, T, D);
  b.rmsnorm(en, e, w.enorm, T, D, eps);
  b.rmsnorm(hn, hIn, w.hnorm, T, D, eps);
  b.concat(cat, en, hn, T, D, D);
  const h = s.tensor([T, D]);
  b.matmul(h, cat, w.ehProj, T, 2 * D, D);
  blockForward(ctx, s, h, w.layer, pool, step);
  const n = s.tensor([T, D]);
  b.rmsnorm(n, h, w.norm, T, D, eps);
  return n;
}

/** Draft logits [T, V] = shared_head.head(n) for n [T, D] from mtpBlock. */
export function mtpHead(ctx: ModelContext, s: Scope, w: MtpWeights, n: Tensor, T: number): Tensor {
  const logits = s.tensor([T, ctx.cfg.vocabSize]);
  ctx.backend.matmul(logits, n, w.head, T, ctx.cfg.hiddenSize, ctx.cfg.vocabSize);
  return logits;
}
