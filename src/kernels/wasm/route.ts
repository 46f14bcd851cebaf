// The fast backend's router: the reference rule of ref/route.ts (scores → group limit → top-k → gate weights) without
// its per-token arrays and sorts — scores in one reused buffer, selections by repeated arg-max (largest first, lower
// index on ties, exactly as the reference's sort orders them). Plain TypeScript on the calling thread, not wasm: it
// must use the same Math.exp as the reference to select the same experts bit for bit, and a token's work (E scores,
// K picks) is far below what a pool call costs. Leaves out: the backward (ref/route.ts's routeBackward).

import type { Tensor } from '../../tensor/tensor.js';
import { f32, i32 } from '../../tensor/tensor.js';
import { vectorAsF32 } from '../ref/weights.js';
import type { RouterSpec } from '../backend.js';

/** Index of the largest value of v[from, to) not yet taken (taken[i] = 1); equal values: the lower index. */
function argmaxFree(v: Float64Array, taken: Uint8Array, from: number, to: number): number {
  let best = -1;
  for (let i = from; i < to; i++) if (!taken[i] && (best < 0 || v[i] > v[best])) best = i;
  return best;
}

export function createRouter(): (experts: Tensor, weights: Tensor, logits: Tensor, bias: Tensor | null, spec: RouterSpec, T: number) => void {
  let s = new Float64Array(0), choice = new Float64Array(0), taken = new Uint8Array(0), groupScore = new Float64Array(0), groupTaken = new Uint8Array(0);

  return function route(experts, weights, logits, bias, spec, T) {
    const { nExperts: E, topK: K, nGroup: G, topkGroup } = spec;
    if (s.length < E) { s = new Float64Array(E); choice = new Float64Array(E); taken = new Uint8Array(E); }
    if (groupScore.length < G) { groupScore = new Float64Array(G); groupTaken = new Uint8Array(G); }
    const z = f32(logits), b = bias ? vectorAsF32(bias, E) : null;
    const ex = i32(experts), wt = f32(weights);
    const perGroup = E / G;
    const biased = spec.method === 'noaux_tc' && b !== null;
    const grouped = spec.method !== 'greedy' && G > 1;
    const normalise = spec.normTopkProb && (spec.method === 'noaux_tc' || K > 1);
    const scale = spec.method === 'noaux_tc' || !normalise ? spec.scalingFactor : 1;

    for (let t = 0; t < T; t++) {
      const base = t * E;
      if (spec.scoring === 'sigmoid') {
        for (let e = 0; e < E; e++) s[e] = 1 / (1 + Math.exp(-z[base + e]));
      } else {
        let max = -Infinity;
        for (let e = 0; e < E; e++) max = Math.max(max, z[base + e]);
        let sum = 0;
        for (let e = 0; e < E; e++) { s[e] = Math.exp(z[base + e] - max); sum += s[e]; }
        for (let e = 0; e < E; e++) s[e] /= sum;
      }
      for (let e = 0; e < E; e++) choice[e] = biased ? s[e] + b![e] : s[e];
      taken.fill(0, 0, E);
      if (grouped) {
        for (let g = 0; g < G; g++) {
          const from = g * perGroup, to = from + perGroup;
          const a = argmaxFree(choice, taken, from, to);
          if (spec.method === 'noaux_tc') {
            taken[a] = 1;
            groupScore[g] = choice[a] + choice[argmaxFree(choice, taken, from, to)];
            taken.fill(0, from, to);
          } else {
            groupScore[g] = choice[a];
          }
        }
        groupTaken.fill(0, 0, G);
        for (let k = 0; k < topkGroup; k++) groupTaken[argmaxFree(groupScore, groupTaken, 0, G)] = 1;
        for (let e = 0; e < E; e++) if (!groupTaken[(e / perGroup) | 0]) choice[e] = 0;
      }
      let sum = 0;
      for (let k = 0; k < K; k++) {
        const e = argmaxFree(choice, taken, 0, E);
        taken[e] = 1;
        ex[t * K + k] = e;
        sum += s[e];
      }
      for (let k = 0; k < K; k++) {
        const e = ex[t * K + k];
        wt[t * K + k] = (normalise ? s[e] / (sum + 1e-20) : s[e]) * scale;
      }
    }
  };
}
