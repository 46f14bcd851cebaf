// The dot form of matmul.as for q8_0 / q4_0 weights (kinds 3, 4; layouts in ops-math.as): out[t, o] (+)= Σ_c x[t, c]·W[o, c]
// for T < DOT_T tokens, W read in place and its codes multiplied as integers. Each token's x is quantized per 32-block to
// int16 (scale amax/32767, so a block's values keep ~15 bits: relative error ~1e-5 of the block's largest), and a block
// of 4 rows × 32 values is 16 (q8_0) or 16 + 6 (q4_0) integer dot products (i32x4.dot_i16x8_s) whose sums are exact;
// each block's four sums then enter f32 accumulators once, times d_w·d_x. Decoding the weights to f32 instead cost
// 3× the instructions per value and kept the decode below memory speed.
// A token's outputs do not depend on how many tokens share the call or how many columns a chunk holds: every token
// runs the same tile over the same blocks in the same order, and a chunk boundary only stores the accumulators to out
// and loads them back. Leaves out the packed form (matmul.as decodes blocks into its f32 panels).

import { madd, f16, blockBytes, QB } from './ops-math';

/** Bytes of scratch per token per 32-block of x: 32 int16 codes and their f32 scale. */
const XB: i32 = QB * 2 + 4;

/**
 * out[t, o] (+)= Σ_c x[t, c]·W[o, c] for rows [oStart, oEnd), T tokens, W q8_0 / q4_0 [OC, C] (C % 32 == 0). x goes to
 * scratch (scratchBytes bytes) quantized, in chunks of blocks; then 4 rows at a time, each token in turn over the chunk.
 */
export function dotQuant(out: usize, x: usize, w: usize, kind: i32, T: i32, C: i32, OC: i32, xStride: i32, oStart: i32, oEnd: i32,
  scratch: usize, scratchBytes: i32): void {
  const nb = C / QB, bb = blockBytes(kind), rowBytes = <usize>nb * bb, os = (<usize>OC) << 2;
  const chunk = min(nb, scratchBytes / (XB * T)); // blocks of x per chunk: T tokens' worth fill the scratch at most
  for (let b0 = 0; b0 < nb; b0 += chunk) {
    const n = min(chunk, nb - b0), xs = <usize>n * XB; // bytes per token in scratch: n·64 codes, then n scales
    for (let t = 0; t < T; t++) quantizeX(scratch + <usize>t * xs, x + <usize>t * ((<usize>xStride) << 2) + ((<usize>b0 * QB) << 2), n);
    for (let o0 = oStart; o0 < oEnd; o0 += 4) {
      const rows = min(4, oEnd - o0), wo = w + <usize>o0 * rowBytes + <usize>b0 * bb;
      // Rows past the range repeat the group's first row: the tile's lanes stay independent, and only `rows` are kept.
      const w1 = rows > 1 ? wo + rowBytes : wo, w2 = rows > 2 ? wo + 2 * rowBytes : wo, w3 = rows > 3 ? wo + 3 * rowBytes : wo;
      for (let t = 0; t < T; t++) {
        const xt = scratch + <usize>t * xs, ot = out + <usize>t * os + ((<usize>o0) << 2);
        const acc = b0 > 0 ? loadN(ot, rows) : f32x4.splat(0);
        const r = kind == 3 ? tileQ8(xt, xt + <usize>n * 64, wo, w1, w2, w3, n, acc) : tileQ4(xt, xt + <usize>n * 64, wo, w1, w2, w3, n, acc);
        storeN(ot, r, rows);
      }
    }
  }
}

/** n blocks of 32 f32 at x → n·32 int16 codes at dst, then the n scales (amax/32767; 0 for an all-zero block). */
function quantizeX(dst: usize, x: usize, n: i32): void {
  const scales = dst + <usize>n * 64;
  for (let b = 0; b < n; b++) {
    const xb = x + (<usize>b << 7);
    let m = f32x4.abs(v128.load(xb));
    for (let i = 16; i < 128; i += 16) m = f32x4.max(m, f32x4.abs(v128.load(xb + <usize>i)));
    const amax = max(max(f32x4.extract_lane(m, 0), f32x4.extract_lane(m, 1)), max(f32x4.extract_lane(m, 2), f32x4.extract_lane(m, 3)));
    // A non-finite x makes the scale Inf or NaN (and the codes 0), so the outputs it touches are not finite either.
    const inv: f32 = amax > 0 ? 32767 / amax : 0, iv = f32x4.splat(inv), db = dst + (<usize>b << 6);
    for (let i = 0; i < 32; i += 8) {
      const a = i32x4.trunc_sat_f32x4_s(f32x4.nearest(f32x4.mul(v128.load(xb + (<usize>i << 2)), iv)));
      const c = i32x4.trunc_sat_f32x4_s(f32x4.nearest(f32x4.mul(v128.load(xb + (<usize>i << 2), 16), iv)));
      v128.store(db + (<usize>i << 1), i16x8.narrow_i32x4_s(a, c));
    }
    store<f32>(scales + (<usize>b << 2), amax > 0 ? amax / 32767 : amax);
  }
}

/** [Σ lanes of a, Σ b, Σ c, Σ d] of i32 lanes (exact). */
@inline function hsum4i(a: v128, b: v128, c: v128, d: v128): v128 {
  const ab = i32x4.add(v128.shuffle<i32>(a, b, 0, 1, 4, 5), v128.shuffle<i32>(a, b, 2, 3, 6, 7));
  const cd = i32x4.add(v128.shuffle<i32>(c, d, 0, 1, 4, 5), v128.shuffle<i32>(c, d, 2, 3, 6, 7));
  return i32x4.add(v128.shuffle<i32>(ab, cd, 0, 2, 4, 6), v128.shuffle<i32>(ab, cd, 1, 3, 5, 7));
}

