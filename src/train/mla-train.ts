// MLA for training: the forward keeps what its backward needs (no cache; causal attention per sequence), and the
// backward accumulates parameter gradients and returns ∂L/∂x. Same math as model/mla.ts's prefill path.
// Shapes: N = B·T rows, D model dim, H heads, R kv_lora_rank, dn/dr/dv head dims, qr q_lora_rank.

import type { Tensor } from '../tensor/tensor.js';
import { rows } from '../tensor/tensor.js';
import type { AttentionWeights } from '../model/weights.js';
import { LORA_NORM_EPS } from '../model/context.js';
import { qHeadDim } from '../model/config.js';
import type { TrainStep } from './context.js';
import { rowsOf } from './context.js';

export interface MlaTape { x: Tensor; qa: Tensor | null; qan: Tensor | null; q: Tensor; lat: Tensor; c: Tensor; kr: Tensor; kv: Tensor; att: Tensor }

function dims(st: TrainStep) {
  const c = st.ctx.cfg;
  return { D: c.hiddenSize, H: c.numAttentionHeads, R: c.kvLoraRank, dn: c.qkNopeHeadDim, dr: c.qkRopeHeadDim, dv: c.vHeadDim, dq: qHeadDim(c), qr: c.qLoraRank };
}

/** out [N, D] = MLA(x [N, D]). */
export function mlaTrainForward(st: TrainStep, out: Tensor, x: Tensor, w: AttentionWeights): MlaTape {
  const { ctx, bw, s, B, T } = st;
  const b = ctx.backend, N = rowsOf(st);
  const { D, H, R, dn, dr, dv, dq, qr } = dims(st);
  const q = s.tensor([N, H * dq]);
  let qa: Tensor | null = null, qan: Tensor | null = null;
  if (qr === null) {
    b.matmul(q, x, w.q!, N, D, H * dq);
  } else {
    qa = s.tensor([N, qr]); qan = s.tensor([N, qr]);
    b.matmul(qa, x, w.qA!, N, D, qr);
    b.rmsnorm(qan, qa, w.qANorm!, N, qr, LORA_NORM_EPS);
    b.matmul(q, qan, w.qB!, N, qr, H * dq);
  }
  b.rope(q, st.positions, ctx.rope, N, H, dq, dn, dr);
  const kva = s.tensor([N, R + dr]), lat = s.tensor([N, R]), kr = s.tensor([N, dr]), c = s.tensor([N, R]);
  b.matmul(kva, x, w.kvA, N, D, R + dr);
  bw.concatBackward(lat, kr, kva, N, R, dr); // split [latent | k_rope] (zeroed targets, so += is a copy)
  b.rmsnorm(c, lat, w.kvANorm, N, R, LORA_NORM_EPS);
  b.rope(kr, st.positions, ctx.rope, N, 1, dr, 0, dr);
  const kv = s.tensor([N, H * (dn + dv)]), att = s.tensor([N, H * dv]);
  b.matmul(kv, c, w.kvB, N, R, H * (dn + dv));
  for (let i = 0; i < B; i++) {
    bw.mlaTrainAttention(rows(att, i * T, T), rows(q, i * T, T), rows(kv, i * T, T), rows(kr, i * T, T), T, H, dn, dr, dv, ctx.attnScale);
  }
  b.matmul(out, att, w.o, N, H * dv, D);
  return { x, qa, qan, q, lat, c, kr, kv, att };
}

/** Accumulates weight gradients into `g` and ∂L/∂x into dx, from dout [N, D]. */
export function mlaTrainBackward(st: TrainStep, dx: Tensor, dout: Tensor, w: AttentionWeights, g: AttentionWeights, t: MlaTape): void {
  const { ctx, bw, s, B, T } = st;
  const N = rowsOf(st);
  const { D, H, R, dn, dr, dv, dq, qr } = dims(st);
  const datt = s.tensor([N, H * dv]);
  bw.matmulBackward(datt, g.o, dout, t.att, w.o, N, H * dv, D);
  const dq_ = s.tensor([N, H * dq]), dkv = s.tensor([N, H * (dn + dv)]), dkr = s.tensor([N, dr]);
  for (let i = 0; i < B; i++) {
    bw.mlaTrainAttentionBackward(rows(dq_, i * T, T), rows(dkv, i * T, T), rows(dkr, i * T, T), rows(datt, i * T, T),
      rows(t.q, i * T, T), rows(t.kv, i * T, T), rows(t.kr, i * T, T), T, H, dn, dr, dv, ctx.attnScale);
  }
  const dc = s.tensor([N, R]), dlat = s.tensor([N, R]), dkva = s.tensor([N, R + dr]);
  bw.matmulBackward(dc, g.kvB, dkv, t.c, w.kvB, N, R, H * (dn + dv));
  bw.ropeBackward(dkr, st.positions, ctx.rope, N, 1, dr, 0, dr);
  bw.rmsnormBackward(dlat, g.kvANorm, dc, t.lat, w.kvANorm, N, R, LORA_NORM_EPS);
  ctx.backend.concat(dkva, dlat, dkr, N, R, dr);
  bw.matmulBackward(dx, g.kvA, dkva, t.x, w.kvA, N, D, R + dr);
  bw.ropeBackward(dq_, st.positions, ctx.rope, N, H, dq, dn, dr);
  if (qr === null) {
    bw.matmulBackward(dx, g.q, dq_, t.x, w.q!, N, D, H * dq);
  } else {
    const dqan = s.tensor([N, qr]), dqa = s.tensor([N, qr]);
    bw.matmulBackward(dqan, g.qB, dq_, t.qan!, w.qB!, N, qr, H * dq);
    bw.rmsnormBackward(dqa, g.qANorm!, dqan, t.qa!, w.qANorm!, N, qr, LORA_NORM_EPS);
    bw.matmulBackward(dx, g.qA, dqa, t.x, w.qA!, N, D, qr);
  }
}
