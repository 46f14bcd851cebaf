// The dot form of matmul.as for q8_0 / q4_0 weights (kinds 3, 4; layouts in ops-math.as): out[t, o] (+)= Σ_c x[t, c]·W[o, c]
// for T < DOT_T tokens, W read in place and its codes multiplied as integers. Each token's x is quantized per 32-block to
// int16 (scale amax/32767, so a block's values keep ~15 bits: relative error ~1e-5 of the block's largest), and a block
// of 4 rows × 32 values is 16 integer dot products (i32x4.dot_i16x8_s) whose sums are exact; each block's four sums
// then enter f32 accumulators once, times d_w·d_x.
// A token's outputs do not depend on how many tokens share the call or how many columns a chunk holds: every token
// runs the same tile over the same blocks in the same order, and a chunk boundary only stores the accumulators to out
// and loads them back. Leaves out the packed form (matmul.as decodes blocks into its f32 panels).

import { madd, blockBytes, QB, P112 } from './ops-math';

/** Bytes of scratch per token per 32-block of x: 32 int16 codes, their f32 scale, 8 × their sum (i32, for q4_0). */
const XB: i32 = QB * 2 + 8;

/**
 * out[t, o] (+)= Σ_c x[t, c]·W[o, c] for rows [oStart, oEnd), T tokens, W q8_0 / q4_0 [OC, C] (C % 32 == 0). x goes to
 * scratch (scratchBytes bytes) quantized, in chunks of blocks; then 4 rows at a time, each token in turn over the chunk.
 */
