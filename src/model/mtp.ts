// Multi-token prediction module k (paper §2.2): for i = 0..T-2,
//   x_i = eh_proj(concat[enorm(E[t_{i+1}]), hnorm(h_i)])   — embedding FIRST, as the released weights expect;
// then a full decoder layer with causal attention over positions 0..T-2, shared_head.norm and shared_head.head,
// predicting t_{i+2}. h_i is the main model's last decoder-layer output BEFORE model.norm (the paper's structure;
// vLLM/SGLang feed the post-norm state, which moves logits by ~2.6e-2 on random checkpoints).

import type { Tensor, Scope } from '../tensor/tensor.js';
import { rows } from '../tensor/tensor.js';
import type { ModelContext } from './context.js';
import type { MtpWeights } from './weights.js';
import { blockForward } from './block.js';
import { LatentCache } from '../generate/latent-cache.js';

/**
 * Returns the module's output hidden state [T-1, D] (before shared_head.norm, the input to a deeper module) and
 * logits [T-1, V]. hPre [T, D] is the pre-norm hidden state of the previous stage; tokens are the T input ids.
 */
export function mtpForward(ctx: ModelContext, s: Scope, w: MtpWeights, hPre: Tensor, tokens: readonly number[]): { h: Tensor; logits: Tensor } {
  const b = ctx.backend, cfg = ctx.cfg, D = cfg.hiddenSize, V = cfg.vocabSize, eps = cfg.rmsNormEps;
  const T = tokens.length - 1;
  if (T < 1) throw new Error('mtp: needs at least 2 tokens');
  const e = s.tensor([T, D]), en = s.tensor([T, D]), hn = s.tensor([T, D]), cat = s.tensor([T, 2 * D]);
  b.embedding(e, s.i32(tokens.slice(1)), w.embed, T, D);
  b.rmsnorm(en, e, w.enorm, T, D, eps);
  b.rmsnorm(hn, rows(hPre, 0, T), w.hnorm, T, D, eps);
  b.concat(cat, en, hn, T, D, D);
  const h = s.tensor([T, D]);
  b.matmul(h, cat, w.ehProj, T, 2 * D, D);

  const cache = new LatentCache(ctx.heap, 1, 1, T, cfg.kvLoraRank + cfg.qkRopeHeadDim);
  try {
    const positions = s.i32(Array.from({ length: T }, (_, i) => i));
    blockForward(ctx, s, h, w.layer, cache.pools[0], { T, positions, cacheRows: positions, mode: { kind: 'prefill', poolStart: 0, past: 0 } });
  } finally {
    cache.dispose();
  }
  const n = s.tensor([T, D]), logits = s.tensor([T, V]);
  b.rmsnorm(n, h, w.norm, T, D, eps);
  b.matmul(logits, n, w.head, T, D, V);
  return { h, logits };
}
