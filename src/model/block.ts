// One decoder layer: h += MLA(input_layernorm(h)); h += FFN(post_attention_layernorm(h)), FFN dense or MoE.

import type { Tensor, Scope } from '../tensor/tensor.js';
import type { ModelContext } from './context.js';
import type { LayerWeights } from './weights.js';
import type { AttentionStep } from './mla.js';
import { mlaForward } from './mla.js';
import { moeForward, swigluForward } from './moe.js';

/** Updates h [T, D] in place. */
export function blockForward(ctx: ModelContext, s: Scope, h: Tensor, w: LayerWeights, pool: Tensor, step: AttentionStep): void {
  const b = ctx.backend, T = step.T, D = ctx.cfg.hiddenSize, eps = ctx.cfg.rmsNormEps;
  const x = s.tensor([T, D]), y = s.tensor([T, D]);
  b.rmsnorm(x, h, w.inputNorm, T, D, eps);
  mlaForward(ctx, s, y, x, w.attn, pool, step);
  b.add(h, h, y, T * D);
  b.rmsnorm(x, h, w.postNorm, T, D, eps);
  if (w.ffn.kind === 'dense') swigluForward(ctx, s, y, x, w.ffn.mlp, T, ctx.cfg.intermediateSize);
  else moeForward(ctx, s, y, x, w.ffn.moe, T);
  b.add(h, h, y, T * D);
}
