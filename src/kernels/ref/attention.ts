// Reference MLA attention: the naive prefill form (keys/values expanded by kv_b_proj) and the absorbed decode form
// that works directly on the latent cache. Both must give the same outputs; test/generate checks that they do.
// Training adds a causal, cache-free form over contiguous k_rope and its backward (at the end).

import type { Tensor } from '../../tensor/tensor.js';
import { f32, i32 } from '../../tensor/tensor.js';
import type { CacheRows } from '../backend.js';
import { rowReader } from './weights.js';
import { gradF32 } from './elementwise.js';

function softmaxInPlace(s: Float64Array, n: number): void {
  let max = -Infinity;
  for (let i = 0; i < n; i++) if (s[i] > max) max = s[i];
  let sum = 0;
  for (let i = 0; i < n; i++) { s[i] = Math.exp(s[i] - max); sum += s[i]; }
  for (let i = 0; i < n; i++) s[i] /= sum;
}

export function mlaAttention(out: Tensor, q: Tensor, kv: Tensor, pool: Tensor, poolStart: number,
  T: number, S: number, past: number, H: number, dn: number, dr: number, dv: number, R: number, scale: number): void {
  const o = f32(out), qa = f32(q), kva = f32(kv), p = f32(pool);
  const dq = dn + dr, dkv = dn + dv, W = R + dr;
  const s = new Float64Array(S);
  for (let t = 0; t < T; t++) {
    const visible = past + t + 1;
    for (let h = 0; h < H; h++) {
      const qb = (t * H + h) * dq;
      for (let j = 0; j < visible; j++) {
        const kb = (j * H + h) * dkv, rb = (poolStart + j) * W + R;
        let acc = 0;
        for (let d = 0; d < dn; d++) acc += qa[qb + d] * kva[kb + d];
        for (let d = 0; d < dr; d++) acc += qa[qb + dn + d] * p[rb + d];
        s[j] = acc * scale;
      }
      softmaxInPlace(s, visible);
      const ob = (t * H + h) * dv;
      for (let d = 0; d < dv; d++) {
        let acc = 0;
        for (let j = 0; j < visible; j++) acc += s[j] * kva[(j * H + h) * dkv + dn + d];
        o[ob + d] = acc;
      }
    }
  }
}

export function mlaAbsorbQuery(qLat: Tensor, q: Tensor, kvB: Tensor, B: number, H: number, dn: number, dr: number, dv: number, R: number): void {
  const o = f32(qLat), qa = f32(q);
  const read = rowReader(kvB, R);
  const row = new Float32Array(R);
  const acc = new Float64Array(B * H * R);
  for (let h = 0; h < H; h++) {
    for (let n = 0; n < dn; n++) {
      read(h * (dn + dv) + n, row);
      for (let b = 0; b < B; b++) {
        const coef = qa[(b * H + h) * (dn + dr) + n];
        const ob = (b * H + h) * R;
        for (let r = 0; r < R; r++) acc[ob + r] += coef * row[r];
      }
    }
  }
  o.set(acc);
}

export function mlaLatentAttention(ctx: Tensor, qLat: Tensor, q: Tensor, pool: Tensor, rows: CacheRows,
  B: number, H: number, dn: number, dr: number, R: number, scale: number): void {
  const c = f32(ctx), ql = f32(qLat), qa = f32(q), p = f32(pool);
  const start = i32(rows.start), len = i32(rows.length);
  const W = R + dr;
  for (let b = 0; b < B; b++) {
    const S = len[b];
    const s = new Float64Array(S);
    for (let h = 0; h < H; h++) {
      const lb = (b * H + h) * R, qb = (b * H + h) * (dn + dr) + dn;
      for (let j = 0; j < S; j++) {
        const pb = (start[b] + j) * W;
        let acc = 0;
        for (let r = 0; r < R; r++) acc += ql[lb + r] * p[pb + r];
        for (let d = 0; d < dr; d++) acc += qa[qb + d] * p[pb + R + d];
        s[j] = acc * scale;
      }
      softmaxInPlace(s, S);
      for (let r = 0; r < R; r++) {
        let acc = 0;
        for (let j = 0; j < S; j++) acc += s[j] * p[(start[b] + j) * W + r];
        c[lb + r] = acc;
      }
    }
  }
}

export function mlaAbsorbOutput(out: Tensor, ctx: Tensor, kvB: Tensor, B: number, H: number, dn: number, dv: number, R: number): void {
  const o = f32(out), c = f32(ctx);
  const read = rowReader(kvB, R);
  const row = new Float32Array(R);
  for (let h = 0; h < H; h++) {
    for (let j = 0; j < dv; j++) {
      read(h * (dn + dv) + dn + j, row);
      for (let b = 0; b < B; b++) {
        const cb = (b * H + h) * R;
        let acc = 0;
        for (let r = 0; r < R; r++) acc += c[cb + r] * row[r];
        o[(b * H + h) * dv + j] = acc;
      }
    }
  }
}

// ---- Training: causal MLA attention over one sequence in the contiguous layout (no cache), and its backward.

