// The DeepSeek-V3 causal LM: embedding → decoder layers (MLA + dense/MoE FFN) → norm → lm_head, with the latent
// cache for incremental decoding and the MTP modules. Model code only sequences backend ops; it never loops over
// tensor contents.

import { Heap } from '../tensor/heap.js';
import type { Tensor, Scope } from '../tensor/tensor.js';
import type { Backend } from '../kernels/backend.js';
import type { BackendOptions } from '../kernels/select.js';
import { createBackend } from '../kernels/select.js';
import type { ModelConfig } from './config.js';
import type { ModelContext } from './context.js';
import { makeContext } from './context.js';
import type { ModelWeights, LoadWeightsOptions } from './weights.js';
import { loadWeights, disposeWeights } from './weights.js';
import { blockForward } from './block.js';
import type { AttentionStep } from './mla.js';
import { mtpBlock, mtpHead } from './mtp.js';
import { LatentCache } from '../generate/latent-cache.js';
import { openCheckpoint } from './model-files.js';
import { autoThreads } from './threads.js';

/**
 * A backend instance (with the heap it was made for), or options to make one (default: wasm, all cores, one for a
 * model too small to share a decode step: threads.ts); and how the weights are held (loadWeights' options).
 */
export interface LoadOptions extends BackendOptions, LoadWeightsOptions { backend?: Backend; heap?: Heap }

export class DeepSeekModel {
  /** `ownsBackend`: dispose() also closes the backend (it was made by load()). */
  constructor(readonly ctx: ModelContext, readonly weights: ModelWeights, private readonly ownsBackend = false) {}

  /** `model`: a checkpoint folder or a deepseek2 GGUF file. */
  static load(model: string, opts: LoadOptions = {}): DeepSeekModel {
    if (opts.backend && !opts.heap) throw new Error('DeepSeekModel.load: a backend needs the heap it was made for (opts.heap)');
    const { cfg, store } = openCheckpoint(model);
    const heap = opts.heap ?? new Heap();
    let weights: ModelWeights;
    try {
      weights = loadWeights(cfg, store, heap, opts);
    } finally {
      store.close();
    }
    const backend = opts.backend ?? createBackend(heap, { ...opts, threads: opts.threads ?? autoThreads(cfg) });
    return new DeepSeekModel(makeContext(cfg, backend, heap), weights, !opts.backend);
  }

  get cfg(): ModelConfig { return this.ctx.cfg; }
  get hasMtp(): boolean { return this.weights.mtp.length > 0; }

  /** A latent cache for `slots` sequences of up to `capacity` tokens. */
  newCache(slots: number, capacity: number): LatentCache {
    const c = this.cfg;
    if (capacity > c.maxPositionEmbeddings) {
      throw new Error(`${capacity} tokens exceed max_position_embeddings (${c.maxPositionEmbeddings})`);
    }
    return new LatentCache(this.ctx.heap, c.numHiddenLayers, slots, capacity, c.kvLoraRank + c.qkRopeHeadDim);
  }

  private checkTokens(tokens: readonly number[]): void {
    const V = this.cfg.vocabSize;
    tokens.forEach((t, i) => {
      if (!Number.isInteger(t) || t < 0 || t >= V) throw new Error(`token id ${t} at position ${i} is outside the vocabulary (0..${V - 1})`);
    });
  }

  private run(s: Scope, tokens: readonly number[], cache: LatentCache, step: AttentionStep): Tensor {
    const b = this.ctx.backend, D = this.cfg.hiddenSize, T = tokens.length;
    const h = s.tensor([T, D]);
    b.embedding(h, s.i32(tokens), this.weights.embed, T, D);
    this.weights.layers.forEach((w, i) => blockForward(this.ctx, s, h, w, cache.pools[i], step));
    return h;
  }

  /**
   * Runs T new tokens of the sequence in `slot` after the ones already cached (prefill), appending to the cache.
   * Returns the last decoder layer's output BEFORE model.norm, [T, D].
   */
  prefill(s: Scope, tokens: readonly number[], cache: LatentCache, slot: number): Tensor {
    this.checkTokens(tokens);
    const h = this.run(s, tokens, cache, this.prefillStep(s, cache, slot, tokens.length));
    cache.lengths[slot] += tokens.length;
    return h;
  }

  /** Positions and cache rows for T new tokens of the sequence in `slot` after its cached ones; checks room. */
  private prefillStep(s: Scope, cache: LatentCache, slot: number, T: number): AttentionStep {
    const past = cache.lengths[slot], start = cache.start(slot);
    if (past + T > this.cfg.maxPositionEmbeddings) {
      throw new Error(`sequence of ${past + T} tokens exceeds max_position_embeddings (${this.cfg.maxPositionEmbeddings})`);
    }
    cache.reserve(slot, T);
    const positions = s.i32(Array.from({ length: T }, (_, i) => past + i));
    const cacheRows = s.i32(Array.from({ length: T }, (_, i) => start + past + i));
    return { T, positions, cacheRows, mode: { kind: 'prefill', poolStart: start, past } };
  }

  /**
   * One decode step through the absorbed latent cache: row i feeds tokens[i] to the sequence in slots[i]. A slot may
   * take several rows (a verify pass of speculative decoding): its j-th row sits j positions after what the cache
   * held, and attends to the rows before it. Returns [rows, D] (before model.norm).
   */
  decode(s: Scope, tokens: readonly number[], cache: LatentCache, slots: readonly number[]): Tensor {
    this.checkTokens(tokens);
    if (tokens.length !== slots.length) throw new Error('decode: one slot per token');
    const step = this.decodeStep(s, cache, slots);
    const h = this.run(s, tokens, cache, step);
    for (const slot of slots) cache.lengths[slot] += 1;
    return h;
  }

