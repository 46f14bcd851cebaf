// Prefill and decode throughput of a loaded model: random prompts of P tokens for B sequences, then N decode steps
// that advance all B sequences together through the latent cache; and the median of several such runs. Used by
// `qiusuo bench generate` and bench/.

import type { DeepSeekModel } from '../model/transformer.js';
import { Scope } from '../tensor/tensor.js';
import { Rng } from '../util/random.js';

export interface GenerateBenchResult { prefill_tok_s: number; decode_tok_s: number }

export function benchGenerate(model: DeepSeekModel, promptTokens: number, newTokens: number, batch: number, seed = 1): GenerateBenchResult {
  const rng = new Rng(seed);
  const V = model.cfg.vocabSize;
  const cache = model.newCache(batch, promptTokens + newTokens);
  try {
    const slots = Array.from({ length: batch }, () => cache.acquire());
    let prefillMs = 0, decodeMs = 0;
    for (const slot of slots) {
      const s = new Scope(model.ctx.heap);
      const t0 = performance.now();
      const h = model.prefill(s, Array.from({ length: promptTokens }, () => rng.nextU32() % V), cache, slot);
      model.logits(s, h, promptTokens);
      prefillMs += performance.now() - t0;
      s.release();
    }
    for (let i = 0; i < newTokens; i++) {
      const s = new Scope(model.ctx.heap);
      const t0 = performance.now();
      const h = model.decode(s, slots.map(() => rng.nextU32() % V), cache, slots);
      model.logits(s, h, batch);
      decodeMs += performance.now() - t0;
      s.release();
    }
    return { prefill_tok_s: (batch * promptTokens) / (prefillMs / 1000), decode_tok_s: (batch * newTokens) / (decodeMs / 1000) };
  } finally {
    cache.dispose();
  }
}

/**
 * Each figure the median over `repeats` runs (new random prompts each time): a prefill of a small model is short, and
 * on a shared VM a host stall now and then makes a single run far off.
 */
export function benchGenerateMedian(model: DeepSeekModel, promptTokens: number, newTokens: number, batch: number, repeats: number): GenerateBenchResult {
  const runs = Array.from({ length: repeats }, (_, i) => benchGenerate(model, promptTokens, newTokens, batch, i + 1));
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[(xs.length - 1) >> 1];
  return { prefill_tok_s: median(runs.map((r) => r.prefill_tok_s)), decode_tok_s: median(runs.map((r) => r.decode_tok_s)) };
}
