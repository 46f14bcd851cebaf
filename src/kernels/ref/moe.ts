// Reference routed-expert dispatch: tokens are grouped by expert, each expert runs once as a matmul over its
// tokens (gate, up, SiLU·mul, down), and the results are scatter-added back with the gate weights.

import type { Tensor } from '../../tensor/tensor.js';
import { f32, i32, empty, dispose } from '../../tensor/tensor.js';
import type { ExpertBank } from '../backend.js';
import { matmul } from './matmul.js';
import { siluMul } from './elementwise.js';

/** For each expert, the (token, slot) pairs routed to it, in token order. */
export function groupByExpert(experts: Int32Array, T: number, K: number, E: number): number[][] {
  const groups: number[][] = Array.from({ length: E }, () => []);
  for (let i = 0; i < T * K; i++) {
    const e = experts[i];
    if (e < 0 || e >= E) throw new Error(`moe: expert index ${e} out of range (0..${E - 1})`);
    groups[e].push(i);
  }
  return groups;
}

export function moe(out: Tensor, x: Tensor, experts: Tensor, weights: Tensor, bank: ExpertBank, T: number, D: number, I: number, K: number): void {
  const o = f32(out), xa = f32(x), w = f32(weights);
  const groups = groupByExpert(i32(experts), T, K, bank.gate.length);
  const acc = new Float64Array(T * D);
  for (let e = 0; e < groups.length; e++) {
    const slots = groups[e];
    const n = slots.length;
    if (n === 0) continue;
    const heap = out.heap;
    const xs = empty(heap, [n, D]), g = empty(heap, [n, I]), u = empty(heap, [n, I]), y = empty(heap, [n, D]);
    try {
      const xsa = f32(xs);
      slots.forEach((slot, j) => { const t = (slot / K) | 0; xsa.set(xa.subarray(t * D, t * D + D), j * D); });
      matmul(g, xs, bank.gate[e], n, D, I);
      matmul(u, xs, bank.up[e], n, D, I);
      siluMul(g, g, u, n * I);
      matmul(y, g, bank.down[e], n, I, D);
      const ya = f32(y);
      slots.forEach((slot, j) => {
        const t = (slot / K) | 0, wt = w[slot];
        for (let d = 0; d < D; d++) acc[t * D + d] += wt * ya[j * D + d];
      });
    } finally {
      for (const tmp of [y, u, g, xs]) dispose(tmp);
    }
  }
  o.set(acc);
}