/** score[j] = scale·(q[t,h,:dn]·kv[j,h,:dn] + q[t,h,dn:]·kRope[j]) for j ≤ t, softmaxed in place: s[0..t] = p. */
function trainProbabilities(s: Float64Array, qa: Float32Array, kva: Float32Array, kr: Float32Array, t: number, h: number,
  H: number, dn: number, dr: number, dv: number, scale: number): void {
  const qb = (t * H + h) * (dn + dr);
  for (let j = 0; j <= t; j++) {
    const kb = (j * H + h) * (dn + dv), rb = j * dr;
    let acc = 0;
    for (let d = 0; d < dn; d++) acc += qa[qb + d] * kva[kb + d];
    for (let d = 0; d < dr; d++) acc += qa[qb + dn + d] * kr[rb + d];
    s[j] = acc * scale;
  }
  softmaxInPlace(s, t + 1);
}

/**
 * Causal MLA attention for training: query t attends to keys 0..t of the same T tokens (the prefill
 * `mlaAttention` with past = 0, but with k_rope as its own contiguous tensor instead of pool rows).
 * out [T, H·dv], q [T, H·(dn+dr)] (rope part already rotated), kv [T, H·(dn+dv)] = [k_nope | v] per head,
 * kRope [T, dr] (rotated, shared by all heads).
 */
export function mlaTrainAttention(out: Tensor, q: Tensor, kv: Tensor, kRope: Tensor,
  T: number, H: number, dn: number, dr: number, dv: number, scale: number): void {
  const o = f32(out), qa = f32(q), kva = f32(kv), kr = f32(kRope);
  const dkv = dn + dv;
  const p = new Float64Array(T);
  for (let t = 0; t < T; t++) {
    for (let h = 0; h < H; h++) {
      trainProbabilities(p, qa, kva, kr, t, h, H, dn, dr, dv, scale);
      const ob = (t * H + h) * dv;
      for (let d = 0; d < dv; d++) {
        let acc = 0;
        for (let j = 0; j <= t; j++) acc += p[j] * kva[(j * H + h) * dkv + dn + d];
        o[ob + d] = acc;
      }
    }
  }
}

/**
 * Backward of `mlaTrainAttention`, recomputing the probabilities p. ACCUMULATES into dq, dkv and dkRope.
 * Per (t, h), with g = dout[t, h]:  dp_j = g·v_j,  dz_j = scale·p_j·(dp_j − Σ_i p_i·dp_i)  (z = the score), then
 *   dq[t,h,:dn] += Σ_j dz_j·k_nope[j,h]   dq[t,h,dn:] += Σ_j dz_j·kRope[j]
 *   dkv[j,h,:dn] += dz_j·q[t,h,:dn]       dkv[j,h,dn:] += p_j·g       dkRope[j] += dz_j·q[t,h,dn:] (summed over heads)
 * dq [T, H·(dn+dr)], dkv [T, H·(dn+dv)], dkRope [T, dr] (all f32), dout [T, H·dv]; q, kv, kRope as in the forward.
 */
export function mlaTrainAttentionBackward(dq: Tensor, dkv: Tensor, dkRope: Tensor, dout: Tensor, q: Tensor, kv: Tensor, kRope: Tensor,
  T: number, H: number, dn: number, dr: number, dv: number, scale: number): void {
  const name = 'mlaTrainAttentionBackward';
  const dqa = gradF32(dq, name, 'dq'), dkva = gradF32(dkv, name, 'dkv'), dkr = gradF32(dkRope, name, 'dkRope');
  const g = f32(dout), qa = f32(q), kva = f32(kv), kr = f32(kRope);
  const QW = dn + dr, KW = dn + dv;
  const accQ = new Float64Array(T * H * QW), accKV = new Float64Array(T * H * KW), accR = new Float64Array(T * dr);
  const p = new Float64Array(T), dp = new Float64Array(T);
  for (let t = 0; t < T; t++) {
    for (let h = 0; h < H; h++) {
      trainProbabilities(p, qa, kva, kr, t, h, H, dn, dr, dv, scale);
      const gb = (t * H + h) * dv, qb = (t * H + h) * QW;
      let pdp = 0;
      for (let j = 0; j <= t; j++) {
        const vb = (j * H + h) * KW + dn;
        let acc = 0;
        for (let d = 0; d < dv; d++) {
          acc += g[gb + d] * kva[vb + d];
          accKV[vb + d] += p[j] * g[gb + d];
        }
        dp[j] = acc;
        pdp += p[j] * acc;
      }
      for (let j = 0; j <= t; j++) {
        const z = scale * p[j] * (dp[j] - pdp);
        const kb = (j * H + h) * KW, rb = j * dr;
        for (let d = 0; d < dn; d++) {
          accQ[qb + d] += z * kva[kb + d];
          accKV[kb + d] += z * qa[qb + d];
        }
        for (let d = 0; d < dr; d++) {
          accQ[qb + dn + d] += z * kr[rb + d];
          accR[rb + d] += z * qa[qb + dn + d];
        }
      }
    }
  }
  for (let i = 0; i < accQ.length; i++) dqa[i] += accQ[i];
  for (let i = 0; i < accKV.length; i++) dkva[i] += accKV[i];
  for (let i = 0; i < accR.length; i++) dkr[i] += accR[i];
}