/** The four rows' block scales times the token's block scale dx. */
@inline function scales4(w0: usize, w1: usize, w2: usize, w3: usize, dx: f32): v128 {
  let v = f32x4.splat(f16(load<u16>(w0)));
  v = f32x4.replace_lane(v, 1, f16(load<u16>(w1)));
  v = f32x4.replace_lane(v, 2, f16(load<u16>(w2)));
  v = f32x4.replace_lane(v, 3, f16(load<u16>(w3)));
  return f32x4.mul(v, f32x4.splat(dx));
}

/** One q8_0 row's block (at p) against x's 32 codes (a..d): four lanes whose sum is the block's dot product. */
@inline function rowQ8(p: usize, a: v128, b: v128, c: v128, d: v128): v128 {
  return i32x4.add(
    i32x4.add(i32x4.dot_i16x8_s(v128.load8x8_s(p, 2), a), i32x4.dot_i16x8_s(v128.load8x8_s(p, 10), b)),
    i32x4.add(i32x4.dot_i16x8_s(v128.load8x8_s(p, 18), c), i32x4.dot_i16x8_s(v128.load8x8_s(p, 26), d)));
}

/** acc + Σ over n blocks of 4 q8_0 rows (w0..w3 at their first block) · x codes at xq, scales at xd. */
function tileQ8(xq: usize, xd: usize, w0: usize, w1: usize, w2: usize, w3: usize, n: i32, acc: v128): v128 {
  for (let i = 0; i < n; i++) {
    const xb = xq + (<usize>i << 6), a = v128.load(xb), b = v128.load(xb, 16), c = v128.load(xb, 32), d = v128.load(xb, 48);
    const k = <usize>i * 34;
    const s = hsum4i(rowQ8(w0 + k, a, b, c, d), rowQ8(w1 + k, a, b, c, d), rowQ8(w2 + k, a, b, c, d), rowQ8(w3 + k, a, b, c, d));
    acc = madd(f32x4.convert_i32x4_s(s), scales4(w0 + k, w1 + k, w2 + k, w3 + k, load<f32>(xd + (<usize>i << 2))), acc);
  }
  return acc;
}

/** One q4_0 row's block (at p): nibbles less 8 as int8, widened, against x's codes. `lo` masks 0x0F, `eight` is 8s. */
@inline function rowQ4(p: usize, a: v128, b: v128, c: v128, d: v128, lo: v128, eight: v128): v128 {
  const q = v128.load(p, 2);
  const l = i8x16.sub(v128.and(q, lo), eight), h = i8x16.sub(i8x16.shr_u(q, 4), eight);
  return i32x4.add(
    i32x4.add(i32x4.dot_i16x8_s(i16x8.extend_low_i8x16_s(l), a), i32x4.dot_i16x8_s(i16x8.extend_high_i8x16_s(l), b)),
    i32x4.add(i32x4.dot_i16x8_s(i16x8.extend_low_i8x16_s(h), c), i32x4.dot_i16x8_s(i16x8.extend_high_i8x16_s(h), d)));
}

/** As tileQ8 for q4_0 rows. */
function tileQ4(xq: usize, xd: usize, w0: usize, w1: usize, w2: usize, w3: usize, n: i32, acc: v128): v128 {
  // Masks from a runtime zero: V8 11 would rebuild constant vectors at every use in the loop (ops-math.as, keepMask).
  const zero = n >>> 31, lo = i8x16.splat(<i8>(15 | zero)), eight = i8x16.splat(<i8>(8 | zero));
  for (let i = 0; i < n; i++) {
    const xb = xq + (<usize>i << 6), a = v128.load(xb), b = v128.load(xb, 16), c = v128.load(xb, 32), d = v128.load(xb, 48);
    const k = <usize>i * 18;
    const s = hsum4i(rowQ4(w0 + k, a, b, c, d, lo, eight), rowQ4(w1 + k, a, b, c, d, lo, eight),
      rowQ4(w2 + k, a, b, c, d, lo, eight), rowQ4(w3 + k, a, b, c, d, lo, eight));
    acc = madd(f32x4.convert_i32x4_s(s), scales4(w0 + k, w1 + k, w2 + k, w3 + k, load<f32>(xd + (<usize>i << 2))), acc);
  }
  return acc;
}

/** The first n (1..4) of four consecutive f32 (no read past them), the rest 0. */
function loadN(p: usize, n: i32): v128 {
  if (n == 4) return v128.load(p);
  let v = f32x4.splat(0);
  v = f32x4.replace_lane(v, 0, load<f32>(p));
  if (n > 1) v = f32x4.replace_lane(v, 1, load<f32>(p, 4));
  if (n > 2) v = f32x4.replace_lane(v, 2, load<f32>(p, 8));
  return v;
}

/** Stores the first n (1..4) lanes of v to consecutive f32 at p. */
function storeN(p: usize, v: v128, n: i32): void {
  if (n == 4) { v128.store(p, v); return; }
  store<f32>(p, f32x4.extract_lane(v, 0));
  if (n > 1) store<f32>(p, f32x4.extract_lane(v, 1), 4);
  if (n > 2) store<f32>(p, f32x4.extract_lane(v, 2), 8);
}
