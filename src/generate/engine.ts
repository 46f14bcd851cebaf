// The generation loop: each sequence is prefilled on its own, then every step decodes all active sequences together
// through the latent cache (one batched forward), samples each one's next token and streams its text. Sequences
// finish on EOS, a stop string or max tokens, and leave at once, freeing their cache slot for new arrivals
// (continuous batching).
// With speculation, a step is a cycle: the MTP module drafts up to K tokens per sequence (drafter.ts), one batched
// pass of the main model verifies each sequence's pending token plus its drafts, every sequence keeps its agreeing
// prefix plus the main model's own next token (speculative.ts), and the cache rows of rejected drafts are dropped.
// Greedy output is the main model's argmax at every position, as without speculation; sampled output follows the
// main model's distribution exactly (rejection sampling), though not the same draws for a seed.
// Leaves out: HTTP and scheduling policy (server/).

import type { DeepSeekModel } from '../model/transformer.js';
import type { Tokenizer } from '../tokenizer/bpe.js';
import { Scope, f32, rows } from '../tensor/tensor.js';
import type { LatentCache } from './latent-cache.js';
import type { SamplerOptions } from './sampler.js';
import { argmax, sampleToken, validateSampler } from './sampler.js';
import { Rng } from '../util/random.js';
import { Drafter } from './drafter.js';
import type { DraftingSequence } from './drafter.js';
import { AdaptiveDraft, FixedDraft, tokenDistribution, verifyGreedy, verifySampled } from './speculative.js';

export interface GenerationParams extends SamplerOptions {
  maxTokens: number;
  seed: number;
  stop: string[];
}

export type FinishReason = 'stop' | 'length';

export interface Sequence {
  readonly id: number;
  readonly promptTokens: number;
  readonly generated: number[];
  text: string;                       // text emitted so far (stop strings never included)
  finish: FinishReason | null;
  onText?: (delta: string) => void;
}

interface Active extends DraftingSequence {
  seq: Sequence; slot: number; params: GenerationParams; rng: Rng;
  next: number;                       // sampled, not yet fed back
  tokens: number[];                   // prompt and every token since, `next` last
  decoder: { push(id: number): string; flush(): string };
  pending: string;                    // decoded text held back while it could begin a stop string
}

/** Self-speculative decoding with the checkpoint's MTP module. */
export interface SpeculativeOptions {
  draftTokens: number;                // most tokens drafted per cycle (K ≥ 1; K > 1 chains the module)
  adaptive?: boolean;                 // default true: draft fewer, or none, when it does not pay (measured)
}

/** Acceptance of drafted tokens so far. */
export interface SpeculationStats {
  acceptance: number[];               // per draft position: drafts kept / drafts that reached that position
  acceptedPerStep: number | null;     // mean tokens a sequence gained per verify pass (kept drafts + 1)
  draftMs: number; verifyMs: number; acceptMs: number; // where the time went
}

export const DEFAULT_PARAMS: GenerationParams = { maxTokens: 128, temperature: 0, topK: 0, topP: 1, seed: 0, stop: [] };

export class Generator {
  private readonly active: Active[] = [];
  private readonly cache: LatentCache;
  private nextId = 0;
  private readonly eos: Set<number>;
  private readonly sampleVocab: number;  // ids past the tokenizer's vocabulary are padding rows: never sampled
  private readonly allowed: Uint8Array | undefined; // ids inside it that have no token (vocabulary gaps): never sampled

  private readonly drafter: Drafter | null = null;

  /** Room for `maxBatch` concurrent sequences of up to `context` tokens (prompt + completion) each. */
  constructor(readonly model: DeepSeekModel, readonly tokenizer: Tokenizer, readonly maxBatch: number, readonly context: number,
    opts: { speculative?: SpeculativeOptions } = {}) {
    const spec = opts.speculative;
    if (spec) {
      model.requireMtp();
      const K = spec.draftTokens;
      if (!Number.isInteger(K) || K < 1 || K > context - 2) {
        throw new Error(`draft tokens must be an integer from 1 to ${context - 2} (a verify pass of K drafts needs K + 2 positions of the ${context}-token context), got ${K}`);
      }
    }
    this.cache = model.newCache(maxBatch, context);
    this.eos = new Set(model.cfg.eosTokenId);
    this.sampleVocab = Math.min(model.cfg.vocabSize, tokenizer.vocabSize);
    const known = Uint8Array.from({ length: this.sampleVocab }, (_, id) => (tokenizer.idToToken(id) === undefined ? 0 : 1));
    this.allowed = known.includes(0) ? known : undefined;
    if (spec) {
      const policy = spec.adaptive === false ? new FixedDraft(spec.draftTokens) : AdaptiveDraft.of(model, spec.draftTokens);
      this.drafter = new Drafter(model, this.cache, spec.draftTokens, policy, this.allowed, this.sampleVocab);
    }
  }

