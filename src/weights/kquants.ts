// ggml's K-quant super-blocks Q4_K and Q6_K (256 values each), as GGUF files store them: dequantizers that give the
// float32 values of ggml's dequantize_row_q4_K / dequantize_row_q6_K bit for bit, and ports of its reference
// quantizers quantize_row_q4_K_ref / quantize_row_q6_K_ref, which make test fixtures (no export type writes K-quants).
// Leaves out tensors and rows (quantize.ts walks rows and calls these per block run).
//
// Layouts (ggml-common.h), little-endian:
//   block_q4_K, 144 bytes: f16 d, f16 dmin, u8 scales[12], u8 qs[128]. Eight sub-blocks of 32 values, each with a
//     6-bit scale sc and a 6-bit min m (packed below); value = d·sc·q − dmin·m, q a 4-bit code. Sub-blocks 2g and
//     2g+1 share qs[32g .. 32g+32): 2g in the low nibbles, 2g+1 in the high ones.
//   block_q6_K, 210 bytes: u8 ql[128], u8 qh[64], i8 scales[16], f16 d. Sixteen sub-blocks of 16 values, each with
//     a signed 8-bit scale; value = d·scale·(q − 32), q a 6-bit code: its low 4 bits in ql, its high 2 bits in qh.
//
// Float32 throughout as the C code computes it. The dequantizers need no rounding steps of their own: every product
// is exact in float32 (an f16's 11 significant bits times Q4_K's 6-bit scale and 4-bit code, or times Q6_K's scale
// and code, at most 2047·127·31 < 2^24), and the one rounding left, Q4_K's subtraction of dmin·m, happens where the
// result is stored into a Float32Array, so fused multiply-adds could not change it either. The
// quantizers round after every operation (Math.fround), as C does without fused multiply-adds (gcc -std=c11); a
// compiler that fuses a·b + c may pick other codes in rare ties, and either way the blocks decode the same way.

import { f16ToF32, f32ToF16 } from './dtypes.js';

export const QK_K = 256;
export const Q4_K_BYTES = 144;
export const Q6_K_BYTES = 210;

const f = Math.fround;
const F16_MAX = 65504;
const GROUP_MAX_EPS = f(1e-15);

function readF16(src: Uint8Array, at: number): number { return f16ToF32(src[at] | (src[at + 1] << 8)); }

/**
 * Sub-block j's (scale, min) from the 12 packed bytes s of a Q4_K block (ggml's get_scale_min_k4):
 * j < 4: the low 6 bits of s[j] and s[j+4]; j ≥ 4: the low / high nibble of s[j+4] for the low 4 bits, and the top
 * 2 bits of s[j−4] (scale) and of s[j] (min) for the high 2.
 */
export function q4kScaleMin(s: Uint8Array, at: number, j: number): [number, number] {
  if (j < 4) return [s[at + j] & 63, s[at + j + 4] & 63];
  return [(s[at + j + 4] & 0xf) | ((s[at + j - 4] >> 6) << 4), (s[at + j + 4] >> 4) | ((s[at + j] >> 6) << 4)];
}

/** Decodes dst.length values (a multiple of 256) from the Q4_K blocks at src[at ..]. */
export function dequantizeQ4_K(src: Uint8Array, at: number, dst: Float32Array): void {
  for (let b = 0, o = at; b < dst.length; b += QK_K, o += Q4_K_BYTES) {
    const d = readF16(src, o), dmin = readF16(src, o + 2);
    for (let g = 0; g < 4; g++) {
      const [sc1, m1] = q4kScaleMin(src, o + 4, 2 * g), [sc2, m2] = q4kScaleMin(src, o + 4, 2 * g + 1);
      const d1 = d * sc1, min1 = dmin * m1, d2 = d * sc2, min2 = dmin * m2;
      const q = o + 16 + 32 * g, y = b + 64 * g;
      for (let l = 0; l < 32; l++) {
        dst[y + l] = d1 * (src[q + l] & 0xf) - min1;
        dst[y + 32 + l] = d2 * (src[q + l] >> 4) - min2;
      }
    }
  }
}

/**
 * Decodes dst.length values (a multiple of 256) from the Q6_K blocks at src[at ..]. Each half of 128 values uses
 * ql[64h ..], qh[32h ..] and scales[8h ..]; value l + 32k (k = 0..3) of a half takes its low bits from ql[l] (k = 0, 2:
 * low / high nibble) or ql[l+32] (k = 1, 3), its high bits from qh[l] >> 2k, and scale 2k + l/16.
 */