export function dotQuant(out: usize, x: usize, w: usize, kind: i32, T: i32, C: i32, OC: i32, xStride: i32, oStart: i32, oEnd: i32,
  scratch: usize, scratchBytes: i32): void {
  const nb = C / QB, bb = blockBytes(kind), rowBytes = <usize>nb * bb, os = (<usize>OC) << 2;
  const chunk = min(nb, scratchBytes / (XB * T)); // blocks of x per chunk: T tokens' worth fill the scratch at most
  for (let b0 = 0; b0 < nb; b0 += chunk) {
    const n = min(chunk, nb - b0), xs = <usize>n * XB; // bytes per token in scratch: n·64 codes, n scales, n sums
    for (let t = 0; t < T; t++) quantizeX(scratch + <usize>t * xs, x + <usize>t * ((<usize>xStride) << 2) + ((<usize>b0 * QB) << 2), n, kind);
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

/**
 * n blocks of 32 f32 at x → n·32 int16 codes at dst, then the n scales (amax/32767; 0 for an all-zero block), then
 * 8·Σ codes of each block. For q4_0 (kind 4) each block's codes go in tileQ4's order: even elements 0..14, odd 1..15,
 * even 16..30, odd 17..31.
 */
function quantizeX(dst: usize, x: usize, n: i32, kind: i32): void {
  const scales = dst + <usize>n * 64, sums = scales + <usize>n * 4;
  for (let b = 0; b < n; b++) {
    const xb = x + (<usize>b << 7);
    let m = f32x4.abs(v128.load(xb));
    for (let i = 16; i < 128; i += 16) m = f32x4.max(m, f32x4.abs(v128.load(xb + <usize>i)));
    const amax = max(max(f32x4.extract_lane(m, 0), f32x4.extract_lane(m, 1)), max(f32x4.extract_lane(m, 2), f32x4.extract_lane(m, 3)));
    // A non-finite x makes the scale Inf or NaN (and the codes 0), so the outputs it touches are not finite either.
    const iv = f32x4.splat(amax > 0 ? 32767 / amax : 0), db = dst + (<usize>b << 6);
    const a = codes8(xb, iv), c = codes8(xb + 32, iv), e = codes8(xb + 64, iv), g = codes8(xb + 96, iv);
    if (kind == 4) {
      v128.store(db, v128.shuffle<i16>(a, c, 0, 2, 4, 6, 8, 10, 12, 14));
      v128.store(db, v128.shuffle<i16>(a, c, 1, 3, 5, 7, 9, 11, 13, 15), 16);
      v128.store(db, v128.shuffle<i16>(e, g, 0, 2, 4, 6, 8, 10, 12, 14), 32);
      v128.store(db, v128.shuffle<i16>(e, g, 1, 3, 5, 7, 9, 11, 13, 15), 48);
    } else {
      v128.store(db, a); v128.store(db, c, 16); v128.store(db, e, 32); v128.store(db, g, 48);
    }
    const s4 = i32x4.add(i32x4.add(i32x4.extadd_pairwise_i16x8_s(a), i32x4.extadd_pairwise_i16x8_s(c)),
      i32x4.add(i32x4.extadd_pairwise_i16x8_s(e), i32x4.extadd_pairwise_i16x8_s(g)));
    const sum = i32x4.extract_lane(s4, 0) + i32x4.extract_lane(s4, 1) + i32x4.extract_lane(s4, 2) + i32x4.extract_lane(s4, 3);
    store<f32>(scales + (<usize>b << 2), amax > 0 ? amax / 32767 : amax);
    store<i32>(sums + (<usize>b << 2), sum << 3);
  }
}

/** Eight f32 at p times iv, rounded to int16. */
@inline function codes8(p: usize, iv: v128): v128 {
  return i16x8.narrow_i32x4_s(i32x4.trunc_sat_f32x4_s(f32x4.nearest(f32x4.mul(v128.load(p), iv))),
    i32x4.trunc_sat_f32x4_s(f32x4.nearest(f32x4.mul(v128.load(p, 16), iv))));
}

/** [Σ lanes of a, Σ b, Σ c, Σ d] of i32 lanes (exact). */
@inline function hsum4i(a: v128, b: v128, c: v128, d: v128): v128 {
  const ab = i32x4.add(v128.shuffle<i32>(a, b, 0, 1, 4, 5), v128.shuffle<i32>(a, b, 2, 3, 6, 7));
  const cd = i32x4.add(v128.shuffle<i32>(c, d, 0, 1, 4, 5), v128.shuffle<i32>(c, d, 2, 3, 6, 7));
  return i32x4.add(v128.shuffle<i32>(ab, cd, 0, 2, 4, 6), v128.shuffle<i32>(ab, cd, 1, 3, 5, 7));
}

/**
 * The four rows' f16 block scales times the token's block scale at xd, as f16 (ops-math.as) does it for one: the four
 * gathered into the low halves of i32 lanes, magnitude bits moved to bit 13, times 2^112, the sign to bit 31. Decoding
 * the four one by one in scalar code took a third of the tile's time.
 */
@inline function scales4(w0: usize, w1: usize, w2: usize, w3: usize, xd: usize, p112: v128): v128 {
  let h = v128.load16_lane(w0, i32x4.splat(0), 0);
  h = v128.load16_lane(w1, h, 2);
  h = v128.load16_lane(w2, h, 4);
  h = v128.load16_lane(w3, h, 6);
  const mag = f32x4.mul(i32x4.shr_u(i32x4.shl(h, 17), 4), p112);
  const d = v128.or(mag, i32x4.shl(i32x4.shr_u(h, 15), 31));
  return f32x4.mul(d, v128.load32_splat(xd));
}

/** One q8_0 row's block (at p) against x's 32 codes (a..d): four lanes whose sum is the block's dot product. */
@inline function rowQ8(p: usize, a: v128, b: v128, c: v128, d: v128): v128 {
  return i32x4.add(
    i32x4.add(i32x4.dot_i16x8_s(v128.load8x8_s(p, 2), a), i32x4.dot_i16x8_s(v128.load8x8_s(p, 10), b)),
    i32x4.add(i32x4.dot_i16x8_s(v128.load8x8_s(p, 18), c), i32x4.dot_i16x8_s(v128.load8x8_s(p, 26), d)));
}

/** acc + Σ over n blocks of 4 q8_0 rows (w0..w3 at their first block) · x codes at xq, scales at xd. */
function tileQ8(xq: usize, xd: usize, w0: usize, w1: usize, w2: usize, w3: usize, n: i32, acc: v128): v128 {
  const p112 = f32x4.splat(<f32>(n >>> 31) + P112); // from a runtime value, so that it stays in a register
  for (let i = 0; i < n; i++) {
    const xb = xq + (<usize>i << 6), a = v128.load(xb), b = v128.load(xb, 16), c = v128.load(xb, 32), d = v128.load(xb, 48);
    const k = <usize>i * 34;
    const s = hsum4i(rowQ8(w0 + k, a, b, c, d), rowQ8(w1 + k, a, b, c, d), rowQ8(w2 + k, a, b, c, d), rowQ8(w3 + k, a, b, c, d));
    acc = madd(f32x4.convert_i32x4_s(s), scales4(w0 + k, w1 + k, w2 + k, w3 + k, xd + (<usize>i << 2), p112), acc);
  }
  return acc;
}

/**
 * One q4_0 row's block (at p) against x's codes in quantizeX's q4_0 order: read as eight 16-bit lanes, lane i holds
 * bytes 2i and 2i + 1, so its four nibbles are elements 2i, 2i + 1, 16 + 2i, 17 + 2i, each one mask or shift away
 * (no widening, no byte shifts, which x86 lacks). The nibbles enter unsigned; tileQ4 subtracts 8·Σx.
 */
@inline function rowQ4(p: usize, a: v128, b: v128, c: v128, d: v128, lo: v128): v128 {
  const q = v128.load(p, 2);
  return i32x4.add(
    i32x4.add(i32x4.dot_i16x8_s(v128.and(q, lo), a), i32x4.dot_i16x8_s(v128.and(i16x8.shr_u(q, 8), lo), b)),
    i32x4.add(i32x4.dot_i16x8_s(v128.and(i16x8.shr_u(q, 4), lo), c), i32x4.dot_i16x8_s(i16x8.shr_u(q, 12), d)));
}

/** As tileQ8 for q4_0 rows; xs holds 8·Σ codes per block (quantizeX). */
function tileQ4(xq: usize, xd: usize, w0: usize, w1: usize, w2: usize, w3: usize, n: i32, acc: v128): v128 {
  // Constants from a runtime zero: V8 11 would rebuild constant vectors at every use in the loop (ops-math.as, keepMask).
  const zero = n >>> 31, lo = i16x8.splat(<i16>(15 | zero)), p112 = f32x4.splat(<f32>zero + P112), xs = xd + <usize>n * 4;
  for (let i = 0; i < n; i++) {
    const xb = xq + (<usize>i << 6), a = v128.load(xb), b = v128.load(xb, 16), c = v128.load(xb, 32), d = v128.load(xb, 48);
    const k = <usize>i * 18;
    const s = hsum4i(rowQ4(w0 + k, a, b, c, d, lo), rowQ4(w1 + k, a, b, c, d, lo), rowQ4(w2 + k, a, b, c, d, lo), rowQ4(w3 + k, a, b, c, d, lo));
    const centred = i32x4.sub(s, v128.load32_splat(xs + (<usize>i << 2))); // Σ (nibble − 8)·x, exactly
    acc = madd(f32x4.convert_i32x4_s(centred), scales4(w0 + k, w1 + k, w2 + k, w3 + k, xd + (<usize>i << 2), p112), acc);
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