  /** Acceptance and timing of speculation so far; null without it. */
  speculation(): SpeculationStats | null {
    const d = this.drafter;
    return d && { acceptance: d.stats.rates(), acceptedPerStep: d.stats.acceptedPerStep(), ...d.timing };
  }

  get running(): number { return this.active.length; }
  get hasRoom(): boolean { return this.active.length < this.maxBatch; }

  /** Prefills a prompt and samples its first token. Throws (naming the limit) when the prompt cannot fit. */
  add(prompt: readonly number[], params: GenerationParams, onText?: (delta: string) => void): Sequence {
    validateSampler(params);
    if (!Number.isInteger(params.maxTokens) || params.maxTokens < 1) throw new Error(`max tokens must be an integer ≥ 1, got ${params.maxTokens}`);
    if (prompt.length === 0) throw new Error('the prompt is empty');
    if (prompt.length + params.maxTokens > this.context) {
      throw new Error(`prompt (${prompt.length} tokens) + max tokens (${params.maxTokens}) exceed the context of ${this.context} tokens`);
    }
    if (!this.hasRoom) throw new Error(`all ${this.maxBatch} generation slots are busy`);
    const slot = this.cache.acquire();
    const seq: Sequence = { id: this.nextId++, promptTokens: prompt.length, generated: [], text: '', finish: null, onText };
    const s = new Scope(this.model.ctx.heap);
    try {
      const P = prompt.length, h = this.model.prefill(s, prompt, this.cache, slot);
      // Only the last row's logits are needed; the MTP module takes every row's normed state.
      const normed = this.model.norm(s, this.drafter ? h : rows(h, P - 1, 1), this.drafter ? P : 1);
      const last = f32(this.model.head(s, rows(normed, this.drafter ? P - 1 : 0, 1), 1)).subarray(0, this.sampleVocab);
      const a: Active = {
        seq, slot, params, rng: new Rng(params.seed), next: -1, tokens: [...prompt], budget: params.maxTokens, drafts: [], draftDists: [],
        decoder: this.tokenizer.streamDecoder({ skipSpecialTokens: true }), pending: '',
      };
      a.next = sampleToken(last, params, a.rng, this.allowed);
      a.tokens.push(a.next);
      this.drafter?.start(s, slot, normed, a.tokens, this.active.length + 1);
      this.active.push(a);
      this.accept(a);
    } catch (e) {
      this.cache.release(slot);
      throw e;
    } finally {
      s.release();
    }
    return seq;
  }

  /**
   * One batched step over every active sequence: a decode step, or with speculation a draft–verify cycle in which
   * each sequence gains one or more tokens.
   */
  step(): void {
    const live = this.active.filter((a) => a.seq.finish === null);
    if (live.length === 0) return;
    const t0 = performance.now();
    const d = this.drafter, V = this.model.cfg.vocabSize;
    const s = new Scope(this.model.ctx.heap);
    let drafted = 0;
    try {
      if (d) {
        const k = d.choose(live);
        if (k > 0) d.draft(s, live, k, this.context);
      }
      const t1 = performance.now();
      // The verify pass: each sequence's pending token, then its drafts, at consecutive positions.
      const tokens: number[] = [], slots: number[] = [], first: number[] = [];
      for (const a of live) {
        first.push(tokens.length);
        for (const t of [a.next, ...a.drafts]) { tokens.push(t); slots.push(a.slot); }
      }
      const cached = live.map((a) => this.cache.lengths[a.slot]);
      drafted = Math.max(0, ...live.map((a) => a.drafts.length));   // what this cycle really verified
      const h = this.model.decode(s, tokens, this.cache, slots);
      const normed = this.model.norm(s, h, tokens.length);
      const logits = f32(this.model.head(s, normed, tokens.length));
      const t2 = performance.now();
      live.forEach((a, i) => {
        const row = (j: number) => logits.subarray((first[i] + j) * V, (first[i] + j) * V + this.sampleVocab);
        const emitted = this.verify(a, row);
        const kept = emitted.length - 1;
        this.cache.lengths[a.slot] = cached[i] + kept + 1;    // rejected drafts' cache rows are dropped
        if (d) {
          d.stats.record(a.drafts.length, kept);
          d.policy.recordVerify(a.drafts.length, kept);
          d.keep(a.slot, rows(normed, first[i], kept + 1), kept + 1);
        }
        a.drafts = [];
        a.draftDists = [];
        for (const t of emitted) {
          a.next = t;
          a.tokens.push(t);
          a.budget--;
          this.accept(a);
          if (a.seq.finish !== null) break;
        }
      });
      if (d) {
        d.timing.verifyMs += t2 - t1;
        d.timing.acceptMs += performance.now() - t2;
      }
    } finally {
      s.release();
    }
    d?.policy.recordCycle(drafted, live.length, performance.now() - t0);
  }