  /** Positions, cache rows and visible lengths for decode rows of `slots` (repeats allowed, in order); checks room. */
  private decodeStep(s: Scope, cache: LatentCache, slots: readonly number[]): AttentionStep {
    const seen = new Map<number, number>();
    const past = slots.map((slot) => {
      const j = seen.get(slot) ?? 0;
      seen.set(slot, j + 1);
      return cache.lengths[slot] + j;
    });
    for (const [slot, n] of seen) {
      const len = cache.lengths[slot] + n;
      if (len > this.cfg.maxPositionEmbeddings) throw new Error(`sequence of ${len} tokens exceeds max_position_embeddings (${this.cfg.maxPositionEmbeddings})`);
      cache.reserve(slot, n);
    }
    const positions = s.i32(past);
    const cacheRows = s.i32(slots.map((slot, i) => cache.start(slot) + past[i]));
    const rows = { start: s.i32(slots.map((slot) => cache.start(slot))), length: s.i32(past.map((p) => p + 1)) };
    return { T: slots.length, positions, cacheRows, mode: { kind: 'decode', rows } };
  }

  /** model.norm(h) [T, D]: the state that feeds lm_head and the first MTP module. */
  norm(s: Scope, h: Tensor, T: number): Tensor {
    const D = this.cfg.hiddenSize, n = s.tensor([T, D]);
    this.ctx.backend.rmsnorm(n, h, this.weights.norm, T, D, this.cfg.rmsNormEps);
    return n;
  }

  /** lm_head(n) [T, V] for normed states n [T, D]. */
  head(s: Scope, n: Tensor, T: number): Tensor {
    const out = s.tensor([T, this.cfg.vocabSize]);
    this.ctx.backend.matmul(out, n, this.weights.head, T, this.cfg.hiddenSize, this.cfg.vocabSize);
    return out;
  }

  /** logits [T, V] = lm_head(norm(h)). */
  logits(s: Scope, h: Tensor, T: number): Tensor {
    return this.head(s, this.norm(s, h, T), T);
  }

  /** Throws, naming what is missing, unless the checkpoint has an MTP module. */
  requireMtp(): void {
    if (this.hasMtp) return;
    const L = this.cfg.numHiddenLayers;
    throw new Error(this.cfg.numNextnPredictLayers === 0
      ? 'this checkpoint has no MTP module: config.json num_nextn_predict_layers is 0'
      : `this checkpoint has no MTP module: config.json sets num_nextn_predict_layers = ${this.cfg.numNextnPredictLayers} but the model.layers.${L}.* tensors are absent`);
  }

  /**
   * A latent cache for drafting with the first MTP module (which every draft depth chains, as SGLang does), with the
   * slots and capacity of `main`: row i holds the module's latent at input position i.
   */
  newMtpCache(main: LatentCache): LatentCache {
    this.requireMtp();
    const c = this.cfg;
    return new LatentCache(this.ctx.heap, 1, main.slots, main.capacity, c.kvLoraRank + c.qkRopeHeadDim);
  }

  /**
   * The first MTP module over T new input positions of `slot` (after those its cache holds), as one prefill:
   * normed [T, D] the previous stage's states, next the token after each position. Returns the output after
   * shared_head.norm [T, D].
   */
  mtpPrefill(s: Scope, normed: Tensor, next: readonly number[], cache: LatentCache, slot: number): Tensor {
    this.checkTokens(next);
    const n = mtpBlock(this.ctx, s, this.weights.mtp[0], normed, next, cache.pools[0], this.prefillStep(s, cache, slot, next.length));
    cache.lengths[slot] += next.length;
    return n;
  }

  /** The first MTP module's decode step: rows as in decode(), over the MTP cache. Returns its output after shared_head.norm. */
  mtpDecode(s: Scope, normed: Tensor, next: readonly number[], cache: LatentCache, slots: readonly number[]): Tensor {
    this.checkTokens(next);
    const n = mtpBlock(this.ctx, s, this.weights.mtp[0], normed, next, cache.pools[0], this.decodeStep(s, cache, slots));
    for (const slot of slots) cache.lengths[slot] += 1;
    return n;
  }

  /** Draft logits [T, V] of the first MTP module from its normed output n [T, D]. */
  mtpLogitsOf(s: Scope, n: Tensor, T: number): Tensor {
    return mtpHead(this.ctx, s, this.weights.mtp[0], n, T);
  }

  /**
   * First MTP module's logits [T-1, V] over a whole sequence: `normed` [T, D] is model.norm of the main model's last
   * hidden states, tokens the T input ids (row i predicts token i+2).
   */
  mtpLogits(s: Scope, normed: Tensor, tokens: readonly number[]): Tensor {
    this.requireMtp();
    const T = tokens.length - 1;
    if (T < 1) throw new Error('mtp: needs at least 2 tokens');
    const c = this.cfg, cache = new LatentCache(this.ctx.heap, 1, 1, T, c.kvLoraRank + c.qkRopeHeadDim);
    try {
      return this.mtpLogitsOf(s, this.mtpPrefill(s, normed, tokens.slice(1), cache, cache.acquire()), T);
    } finally {
      cache.dispose();
    }
  }

  /** Frees the weights, and the backend's threads if load() made it. */
  async dispose(): Promise<void> {
    disposeWeights(this.weights);
    for (const arena of this.weights.arenas) this.ctx.backend.forgetHeap?.(arena);
    if (this.ownsBackend) await this.ctx.backend.close?.();
  }
}
