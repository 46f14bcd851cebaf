// Prefill and decode throughput of a loaded model: random prompts of P tokens for B sequences, then N decode steps
// that advance all B sequences together through the latent cache; and the median of several such runs. And greedy
// generation through the Generator, with or without speculation (acceptance, where the time goes). Used by
// `qiusuo bench generate` and bench/.

import type { DeepSeekModel } from '../model/transformer.js';
import type { Tokenizer } from '../tokenizer/bpe.js';
import { Generator, DEFAULT_PARAMS, type SpeculativeOptions } from '../generate/engine.js';
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

export interface GeneratorBenchResult extends GenerateBenchResult {
  tokens: number;                          // decoded tokens (after each prompt's first)
  acceptance: number | null;               // with speculation: position-1 acceptance
  acceptance_by_position: number[] | null;
  accepted_per_step: number | null;        // mean tokens a sequence gains per verify pass
  time_split_ms: { draft: number; verify: number; accept: number } | null;
}

/**
 * Greedy generation through the Generator, as a user gets it: `prompts` (one per sequence, all decoded together),
 * each generating up to `newTokens` tokens (fewer when it emits EOS). Decode tokens/s counts the tokens after each
 * sequence's first (which its prefill yields). With `speculative`, also acceptance and where the time went.
 */
export function benchGenerator(pipeline: { model: DeepSeekModel; tokenizer: Tokenizer }, prompts: readonly (readonly number[])[], newTokens: number,
  speculative?: SpeculativeOptions): GeneratorBenchResult {
  const context = Math.max(...prompts.map((p) => p.length)) + newTokens;
  const gen = new Generator(pipeline.model, pipeline.tokenizer, prompts.length, context, { speculative });
  try {
    const t0 = performance.now();
    const seqs = prompts.map((p) => gen.add(p, { ...DEFAULT_PARAMS, maxTokens: newTokens }));
    const t1 = performance.now();
    gen.runToCompletion();
    const t2 = performance.now();
    const tokens = seqs.reduce((n, s) => n + Math.max(0, s.generated.length - 1), 0);
    const promptTokens = prompts.reduce((n, p) => n + p.length, 0);
    const st = gen.speculation();
    return {
      prefill_tok_s: promptTokens / ((t1 - t0) / 1000), decode_tok_s: tokens / ((t2 - t1) / 1000), tokens,
      acceptance: st ? st.acceptance[0] ?? 0 : null, acceptance_by_position: st ? st.acceptance : null,
      accepted_per_step: st ? st.acceptedPerStep : null,
      time_split_ms: st ? { draft: st.draftMs, verify: st.verifyMs, accept: st.acceptMs } : null,
    };
  } finally {
    gen.dispose();
  }
}

/** `count` prompts of `length` random ids the tokenizer knows (seeded). */
export function randomPrompts(tokenizer: Tokenizer, vocab: number, count: number, length: number, seed = 1): number[][] {
  const rng = new Rng(seed);
  const known = Array.from({ length: Math.min(vocab, tokenizer.vocabSize) }, (_, id) => id).filter((id) => tokenizer.idToToken(id) !== undefined);
  return Array.from({ length: count }, () => Array.from({ length }, () => known[rng.nextU32() % known.length]));
}