  /** The tokens a sequence emits this step: its next token, or with drafts the kept ones plus the main model's own. */
  private verify(a: Active, row: (j: number) => Float32Array): number[] {
    const n = a.drafts.length;
    if (n === 0) return [sampleToken(row(0), a.params, a.rng, this.allowed)];
    if (a.params.temperature === 0) return verifyGreedy(Array.from({ length: n + 1 }, (_, j) => argmax(row(j), this.allowed)), a.drafts);
    const p = Array.from({ length: n + 1 }, (_, j) => tokenDistribution(row(j), a.params, this.allowed));
    return verifySampled(p, a.drafts, a.draftDists, a.rng);
  }

  /** Cancels a sequence (e.g. its client went away) and frees its slot. */
  cancel(seq: Sequence): void {
    const i = this.active.findIndex((a) => a.seq === seq);
    if (i < 0) return;
    if (seq.finish === null) seq.finish = 'stop';
    this.cache.release(this.active[i].slot);
    this.active.splice(i, 1);
  }

  /** Runs until every added sequence has finished. */
  runToCompletion(): void { while (this.active.length > 0) this.step(); }

  dispose(): void {
    this.drafter?.dispose();
    this.cache.dispose();
  }

  /** Records the sampled token: emits its text, checks EOS, stop strings and the token budget. */
  private accept(a: Active): void {
    const tok = a.next;
    if (this.eos.has(tok)) return this.finish(a, 'stop', true);
    a.seq.generated.push(tok);
    a.pending += a.decoder.push(tok);
    const stopAt = firstStop(a.pending, a.params.stop);
    if (stopAt >= 0) {
      this.emit(a, a.pending.slice(0, stopAt));
      a.pending = '';
      return this.finish(a, 'stop', false);
    }
    const keep = stopPrefixLength(a.pending, a.params.stop);
    this.emit(a, a.pending.slice(0, a.pending.length - keep));
    a.pending = a.pending.slice(a.pending.length - keep);
    if (a.seq.generated.length >= a.params.maxTokens) this.finish(a, 'length', true);
  }

  private emit(a: Active, text: string): void {
    if (!text) return;
    a.seq.text += text;
    a.seq.onText?.(text);
  }

  /** Ends a sequence; `flush` emits the text still held back (all of it unless a stop string appears in it). */
  private finish(a: Active, reason: FinishReason, flush: boolean): void {
    if (flush) {
      const rest = a.pending + a.decoder.flush();
      const stopAt = firstStop(rest, a.params.stop);
      this.emit(a, stopAt >= 0 ? rest.slice(0, stopAt) : rest);
    }
    a.seq.finish = reason;
    this.cancel(a.seq);
  }
}

function firstStop(text: string, stops: readonly string[]): number {
  let best = -1;
  for (const s of stops) {
    const i = s ? text.indexOf(s) : -1;
    if (i >= 0 && (best < 0 || i < best)) best = i;
  }
  return best;
}

/** Length of the longest suffix of `text` that is a proper prefix of some stop string (held back). */
function stopPrefixLength(text: string, stops: readonly string[]): number {
  let keep = 0;
  for (const s of stops) {
    for (let n = Math.min(s.length - 1, text.length); n > keep; n--) {
      if (text.endsWith(s.slice(0, n))) { keep = n; break; }
    }
  }
  return keep;
}
