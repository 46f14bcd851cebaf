// Reference MLA attention: the naive prefill form (keys/values expanded by kv_b_proj) and the absorbed decode form
// that works directly on the latent cache. Both must give the same outputs; test/generate checks that they do.

import type { Tensor } from '../../tensor/tensor.js';
import { f32, i32 } from '../../tensor/tensor.js';
import type { CacheRows } from '../backend.js';
import { rowReader } from './weights.js';

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
