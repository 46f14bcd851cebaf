// The DeepSeek-V3 causal LM: embedding → decoder layers (MLA + dense/MoE FFN) → norm → lm_head, with the latent
// cache for incremental decoding and the MTP modules. Model code only sequences backend ops; it never loops over
// tensor contents.

import * as fs from 'node:fs';
import * as path from 'node:path';
import { Heap } from '../tensor/heap.js';
import type { Tensor, Scope } from '../tensor/tensor.js';
import type { Backend } from '../kernels/backend.js';
import type { BackendOptions } from '../kernels/select.js';
import { createBackend } from '../kernels/select.js';
import type { ModelConfig } from './config.js';
import { parseConfig } from './config.js';
import type { ModelContext } from './context.js';
import { makeContext } from './context.js';
import type { ModelWeights } from './weights.js';
import { loadWeights, disposeWeights } from './weights.js';
import { blockForward } from './block.js';
import type { AttentionStep } from './mla.js';
import { mtpForward } from './mtp.js';
import { LatentCache } from '../generate/latent-cache.js';
import { WeightStore } from '../weights/shards.js';
import { parseJson } from '../util/json.js';

/** A backend instance (with the heap it was made for), or options to make one (default: wasm, all cores). */
export interface LoadOptions extends BackendOptions { backend?: Backend; heap?: Heap }

export function readConfig(dir: string): ModelConfig {
  const file = path.join(dir, 'config.json');
  let text: string;
  try { text = fs.readFileSync(file, 'utf8'); } catch { throw new Error(`${file}: cannot read (is --model a checkpoint folder?)`); }
  return parseConfig(parseJson(text, `${file}: invalid JSON`), file);
}

export class DeepSeekModel {
  /** `ownsBackend`: dispose() also closes the backend (it was made by load()). */
  constructor(readonly ctx: ModelContext, readonly weights: ModelWeights, private readonly ownsBackend = false) {}

  static load(dir: string, opts: LoadOptions = {}): DeepSeekModel {
    if (opts.backend && !opts.heap) throw new Error('DeepSeekModel.load: a backend needs the heap it was made for (opts.heap)');
    const cfg = readConfig(dir);
    const heap = opts.heap ?? new Heap();
    const store = WeightStore.open(dir);
    let weights: ModelWeights;
    try {
      weights = loadWeights(cfg, store, heap);
    } finally {
      store.close();
    }
    const backend = opts.backend ?? createBackend(heap, opts);
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
    const T = tokens.length, past = cache.lengths[slot], start = cache.start(slot);
    if (past + T > this.cfg.maxPositionEmbeddings) {
      throw new Error(`sequence of ${past + T} tokens exceeds max_position_embeddings (${this.cfg.maxPositionEmbeddings})`);
    }
    cache.reserve(slot, T);
    const positions = s.i32(Array.from({ length: T }, (_, i) => past + i));
    const cacheRows = s.i32(Array.from({ length: T }, (_, i) => start + past + i));
    const h = this.run(s, tokens, cache, { T, positions, cacheRows, mode: { kind: 'prefill', poolStart: start, past } });
    cache.lengths[slot] += T;
    return h;
  }

  /** One decode step for B sequences (one new token each) through the absorbed latent cache. Returns [B, D]. */
  decode(s: Scope, tokens: readonly number[], cache: LatentCache, slots: readonly number[]): Tensor {
    this.checkTokens(tokens);
    if (tokens.length !== slots.length) throw new Error('decode: one token per slot');
    const past = slots.map((slot) => cache.lengths[slot]);
    past.forEach((p, i) => {
      if (p + 1 > this.cfg.maxPositionEmbeddings) throw new Error(`sequence of ${p + 1} tokens exceeds max_position_embeddings (${this.cfg.maxPositionEmbeddings})`);
      cache.reserve(slots[i], 1);
    });
    const B = tokens.length;
    const positions = s.i32(past);
    const cacheRows = s.i32(slots.map((slot, i) => cache.start(slot) + past[i]));
    const rows = { start: s.i32(slots.map((slot) => cache.start(slot))), length: s.i32(past.map((p) => p + 1)) };
    const h = this.run(s, tokens, cache, { T: B, positions, cacheRows, mode: { kind: 'decode', rows } });
    for (const slot of slots) cache.lengths[slot] += 1;
    return h;
  }

  /** logits [T, V] = lm_head(norm(h)). */
  logits(s: Scope, h: Tensor, T: number): Tensor {
    const b = this.ctx.backend, D = this.cfg.hiddenSize, V = this.cfg.vocabSize;
    const n = s.tensor([T, D]), out = s.tensor([T, V]);
    b.rmsnorm(n, h, this.weights.norm, T, D, this.cfg.rmsNormEps);
    b.matmul(out, n, this.weights.head, T, D, V);
    return out;
  }

  /** First MTP module's logits [T-1, V] for the T tokens whose pre-norm hidden states are hPre. */
  mtpLogits(s: Scope, hPre: Tensor, tokens: readonly number[]): Tensor {
    if (!this.hasMtp) throw new Error('this checkpoint has no MTP module (num_nextn_predict_layers is 0 or its tensors are absent)');
    return mtpForward(this.ctx, s, this.weights.mtp[0], hPre, tokens).logits;
  }

  /** Frees the weights, and the backend's threads if load() made it. */
  async dispose(): Promise<void> {
    disposeWeights(this.weights);
    if (this.ownsBackend) await this.ctx.backend.close?.();
  }
}
