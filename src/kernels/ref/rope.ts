// Reference rotary embedding on a sub-range of each head, and the MLA latent-cache append (norm + rope + write).
// Interleaved pairs (2i, 2i+1) rotate with frequency i; half-split pairs (i, i + dr/2) when spec.interleaved is false.
// The backward of the rotation (its transpose) sits at the end; the cache append has none (training uses no cache).

import type { Tensor } from '../../tensor/tensor.js';
import { f32, i32 } from '../../tensor/tensor.js';
import type { RopeSpec } from '../../model/rope.js';
import { rmsnorm } from './elementwise.js';

/** Turns each pair of the rope sub-vector at `base` by `sign`·angle (sign −1: the transpose), times mscale. */
function rotate(a: Float32Array, base: number, pos: number, spec: RopeSpec, dr: number, sign: 1 | -1 = 1): void {
  const half = dr / 2;
  for (let i = 0; i < half; i++) {
    const angle = pos * spec.invFreq[i];
    const cos = Math.cos(angle) * spec.mscale, sin = sign * Math.sin(angle) * spec.mscale;
    const j0 = spec.interleaved ? base + 2 * i : base + i;
    const j1 = spec.interleaved ? j0 + 1 : j0 + half;
    const x0 = a[j0], x1 = a[j1];
    a[j0] = x0 * cos - x1 * sin;
    a[j1] = x1 * cos + x0 * sin;
  }
}

export function rope(x: Tensor, positions: Tensor, spec: RopeSpec, T: number, H: number, stride: number, offset: number, dr: number): void {
  const a = f32(x), pos = i32(positions);
  for (let t = 0; t < T; t++) {
    for (let h = 0; h < H; h++) rotate(a, (t * H + h) * stride + offset, pos[t], spec, dr);
  }
}

export function latentCacheWrite(pool: Tensor, rows: Tensor, kva: Tensor, positions: Tensor, normW: Tensor, eps: number,
  spec: RopeSpec, T: number, R: number, dr: number): void {
  const p = f32(pool), k = f32(kva), r = i32(rows), pos = i32(positions);
  const W = R + dr;
  const poolRows = pool.shape[0];
  for (let t = 0; t < T; t++) {
    if (r[t] < 0 || r[t] >= poolRows) throw new Error(`latent cache: row ${r[t]} outside the pool of ${poolRows} rows`);
    const dst = { ...pool, ptr: pool.ptr + r[t] * W * 4, shape: [1, W], owner: false };
    const src = { ...kva, ptr: kva.ptr + t * W * 4, shape: [1, W], owner: false };
    rmsnorm(dst, src, normW, 1, R, eps);
    for (let j = 0; j < dr; j++) p[r[t] * W + R + j] = k[t * W + R + j];
    rotate(p, r[t] * W + R, pos[t], spec, dr);
  }
}

/**
 * Backward of `rope`, IN PLACE like the forward (not accumulating): on entry dx holds ∂L/∂(rotated x), on exit
 * ∂L/∂x. Each pair is multiplied by the transposed rotation, mscale·R(−angle); elements outside the rope
 * sub-range are left as they are (their gradient passes through). Same arguments as `rope`.
 */
export function ropeBackward(dx: Tensor, positions: Tensor, spec: RopeSpec, T: number, H: number, stride: number, offset: number, dr: number): void {
  const a = f32(dx), pos = i32(positions);
  for (let t = 0; t < T; t++) {
    for (let h = 0; h < H; h++) rotate(a, (t * H + h) * stride + offset, pos[t], spec, dr, -1);
  }
}
