// The generation loop: each sequence is prefilled on its own, then every step decodes all active sequences together
// through the latent cache (one batched forward), samples each one's next token and streams its text. Sequences
// finish on EOS, a stop string or max tokens, and leave at once, freeing their cache slot for new arrivals
// (continuous batching). Leaves out: HTTP and scheduling policy (server/), speculative decoding.

import type { DeepSeekModel } from '../model/transformer.js';
import type { Tokenizer } from '../tokenizer/bpe.js';
import { Scope, f32 } from '../tensor/tensor.js';
import type { LatentCache } from './latent-cache.js';
import type { SamplerOptions } from './sampler.js';
import { sampleToken, validateSampler } from './sampler.js';
import { Rng } from '../util/random.js';

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

interface Active {
  seq: Sequence; slot: number; params: GenerationParams; rng: Rng;
  next: number;                       // sampled, not yet fed back
  decoder: { push(id: number): string; flush(): string };
  pending: string;                    // decoded text held back while it could begin a stop string
}

export const DEFAULT_PARAMS: GenerationParams = { maxTokens: 128, temperature: 0, topK: 0, topP: 1, seed: 0, stop: [] };

export class Generator {
  private readonly active: Active[] = [];
  private readonly cache: LatentCache;
  private nextId = 0;
  private readonly eos: Set<number>;
  private readonly sampleVocab: number;  // ids past the tokenizer's vocabulary are padding rows: never sampled
  private readonly allowed: Uint8Array | undefined; // ids inside it that have no token (vocabulary gaps): never sampled

  /** Room for `maxBatch` concurrent sequences of up to `context` tokens (prompt + completion) each. */
  constructor(readonly model: DeepSeekModel, readonly tokenizer: Tokenizer, readonly maxBatch: number, readonly context: number) {
    this.cache = model.newCache(maxBatch, context);
    this.eos = new Set(model.cfg.eosTokenId);
    this.sampleVocab = Math.min(model.cfg.vocabSize, tokenizer.vocabSize);
    const known = Uint8Array.from({ length: this.sampleVocab }, (_, id) => (tokenizer.idToToken(id) === undefined ? 0 : 1));
    this.allowed = known.includes(0) ? known : undefined;
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
      const h = this.model.prefill(s, prompt, this.cache, slot);
      const last = f32(this.model.logits(s, rowOf(h, prompt.length - 1, this.model.cfg.hiddenSize), 1)).subarray(0, this.sampleVocab);
      const a: Active = { seq, slot, params, rng: new Rng(params.seed), next: -1, decoder: this.tokenizer.streamDecoder({ skipSpecialTokens: true }), pending: '' };
      a.next = sampleToken(last, params, a.rng, this.allowed);
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

  /** One batched decode step over every active sequence. */
  step(): void {
    const live = this.active.filter((a) => a.seq.finish === null);
    if (live.length === 0) return;
    const s = new Scope(this.model.ctx.heap);
    try {
      const h = this.model.decode(s, live.map((a) => a.next), this.cache, live.map((a) => a.slot));
      const logits = f32(this.model.logits(s, h, live.length));
      const V = this.model.cfg.vocabSize;
      live.forEach((a, i) => {
        a.next = sampleToken(logits.subarray(i * V, i * V + this.sampleVocab), a.params, a.rng, this.allowed);
        this.accept(a);
      });
    } finally {
      s.release();
    }
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

  dispose(): void { this.cache.dispose(); }

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

function rowOf<T extends { ptr: number; shape: readonly number[] }>(h: T, row: number, D: number): T {
  return { ...h, ptr: h.ptr + row * D * 4, shape: [1, D], owner: false };
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
