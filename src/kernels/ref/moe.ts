// Reference routed-expert dispatch: tokens are grouped by expert, each expert runs once as a matmul over its
// tokens (gate, up, SiLU·mul, down), and the results are scatter-added back with the gate weights.
// The backward (at the end) follows the same grouping; the router's part is routeBackward in route.ts.

import type { Tensor } from '../../tensor/tensor.js';
import { f32, i32, empty, dispose, Scope } from '../../tensor/tensor.js';
import type { ExpertBank } from '../backend.js';
import { matmul, matmulBackward } from './matmul.js';
import { siluMul, siluMulBackward, gradF32 } from './elementwise.js';

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

type MatmulFn = (out: Tensor, x: Tensor, w: Tensor, T: number, C: number, OC: number) => void;
type SiluMulFn = (out: Tensor, gate: Tensor, up: Tensor, n: number) => void;

/** Copies the token rows of `slots` (flat (t, k) indices) from x [T, D] into xs [n, D]. */
function gatherSlots(xs: Tensor, x: Tensor, slots: readonly number[], K: number, D: number): void {
  const xa = f32(x), xsa = f32(xs);
  slots.forEach((slot, j) => { const t = (slot / K) | 0; xsa.set(xa.subarray(t * D, t * D + D), j * D); });
}

/** Expert e over its gathered rows xs [n, D]: g = gate(xs), u = up(xs), a = silu(g)·u (a may be g), y = down(a). */
function runExpert(mm: MatmulFn, bank: ExpertBank, e: number, xs: Tensor, g: Tensor, u: Tensor, a: Tensor, y: Tensor, n: number, D: number, I: number,
  silu: SiluMulFn = siluMul): void {
  mm(g, xs, bank.gate[e], n, D, I);
  mm(u, xs, bank.up[e], n, D, I);
  silu(a, g, u, n * I);
  mm(y, a, bank.down[e], n, I, D);
}

/**
 * The routed-expert forward over a given matmul kernel (the reference one here; the wasm backend passes its own, so
 * the grouped expert matmuls run on the fast path while this gather/scatter stays the single definition), and
 * optionally a faster SiLU·mul (the precision simulation passes its backend's).
 */
export function moeWith(mm: MatmulFn, silu: SiluMulFn = siluMul) {
  return function moe(out: Tensor, x: Tensor, experts: Tensor, weights: Tensor, bank: ExpertBank, T: number, D: number, I: number, K: number): void {
    const groups = groupByExpert(i32(experts), T, K, bank.gate.length);
    const acc = new Float64Array(T * D);
    for (let e = 0; e < groups.length; e++) {
      const slots = groups[e];
      const n = slots.length;
      if (n === 0) continue;
      const heap = out.heap;
      const xs = empty(heap, [n, D]), g = empty(heap, [n, I]), u = empty(heap, [n, I]), y = empty(heap, [n, D]);
      try {
        gatherSlots(xs, x, slots, K, D);
        runExpert(mm, bank, e, xs, g, u, g, y, n, D, I, silu);
        const ya = f32(y), w = f32(weights);
        slots.forEach((slot, j) => {
          const t = (slot / K) | 0, wt = w[slot];
          for (let d = 0; d < D; d++) acc[t * D + d] += wt * ya[j * D + d];
        });
      } finally {
        for (const tmp of [y, u, g, xs]) dispose(tmp);
      }
    }
    f32(out).set(acc);
  };
}

export const moe = moeWith(matmul);

/**
 * Backward of `moe`, grouped by expert like the forward (each expert's gate/up/SiLU·mul/down activations are
 * recomputed over its tokens). ACCUMULATES into dx, dweights and dbank. For a slot (t, k) routed to expert e,
 * with y = expert_e(x[t]):  dweights[t, k] += dout[t]·y,  and the expert is back-propagated with dy = weights[t, k]·dout[t].
 * dx [T, D], dweights [T, K], dbank: f32 gradients shaped like bank (E × [I, D], [I, D], [D, I]); an expert with
 * no tokens receives nothing. dout [T, D]; x, experts, weights, bank as in the forward.
 */
type MatmulBackwardFn = (dx: Tensor | null, dw: Tensor | null, dout: Tensor, x: Tensor, w: Tensor, T: number, C: number, OC: number) => void;

/** The MoE backward over given matmul kernels (the wasm backend passes its own; this stays the one definition). */
export function moeBackwardWith(mm: MatmulFn, mmBackward: MatmulBackwardFn) {
  return function moeBackward(dx: Tensor, dweights: Tensor, dbank: ExpertBank, dout: Tensor, x: Tensor, experts: Tensor, weights: Tensor,
    bank: ExpertBank, T: number, D: number, I: number, K: number): void {
    const E = bank.gate.length;
    if (dbank.gate.length !== E || dbank.up.length !== E || dbank.down.length !== E) {
      throw new Error(`moeBackward: dbank holds ${dbank.gate.length}/${dbank.up.length}/${dbank.down.length} gate/up/down gradients for ${E} experts`);
    }
    for (const [part, ts] of [['gate', dbank.gate], ['up', dbank.up], ['down', dbank.down]] as const) {
      ts.forEach((t, e) => gradF32(t, 'moeBackward', `dbank.${part}[${e}]`));
    }
    const dxa = gradF32(dx, 'moeBackward', 'dx'), dwa = gradF32(dweights, 'moeBackward', 'dweights');
    const g = f32(dout), w = f32(weights);
    const groups = groupByExpert(i32(experts), T, K, E);
    const accX = new Float64Array(T * D), accW = new Float64Array(T * K);
    const s = new Scope(dout.heap);
    try {
      for (let e = 0; e < E; e++) {
        const slots = groups[e];
        const n = slots.length;
        if (n === 0) continue;
        const xs = s.tensor([n, D]), gt = s.tensor([n, I]), ut = s.tensor([n, I]), a = s.tensor([n, I]), y = s.tensor([n, D]);
        const dy = s.tensor([n, D]), da = s.tensor([n, I]), dg = s.tensor([n, I]), du = s.tensor([n, I]), dxs = s.tensor([n, D]);
        gatherSlots(xs, x, slots, K, D);
        runExpert(mm, bank, e, xs, gt, ut, a, y, n, D, I);
        const ya = f32(y), dya = f32(dy);
        slots.forEach((slot, j) => {
          const t = (slot / K) | 0;
          let dot = 0;
          for (let d = 0; d < D; d++) {
            dot += g[t * D + d] * ya[j * D + d];
            dya[j * D + d] = w[slot] * g[t * D + d];
          }
          accW[slot] += dot;
        });
        mmBackward(da, dbank.down[e], dy, a, bank.down[e], n, I, D);
        siluMulBackward(dg, du, da, gt, ut, n * I);
        mmBackward(dxs, dbank.gate[e], dg, xs, bank.gate[e], n, D, I);
        mmBackward(dxs, dbank.up[e], du, xs, bank.up[e], n, D, I);
        const dxsa = f32(dxs);
        slots.forEach((slot, j) => {
          const t = (slot / K) | 0;
          for (let d = 0; d < D; d++) accX[t * D + d] += dxsa[j * D + d];
        });
        s.release();
      }
    } finally {
      s.release();
    }
    for (let i = 0; i < T * D; i++) dxa[i] += accX[i];
    for (let i = 0; i < T * K; i++) dwa[i] += accW[i];
  };
}

export const moeBackward = moeBackwardWith(matmul, matmulBackward);