export function dequantizeQ6_K(src: Uint8Array, at: number, dst: Float32Array): void {
  for (let b = 0, o = at; b < dst.length; b += QK_K, o += Q6_K_BYTES) {
    const d = readF16(src, o + 208);
    for (let h = 0; h < 2; h++) {
      const ql = o + 64 * h, qh = o + 128 + 32 * h, sc = o + 192 + 8 * h, y = b + 128 * h;
      for (let l = 0; l < 32; l++) {
        const lo = src[ql + l], lo2 = src[ql + l + 32], hi = src[qh + l], is = l >> 4;
        dst[y + l] = d * ((src[sc + is] << 24) >> 24) * (((lo & 0xf) | ((hi & 3) << 4)) - 32);
        dst[y + l + 32] = d * ((src[sc + is + 2] << 24) >> 24) * (((lo2 & 0xf) | (((hi >> 2) & 3) << 4)) - 32);
        dst[y + l + 64] = d * ((src[sc + is + 4] << 24) >> 24) * (((lo >> 4) | (((hi >> 4) & 3) << 4)) - 32);
        dst[y + l + 96] = d * ((src[sc + is + 6] << 24) >> 24) * (((lo2 >> 4) | (((hi >> 6) & 3) << 4)) - 32);
      }
    }
  }
}

// ---- Reference quantizers: ports of ggml's quantize_row_q4_K_ref / quantize_row_q6_K_ref.

/** ggml's nearest_int: round to nearest, ties to even, of a float32 of magnitude below 2^22. */
function nearestInt(v: number): number { return f(v + 12582912) - 12582912; }

function checkFinite(x: Float32Array, where: string): void {
  for (let i = 0; i < x.length; i++) if (!Number.isFinite(x[i])) throw new Error(`${where}: non-finite value ${x[i]} at column ${i}`);
}

function putF16(dst: Uint8Array, at: number, v: number, where: string, col: number): void {
  if (Math.abs(v) > F16_MAX) throw new Error(`${where}: the block at column ${col} needs a scale of ${v}, beyond f16's range`);
  const h = f32ToF16(v);
  dst[at] = h & 0xff;
  dst[at + 1] = h >>> 8;
}

/**
 * ggml's make_qkx2_quants for Q4_K's sub-blocks (n values from x[from ..], codes 0..nmax with weights w): the scale
 * and min (returned as −min, ≥ 0) minimising the weighted squared error over a sweep of nstep + 1 trial scales.
 */
function makeQkx2Quants(
  n: number, nmax: number, x: Float32Array, from: number, w: Float32Array, L: Uint8Array, at: number, Laux: Uint8Array,
  rmin: number, rdelta: number, nstep: number,
): [scale: number, negMin: number] {
  let min = x[from], max = x[from], sumW = w[0], sumX = f(sumW * x[from]);
  for (let i = 1; i < n; i++) {
    const v = x[from + i];
    if (v < min) min = v;
    if (v > max) max = v;
    sumW = f(sumW + w[i]);
    sumX = f(sumX + f(w[i] * v));
  }
  if (min > 0) min = 0;
  if (max === min) {
    L.fill(0, at, at + n);
    return [0, -min];
  }
  let iscale = f(nmax / f(max - min)), scale = f(1 / iscale), bestError = 0;
  for (let i = 0; i < n; i++) {
    const l = Math.max(0, Math.min(nmax, nearestInt(f(iscale * f(x[from + i] - min)))));
    L[at + i] = l;
    const diff = f(f(f(scale * l) + min) - x[from + i]);
    bestError = f(bestError + f(w[i] * f(diff * diff)));
  }
  for (let is = 0; is <= nstep; is++) {
    iscale = f(f(f(rmin + f(rdelta * is)) + nmax) / f(max - min));
    let sumL = 0, sumL2 = 0, sumXL = 0;
    for (let i = 0; i < n; i++) {
      const l = Math.max(0, Math.min(nmax, nearestInt(f(iscale * f(x[from + i] - min)))));
      Laux[i] = l;
      const wl = f(w[i] * l);
      sumL = f(sumL + wl);
      sumL2 = f(sumL2 + f(wl * l));
      sumXL = f(sumXL + f(wl * x[from + i]));
    }
    const D = f(f(sumW * sumL2) - f(sumL * sumL));
    if (!(D > 0)) continue;
    let thisScale = f(f(f(sumW * sumXL) - f(sumX * sumL)) / D);
    let thisMin = f(f(f(sumL2 * sumX) - f(sumL * sumXL)) / D);
    if (thisMin > 0) {
      thisMin = 0;
      thisScale = f(sumXL / sumL2);
    }
    let curError = 0;
    for (let i = 0; i < n; i++) {
      const diff = f(f(f(thisScale * Laux[i]) + thisMin) - x[from + i]);
      curError = f(curError + f(w[i] * f(diff * diff)));
    }
    if (curError < bestError) {
      for (let i = 0; i < n; i++) L[at + i] = Laux[i];
      bestError = curError;
      scale = thisScale;
      min = thisMin;
    }
  }
  return [scale, -min];
}

