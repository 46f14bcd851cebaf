// Where a trained model sends its tokens: the router's choices recorded on held-out text, as expert loads per MoE
// layer, and the two numbers the balance experiments report from them — MaxVio (Loss-Free Balancing: the most loaded
// expert's excess over the balanced load) and a specialization score (how far each genre's load is from the overall
// load, as KL divergence). Leaves out the training-time loads (the trainer's metrics carry MaxVio_batch per step).

import type { Backend } from '../kernels/backend.js';
import type { DeepSeekModel } from '../model/transformer.js';
import { DeepSeekModel as Model } from '../model/transformer.js';
import { makeContext } from '../model/context.js';
import { Scope, i32 } from '../tensor/tensor.js';

/** Counts of routed slots per expert, one row per MoE layer of the main model (MTP layers are left out). */
export type LayerLoads = Float64Array[];

/**
 * Expert loads of `model` over `windows` (token id sequences, each run through a fresh prefill): counts[layer][e] =
 * how many of the windows' (token, k) slots the layer's router gave to expert e. Runs the model on a twin that shares
 * its weights and whose backend records every routing decision; the model itself is left as it was.
 */
export function expertLoads(model: DeepSeekModel, windows: readonly (readonly number[])[]): LayerLoads {
  const cfg = model.cfg, E = cfg.nRoutedExperts;
  const moeLayers = model.weights.layers.filter((l) => l.ffn.kind === 'moe').length;
  const loads: LayerLoads = Array.from({ length: moeLayers }, () => new Float64Array(E));
  if (moeLayers === 0) return loads;
  let call = 0;
  const inner = model.ctx.backend;
  const recording: Backend = {
    ...inner,
    route(experts, weights, logits, bias, spec, T) {
      inner.route(experts, weights, logits, bias, spec, T);
      const chosen = i32(experts), counts = loads[call % moeLayers]!;
      for (let i = 0; i < T * spec.topK; i++) counts[chosen[i]!]! += 1;
      call += 1;
    },
  };
  // Not disposed: dispose() would free the shared weights.
  const twin = new Model(makeContext(cfg, recording, model.ctx.heap), model.weights);
  for (const tokens of windows) {
    const s = new Scope(model.ctx.heap);
    const cache = twin.newCache(1, tokens.length);
    try {
      twin.prefill(s, tokens, cache, cache.acquire());
    } finally {
      cache.dispose();
      s.release();
    }
  }
  if (call !== windows.length * moeLayers) throw new Error(`expertLoads: ${call} routing calls for ${windows.length} windows × ${moeLayers} MoE layers`);
  return loads;
}

/** MaxVio = (max_e load_e − mean load) / mean load; 0 for perfectly balanced (or empty) loads. */
export function maxViolation(counts: ArrayLike<number>): number {
  let sum = 0, max = 0;
  for (let e = 0; e < counts.length; e++) { sum += counts[e]!; max = Math.max(max, counts[e]!); }
  if (sum === 0) return 0;
  const mean = sum / counts.length;
  return (max - mean) / mean;
}

/** KL(p ‖ q) in nats of two count vectors, each normalised to sum 1 (0·log 0 = 0; q_e = 0 where p_e > 0 gives ∞). */
export function klDivergence(p: ArrayLike<number>, q: ArrayLike<number>): number {
  let sp = 0, sq = 0;
  for (let e = 0; e < p.length; e++) { sp += p[e]!; sq += q[e]!; }
  let kl = 0;
  for (let e = 0; e < p.length; e++) {
    if (p[e]! === 0) continue;
    kl += (p[e]! / sp) * Math.log((p[e]! / sp) / (q[e]! / sq));
  }
  return kl;
}

/**
 * Specialization: for each layer, the mean over genres of KL(genre's load ‖ overall load), the overall load being
 * the sum over the genres; then the mean over layers. 0 when every genre is routed alike.
 * byGenre[g][layer] are the counts of genre g.
 */
export function specialization(byGenre: readonly LayerLoads[]): number {
  if (byGenre.length === 0 || byGenre[0]!.length === 0) return NaN;
  const layers = byGenre[0]!.length;
  let total = 0;
  for (let l = 0; l < layers; l++) {
    const overall = new Float64Array(byGenre[0]![l]!.length);
    for (const g of byGenre) g[l]!.forEach((c, e) => { overall[e]! += c; });
    total += byGenre.reduce((sum, g) => sum + klDivergence(g[l]!, overall), 0) / byGenre.length;
  }
  return total / layers;
}

/** counts / balanced load, per expert (the heat maps' unit: 1 = the load a perfectly balanced router gives). */
export function relativeLoad(counts: ArrayLike<number>): number[] {
  let sum = 0;
  for (let e = 0; e < counts.length; e++) sum += counts[e]!;
  const balanced = sum / counts.length;
  return Array.from(counts, (c) => (balanced === 0 ? 0 : c / balanced));
}
