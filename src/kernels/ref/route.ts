// The MoE router as one pure function over plain arrays: scores → group limit → top-k → gate weights.
// DeepSeek-V3 (noaux_tc): sigmoid scores; selection uses score + bias, a group is scored by the sum of its top-2,
// experts outside the kept groups count as 0 (as HF does); weights are the UNBIASED scores of the chosen experts,
// normalised if norm_topk_prob, then times routed_scaling_factor.
// DeepSeek-V2: softmax scores, greedy or group_limited_greedy (group = max score); weights are normalised when
// norm_topk_prob and K > 1, and otherwise scaled by routed_scaling_factor (DeepSeek-V2's own rule).
// Ties everywhere: the lower index wins.
// routeBackward (at the end) differentiates the gate weights at a fixed selection, for training.

import type { Tensor } from '../../tensor/tensor.js';
import { f32, i32 } from '../../tensor/tensor.js';
import { vectorAsF32 } from './weights.js';
import { gradF32 } from './elementwise.js';
import type { RouterSpec } from '../backend.js';

export interface Routing { experts: Int32Array; weights: Float64Array }

/** Indices of the k largest values (descending; equal values: lower index first). */
export function topKIndices(values: ArrayLike<number>, k: number): number[] {
  const idx = Array.from({ length: values.length }, (_, i) => i);
  idx.sort((a, b) => (values[b] - values[a]) || (a - b));
  return idx.slice(0, k);
}

function scoresOf(logits: ArrayLike<number>, base: number, E: number, scoring: RouterSpec['scoring']): Float64Array {
  const s = new Float64Array(E);
  if (scoring === 'sigmoid') {
    for (let e = 0; e < E; e++) s[e] = 1 / (1 + Math.exp(-logits[base + e]));
    return s;
  }
  let max = -Infinity;
  for (let e = 0; e < E; e++) max = Math.max(max, logits[base + e]);
  let sum = 0;
  for (let e = 0; e < E; e++) { s[e] = Math.exp(logits[base + e] - max); sum += s[e]; }
  for (let e = 0; e < E; e++) s[e] /= sum;
  return s;
}

/** Routes T tokens. logits [T, E]; bias [E] or null. Returns experts [T, K] and weights [T, K]. */
export function routeTokens(logits: ArrayLike<number>, bias: ArrayLike<number> | null, spec: RouterSpec, T: number): Routing {
  const { nExperts: E, topK: K, nGroup: G, topkGroup } = spec;
  const perGroup = E / G;
  const experts = new Int32Array(T * K);
  const weights = new Float64Array(T * K);
  for (let t = 0; t < T; t++) {
    const s = scoresOf(logits, t * E, E, spec.scoring);
    const choice = Float64Array.from(s, (v, e) => (spec.method === 'noaux_tc' && bias ? v + bias[e] : v));
    if (spec.method !== 'greedy' && G > 1) {
      const groupScore = new Float64Array(G);
      for (let g = 0; g < G; g++) {
        const members = choice.subarray(g * perGroup, (g + 1) * perGroup);
        if (spec.method === 'noaux_tc') {
          const [a, b] = topKIndices(members, 2);
          groupScore[g] = members[a] + members[b];
        } else {
          groupScore[g] = members[topKIndices(members, 1)[0]];
        }
      }
      const kept = new Set(topKIndices(groupScore, topkGroup));
      for (let e = 0; e < E; e++) if (!kept.has((e / perGroup) | 0)) choice[e] = 0;
    }
    const chosen = topKIndices(choice, K);
    let sum = 0;
    for (const e of chosen) sum += s[e];
    const normalise = spec.normTopkProb && (spec.method === 'noaux_tc' || K > 1);
    const scale = spec.method === 'noaux_tc' || !normalise ? spec.scalingFactor : 1;
    chosen.forEach((e, k) => {
      experts[t * K + k] = e;
      weights[t * K + k] = (normalise ? s[e] / (sum + 1e-20) : s[e]) * scale;
    });
  }
  return { experts, weights };
}

export function route(experts: Tensor, weights: Tensor, logits: Tensor, bias: Tensor | null, spec: RouterSpec, T: number): void {
  const r = routeTokens(f32(logits), bias ? vectorAsF32(bias, spec.nExperts) : null, spec, T);
  i32(experts).set(r.experts);
  f32(weights).set(r.weights);
}

/**
 * Backward of the gate weights at a FIXED selection. ACCUMULATES into dlogits [T, E] (f32).
 * The selection (bias, group limit, top-k) is constant; the bias gets no gradient. With s the unbiased scores,
 * c the scale and Z = Σ_k s_{e_k} + 1e-20 over the chosen experts (the same rule as routeTokens):
 *   normalised:  w_k = c·s_{e_k}/Z  →  ∂L/∂s_{e_k} = c·(dw_k/Z − Σ_i dw_i·s_{e_i}/Z²)
 *   otherwise:   w_k = c·s_{e_k}    →  ∂L/∂s_{e_k} = c·dw_k        (∂L/∂s = 0 for unchosen experts)
 * then through the scores: sigmoid ds/dz = s(1 − s) (chosen experts only); softmax couples every logit:
 *   dz_e = s_e·(∂L/∂s_e − Σ_i s_i·∂L/∂s_i).
 * dweights [T, K] = ∂L/∂weights, logits [T, E] (the forward's input), experts i32 [T, K] (the forward's choice).
 */
export function routeBackward(dlogits: Tensor, dweights: Tensor, logits: Tensor, experts: Tensor, spec: RouterSpec, T: number): void {
  const { nExperts: E, topK: K } = spec;
  const dz = gradF32(dlogits, 'routeBackward', 'dlogits'), dw = f32(dweights), z = f32(logits), ex = i32(experts);
  const normalise = spec.normTopkProb && (spec.method === 'noaux_tc' || K > 1);
  const scale = spec.method === 'noaux_tc' || !normalise ? spec.scalingFactor : 1;
  const ds = new Float64Array(E);
  for (let t = 0; t < T; t++) {
    const s = scoresOf(z, t * E, E, spec.scoring);
    ds.fill(0);
    let sum = 0, dot = 0;
    for (let k = 0; k < K; k++) {
      const e = ex[t * K + k];
      if (e < 0 || e >= E) throw new Error(`routeBackward: expert index ${e} out of range (0..${E - 1})`);
      sum += s[e];
      dot += dw[t * K + k] * s[e];
    }
    const Z = sum + 1e-20;
    for (let k = 0; k < K; k++) {
      const e = ex[t * K + k];
      ds[e] += normalise ? scale * (dw[t * K + k] / Z - dot / (Z * Z)) : scale * dw[t * K + k];
    }
    if (spec.scoring === 'sigmoid') {
      for (let e = 0; e < E; e++) if (ds[e] !== 0) dz[t * E + e] += ds[e] * s[e] * (1 - s[e]);
    } else {
      let sds = 0;
      for (let e = 0; e < E; e++) sds += s[e] * ds[e];
      for (let e = 0; e < E; e++) dz[t * E + e] += s[e] * (ds[e] - sds);
    }
  }
}