/** One row (a multiple of 256 values) as Q4_K blocks at dst[at ..], the bytes of ggml's quantize_row_q4_K_ref. */
export function quantizeRowQ4_K(x: Float32Array, dst: Uint8Array, at: number, where = 'quantizeRowQ4_K'): void {
  if (x.length % QK_K !== 0) throw new Error(`${where}: a row of ${x.length} values is not a whole number of ${QK_K}-value blocks`);
  checkFinite(x, where);
  const L = new Uint8Array(QK_K), Laux = new Uint8Array(32), weights = new Float32Array(32);
  const scales = new Float32Array(8), mins = new Float32Array(8);
  for (let b = 0, o = at; b < x.length; b += QK_K, o += Q4_K_BYTES) {
    let maxScale = 0, maxMin = 0;
    for (let j = 0; j < 8; j++) {
      const from = b + 32 * j;
      let sumX2 = 0;
      for (let l = 0; l < 32; l++) sumX2 = f(sumX2 + f(x[from + l] * x[from + l]));
      const avX = f(Math.sqrt(f(sumX2 / 32)));
      for (let l = 0; l < 32; l++) weights[l] = f(avX + Math.abs(x[from + l]));
      [scales[j], mins[j]] = makeQkx2Quants(32, 15, x, from, weights, L, 32 * j, Laux, -1, f(0.1), 20);
      if (scales[j] > maxScale) maxScale = scales[j];
      if (mins[j] > maxMin) maxMin = mins[j];
    }
    const invScale = maxScale > 0 ? f(63 / maxScale) : 0, invMin = maxMin > 0 ? f(63 / maxMin) : 0;
    const s = o + 4;
    dst.fill(0, s, s + 12);
    for (let j = 0; j < 8; j++) {
      const ls = Math.min(63, nearestInt(f(invScale * scales[j])) & 0xff);
      const lm = Math.min(63, nearestInt(f(invMin * mins[j])) & 0xff);
      if (j < 4) {
        dst[s + j] = ls;
        dst[s + j + 4] = lm;
      } else {
        dst[s + j + 4] = (ls & 0xf) | ((lm & 0xf) << 4);
        dst[s + j - 4] |= (ls >> 4) << 6;
        dst[s + j] |= (lm >> 4) << 6;
      }
    }
    putF16(dst, o, f(maxScale / 63), where, b);
    putF16(dst, o + 2, f(maxMin / 63), where, b);
    const d = readF16(dst, o), dmin = readF16(dst, o + 2);
    for (let j = 0; j < 8; j++) {
      const [sc, m] = q4kScaleMin(dst, s, j);
      const dj = f(d * sc);
      if (!dj) continue; // keeps make_qkx2_quants' codes, as ggml does
      const dm = f(dmin * m);
      for (let i = 32 * j; i < 32 * j + 32; i++) L[i] = Math.max(0, Math.min(15, nearestInt(f(f(x[b + i] + dm) / dj))));
    }
    for (let g = 0; g < 4; g++) {
      for (let l = 0; l < 32; l++) dst[o + 16 + 32 * g + l] = L[64 * g + l] | (L[64 * g + l + 32] << 4);
    }
  }
}

/**
 * ggml's make_qx_quants with rmse_type 1 and no weights (so weights x²), for Q6_K's sub-blocks: signed codes
 * −nmax..nmax−1 stored + nmax into L, and the scale chosen among 19 trial scales by weighted error.
 */
