// Teacher-forced logits for a token sequence (what `qiusuo forward` prints): one prefill over all tokens, or the
// same tokens fed one at a time through the absorbed latent cache (`decode`), which must agree within 1e-4.
// Optionally the first MTP module's logits, from model.norm of every position's last hidden state.

import type { DeepSeekModel } from '../model/transformer.js';
import { Scope, f32, rows } from '../tensor/tensor.js';

export interface ScoreResult {
  logits: Float32Array[];            // T rows: row i predicts token i+1
  mtpLogits: Float32Array[] | null;  // T-1 rows: row i predicts token i+2
}

export function scoreTokens(model: DeepSeekModel, tokens: readonly number[], opts: { mtp?: boolean; decode?: boolean } = {}): ScoreResult {
  const T = tokens.length, D = model.cfg.hiddenSize, V = model.cfg.vocabSize;
  if (T === 0) throw new Error('no tokens to score');
  if (opts.mtp && T < 2) throw new Error('--mtp needs at least 2 tokens');
  if (opts.mtp) model.requireMtp();
  const s = new Scope(model.ctx.heap);
  const cache = model.newCache(1, T);
  try {
    const slot = cache.acquire();
    let h;
    if (opts.decode) {
      h = s.tensor([T, D]);
      for (let i = 0; i < T; i++) model.ctx.backend.copy(rows(h, i, 1), model.decode(s, [tokens[i]], cache, [slot]), D);
    } else {
      h = model.prefill(s, tokens, cache, slot);
    }
    const normed = model.norm(s, h, T);
    const all = f32(model.head(s, normed, T));
    const logits = Array.from({ length: T }, (_, i) => all.slice(i * V, (i + 1) * V));
    let mtpLogits: Float32Array[] | null = null;
    if (opts.mtp) {
      const m = f32(model.mtpLogits(s, normed, tokens));
      mtpLogits = Array.from({ length: T - 1 }, (_, i) => m.slice(i * V, (i + 1) * V));
    }
    return { logits, mtpLogits };
  } finally {
    cache.dispose();
    s.release();
  }
}
