// Expert-load statistics and the balance losses of DeepSeekMoE training (paper §2.1.2–2.1.3):
//   f_i = N_r/(K_r·T)·Σ_t 1[i ∈ topK(t)],  P_i = (1/T)·Σ_t s'_{i,t},  L = α·Σ_i f_i·P_i,
// s' = the scores normalised over all experts (sigmoid scores / their sum; softmax scores as they are).
// Over one sequence this is the complementary sequence-wise loss; over a whole batch, the classic expert-level loss.
// f is a count (no gradient); the gradient flows through P into the router logits. f counts the experts the router
// chose (by the biased scores, within the kept groups), i.e. the load the balance is about; the paper writes Topk(s).

import type { Tensor } from '../../tensor/tensor.js';
import { f32, i32 } from '../../tensor/tensor.js';
import type { RouterSpec } from '../backend.js';
import { gradF32 } from './elementwise.js';

/** counts[e] += number of (t, k) slots routed to expert e. counts f32 [E], experts i32 [T, K]. */
export function expertCounts(counts: Tensor, experts: Tensor, T: number, K: number, E: number): void {
  const c = gradF32(counts, 'expertCounts', 'counts'), ex = i32(experts);
  for (let i = 0; i < T * K; i++) {
    if (ex[i] < 0 || ex[i] >= E) throw new Error(`expertCounts: expert index ${ex[i]} out of range (0..${E - 1})`);
    c[ex[i]] += 1;
  }
}

function normalisedScores(logits: Float32Array, t: number, spec: RouterSpec): Float64Array {
  const E = spec.nExperts, s = new Float64Array(E);
  let sum = 0;
  if (spec.scoring === 'sigmoid') {
    for (let e = 0; e < E; e++) { s[e] = 1 / (1 + Math.exp(-logits[t * E + e])); sum += s[e]; }
  } else {
    let max = -Infinity;
    for (let e = 0; e < E; e++) max = Math.max(max, logits[t * E + e]);
    for (let e = 0; e < E; e++) { s[e] = Math.exp(logits[t * E + e] - max); sum += s[e]; }
  }
  for (let e = 0; e < E; e++) s[e] /= sum;
  return s;
}

/**
 * Returns α·Σ_i f_i·P_i over the T rows given, and (if dlogits) accumulates dlogits [T, E] += dscale·∂L/∂logits.
 * logits [T, E] router logits, experts i32 [T, K] the chosen experts.
 */
export function balanceLoss(dlogits: Tensor | null, logits: Tensor, experts: Tensor, spec: RouterSpec, T: number, alpha: number, dscale: number): number {
  const E = spec.nExperts, K = spec.topK, lg = f32(logits), ex = i32(experts);
  const f = new Float64Array(E);
  for (let i = 0; i < T * K; i++) f[ex[i]] += E / (K * T);
  const P = new Float64Array(E), scores: Float64Array[] = [];
  for (let t = 0; t < T; t++) {
    const s = normalisedScores(lg, t, spec);
    scores.push(s);
    for (let e = 0; e < E; e++) P[e] += s[e] / T;
  }
  let loss = 0;
  for (let e = 0; e < E; e++) loss += f[e] * P[e];
  if (dlogits) {
    const d = gradF32(dlogits, 'balanceLoss', 'dlogits');
    for (let t = 0; t < T; t++) {
      const s = scores[t];
      // ∂L/∂s'_e = α·f_e/T; through s' = normalise(s): ∂L/∂u_j = Σ_e ∂L/∂s'_e·∂s'_e/∂u_j.
      let dot = 0;
      for (let e = 0; e < E; e++) dot += (alpha * f[e] / T) * s[e];
      if (spec.scoring === 'softmax') {
        // s' = softmax(logits): ∂/∂logit_j = s'_j·(g_j − Σ_e g_e s'_e)
        for (let j = 0; j < E; j++) d[t * E + j] += dscale * s[j] * (alpha * f[j] / T - dot);
      } else {
        // s' = σ/Σσ: ∂s'_e/∂σ_j = (δ_ej − s'_e)/Σσ, and ∂σ_j/∂logit_j = σ_j(1 − σ_j)
        const sig = (j: number) => 1 / (1 + Math.exp(-lg[t * E + j]));
        let sum = 0;
        for (let j = 0; j < E; j++) sum += sig(j);
        for (let j = 0; j < E; j++) {
          const sj = sig(j);
          d[t * E + j] += dscale * ((alpha * f[j] / T - dot) / sum) * sj * (1 - sj);
        }
      }
    }
  }
  return alpha * loss;
}