function makeQxQuants(n: number, nmax: number, x: Float32Array, from: number, L: Int8Array, at: number): number {
  let max = 0, amax = 0;
  for (let i = 0; i < n; i++) {
    const ax = Math.abs(x[from + i]);
    if (ax > amax) { amax = ax; max = x[from + i]; }
  }
  if (amax < GROUP_MAX_EPS) {
    L.fill(0, at, at + n);
    return 0;
  }
  const sums = (iscale: number, store: boolean): [number, number] => {
    let sumlx = 0, suml2 = 0;
    for (let i = 0; i < n; i++) {
      const v = x[from + i], l = Math.max(-nmax, Math.min(nmax - 1, nearestInt(f(iscale * v))));
      if (store) L[at + i] = l + nmax;
      const w = f(v * v);
      sumlx = f(sumlx + f(f(w * v) * l));
      suml2 = f(suml2 + f(f(w * l) * l));
    }
    return [sumlx, suml2];
  };
  let [sumlx, suml2] = sums(f(-nmax / max), true);
  let scale = suml2 ? f(sumlx / suml2) : 0, best = f(scale * sumlx);
  for (let is = -9; is <= 9; is++) {
    if (is === 0) continue;
    const iscale = f(-f(nmax + f(f(0.1) * is)) / max);
    [sumlx, suml2] = sums(iscale, false);
    if (suml2 > 0 && f(sumlx * sumlx) > f(best * suml2)) {
      sums(iscale, true);
      scale = f(sumlx / suml2);
      best = f(scale * sumlx);
    }
  }
  return scale;
}

/** One row (a multiple of 256 values) as Q6_K blocks at dst[at ..], the bytes of ggml's quantize_row_q6_K_ref. */
export function quantizeRowQ6_K(x: Float32Array, dst: Uint8Array, at: number, where = 'quantizeRowQ6_K'): void {
  if (x.length % QK_K !== 0) throw new Error(`${where}: a row of ${x.length} values is not a whole number of ${QK_K}-value blocks`);
  checkFinite(x, where);
  const L = new Int8Array(QK_K), scales = new Float32Array(16);
  for (let b = 0, o = at; b < x.length; b += QK_K, o += Q6_K_BYTES) {
    let maxScale = 0, maxAbsScale = 0;
    for (let ib = 0; ib < 16; ib++) {
      scales[ib] = makeQxQuants(16, 32, x, b + 16 * ib, L, 16 * ib);
      const a = Math.abs(scales[ib]);
      if (a > maxAbsScale) { maxAbsScale = a; maxScale = scales[ib]; }
    }
    if (maxAbsScale < GROUP_MAX_EPS) { // an all-(near-)zero block is all zero bytes, d = 0 included
      dst.fill(0, o, o + Q6_K_BYTES);
      continue;
    }
    const iscale = f(-128 / maxScale);
    putF16(dst, o + 208, f(1 / iscale), where, b);
    for (let ib = 0; ib < 16; ib++) dst[o + 192 + ib] = Math.min(127, nearestInt(f(iscale * scales[ib]))) & 0xff;
    const d = readF16(dst, o + 208);
    for (let j = 0; j < 16; j++) {
      const dj = f(d * ((dst[o + 192 + j] << 24) >> 24));
      if (!dj) continue; // keeps make_qx_quants' codes, as ggml does
      for (let i = 16 * j; i < 16 * j + 16; i++) L[i] = Math.max(-32, Math.min(31, nearestInt(f(x[b + i] / dj)))) + 32;
    }
    for (let h = 0; h < 2; h++) {
      const ql = o + 64 * h, qh = o + 128 + 32 * h, y = 128 * h;
      for (let l = 0; l < 32; l++) {
        const q1 = L[y + l], q2 = L[y + l + 32], q3 = L[y + l + 64], q4 = L[y + l + 96];
        dst[ql + l] = (q1 & 0xf) | ((q3 & 0xf) << 4);
        dst[ql + l + 32] = (q2 & 0xf) | ((q4 & 0xf) << 4);
        dst[qh + l] = (q1 >> 4) | ((q2 >> 4) << 2) | ((q3 >> 4) << 4) | ((q4 >> 4) << 6);
      }
    }
  }
}
