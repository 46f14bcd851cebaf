// The dot form of matmul.as for q8_0 / q4_0 weights (kinds 3, 4; layouts in ops-math.as): out[t, o] (+)= Σ_c x[t, c]·W[o, c]
// for T < DOT_T tokens, W read in place and its codes multiplied as integers. Each token's x is written per 32-block as
// two int16 vectors, x ≈ dx·(h + l/2^15) with dx = amax/32767 (h the rounded x/dx, l the rounded rest): ~30 bits of the
// block's largest, as exact as f32 for the sums. A block of 4 rows × 32 values is then 32 integer dot products
// (i32x4.dot_i16x8_s) with exact sums, combined in f32 and times d_w·dx once per block.
// Measured against h alone (int16, ~1e-5 of each block's largest): that ran 1.4× (q8_0) to 1.9× (q4_0) faster, but a
// 3-layer model's logits moved by 7e-5 of their largest from the reference on the same weights (4.6e-7 with l, as f32
// weights), too close to the 1e-4 that whole models are held to, and an outlier channel made it worse.
// With relaxed SIMD, q4_0 takes the byte dot product instead (i16x8.relaxed_dot_i8x16_i7x16_s, one x86 pmaddubsw for
// 16 values; its nibbles need no widening): x as ONE integer per value of ~22 bits (steps of amax/2088895) in three
// int8 digits, three byte dot products per 16 values where h + l took four i16 ones, the digits joined in integers
// and the four rows' sums converted once. q4_0 decode 1.2-1.3× (A/B, 2 threads); test models' logits within 5.5e-6
// of the reference (h + l: 2.9e-6; 1e-4 allowed).
// A token's outputs do not depend on how many tokens share the call or how many columns a chunk holds: every token
// runs the same tile over the same blocks in the same order, and a chunk boundary only stores the accumulators to out
// and loads them back. Leaves out the packed form (matmul.as decodes blocks into its f32 panels).

import { madd, hsum4, blockBytes, QB, P112 } from './ops-math';

/**
 * Bytes of scratch per token per 32-block of x: 32 int16 h codes, 32 l codes, the f32 scale, 8·Σh and 8·Σl (i32);
 * relaxed SIMD's q4_0 uses 96 of the 128 code bytes (its digits) and the first sum (8·ΣX).
 */
const XB: i32 = QB * 4 + 12;
/**
 * Rows per group and blocks per run of the dot form's loop (dotQuant): runs of 16 q8_0 blocks (544 bytes a row, as
 * bf16's 512) ran 3-7% faster than 8; q4_0 runs of 8 (144 bytes) beat 4, 16 and 32 (by 10-20% at 16 and 32).
 */
const OG: i32 = 16, KR8: i32 = 16, KR4: i32 = 8;
/**
 * The largest |X| of relaxed SIMD's q4_0 x: 127·2^14 + 63·(2^7 + 1), every digit at its top, the most three int8
 * digits hold whose lower two stay within −64..63 (so a digit's weight 2^14 fits an i16); a row's Σ q·X (q ≤ 15,
 * 32 values) stays under 2^30.
 */
const XR: i32 = 2088895;

/**
 * out[t, o] (+)= Σ_c x[t, c]·W[o, c] for rows [oStart, oEnd), T tokens, W q8_0 / q4_0 [OC, C] (C % 32 == 0). x goes to
 * scratch (scratchBytes bytes) quantized, in chunks of blocks; then 4 rows at a time, each token in turn over the chunk.
 */
export function dotQuant(out: usize, x: usize, w: usize, kind: i32, T: i32, C: i32, OC: i32, xStride: i32, oStart: i32, oEnd: i32,
  scratch: usize, scratchBytes: i32): void {
  const nb = C / QB, bb = blockBytes(kind), rowBytes = <usize>nb * bb, os = (<usize>OC) << 2;
  const chunk = min(nb, scratchBytes / (XB * T)); // blocks of x per chunk: T tokens' worth fill the scratch at most
  for (let b0 = 0; b0 < nb; b0 += chunk) {
    const n = min(chunk, nb - b0), xs = <usize>n * XB; // bytes per token in scratch: n·128 codes, n scales, n sum pairs
    for (let t = 0; t < T; t++) quantizeX(scratch + <usize>t * xs, x + <usize>t * ((<usize>xStride) << 2) + ((<usize>b0 * QB) << 2), n, kind);
    // Rows in groups of OG, each group's blocks in runs of KR: one run reads OG rows' lines at once (the memory keeps
    // several streams in flight; 4 rows front to back at a time left q4_0 at a third of bf16's bytes per second).
    const KR = kind == 3 ? KR8 : KR4;
    for (let g0 = oStart; g0 < oEnd; g0 += OG) {
      const g1 = min(oEnd, g0 + OG);
      for (let k = 0; k < n; k += KR) {
        const kn = min(KR, n - k), first = b0 + k == 0;
        for (let o0 = g0; o0 < g1; o0 += 4) {
          const rows = min(4, g1 - o0), wo = w + <usize>o0 * rowBytes + <usize>(b0 + k) * bb;
          // Rows past the range repeat the group's first row: the tile's lanes stay independent, only `rows` are kept.
          const w1 = rows > 1 ? wo + rowBytes : wo, w2 = rows > 2 ? wo + 2 * rowBytes : wo, w3 = rows > 3 ? wo + 3 * rowBytes : wo;
          for (let t = 0; t < T; t++) {
            const xt = scratch + <usize>t * xs, ot = out + <usize>t * os + ((<usize>o0) << 2);
            const xq = xt + <usize>k * 128, xd = xt + <usize>n * 128 + <usize>k * 4, sums = xt + <usize>n * 132 + <usize>k * 8;
            const acc = first ? f32x4.splat(0) : loadN(ot, rows);
            const r = kind == 3 ? tileQ8(xq, xd, wo, w1, w2, w3, kn, acc)
              : ASC_FEATURE_RELAXED_SIMD ? tileQ4d(xq, xd, sums, wo, w1, w2, w3, kn, acc) : tileQ4(xq, xd, sums, wo, w1, w2, w3, kn, acc);
            storeN(ot, r, rows);
          }
        }
      }
    }
  }
}

/**
 * n blocks of 32 f32 at x → per block 32 h codes then 32 l codes at dst (128 bytes a block), then the n scales
 * (amax/32767; 0 for an all-zero block), then 8·Σh and 8·Σl of each block. For q4_0 (kind 4) each block's codes go in
 * tileQ4's order: even elements 0..14, odd 1..15, even 16..30, odd 17..31; with relaxed SIMD, q4_0 blocks are
 * putDigits' instead, and their scales amax/XR.
 */
function quantizeX(dst: usize, x: usize, n: i32, kind: i32): void {
  const scales = dst + <usize>n * 128, sums = scales + <usize>n * 4;
  const digits = ASC_FEATURE_RELAXED_SIMD && kind == 4, range: f32 = digits ? <f32>XR : 32767;
  for (let b = 0; b < n; b++) {
    const xb = x + (<usize>b << 7);
    let m = f32x4.abs(v128.load(xb));
    for (let i = 16; i < 128; i += 16) m = f32x4.max(m, f32x4.abs(v128.load(xb + <usize>i)));
    const amax = max(max(f32x4.extract_lane(m, 0), f32x4.extract_lane(m, 1)), max(f32x4.extract_lane(m, 2), f32x4.extract_lane(m, 3)));
    // A non-finite x makes the scale Inf or NaN (and the codes 0), so the outputs it touches are not finite either.
    const iv = f32x4.splat(amax > 0 ? range / amax : 0), db = dst + (<usize>b << 7), sb = sums + (<usize>b << 3);
    if (digits) {
      putDigits(db, xb, iv, sb);
    } else {
      putCodes(db, xb, iv, kind, false, sb);
      putCodes(db + 64, xb, iv, kind, true, sb + 4);
    }
    store<f32>(scales + (<usize>b << 2), amax > 0 ? amax / range : amax);
  }
}

/**
 * One block as X = nearest(x·iv) (|X| ≤ XR) in three int8 digits, X = 2^14·d2 + 2^7·d1 + d0 with d1, d0 in −64..63
 * (balanced base 128) and d2 in −128..127, to dst: d2 of elements 0..15, d2 of 16..31, then d1, then d0 likewise
 * (96 bytes); 8·ΣX to sum.
 */
function putDigits(dst: usize, xb: usize, iv: v128, sum: usize): void {
  let s = i32x4.splat(0);
  for (let g = 0; g < 2; g++) { // elements 16g .. 16g + 15
    const p = xb + (<usize>g << 6);
    let a = xcode4(p, iv), b = xcode4(p + 16, iv), c = xcode4(p + 32, iv), d = xcode4(p + 48, iv);
    s = i32x4.add(s, i32x4.add(i32x4.add(a, b), i32x4.add(c, d)));
    for (let k = 2; k > 0; k--) { // d0, then d1; what is left moves down 7 bits
      const da = digit(a), db = digit(b), dc = digit(c), dd = digit(d);
      v128.store(dst + <usize>(k << 5) + (<usize>g << 4), i8x16.narrow_i16x8_s(i16x8.narrow_i32x4_s(da, db), i16x8.narrow_i32x4_s(dc, dd)));
      a = i32x4.shr_s(i32x4.sub(a, da), 7); b = i32x4.shr_s(i32x4.sub(b, db), 7);
      c = i32x4.shr_s(i32x4.sub(c, dc), 7); d = i32x4.shr_s(i32x4.sub(d, dd), 7);
    }
    v128.store(dst + (<usize>g << 4), i8x16.narrow_i16x8_s(i16x8.narrow_i32x4_s(a, b), i16x8.narrow_i32x4_s(c, d))); // d2
  }
  store<i32>(sum, (i32x4.extract_lane(s, 0) + i32x4.extract_lane(s, 1) + i32x4.extract_lane(s, 2) + i32x4.extract_lane(s, 3)) << 3);
}

/** Four f32 at p as i32 nearest(x·iv). */
@inline function xcode4(p: usize, iv: v128): v128 { return i32x4.trunc_sat_f32x4_s(f32x4.nearest(f32x4.mul(v128.load(p), iv))); }

/** The balanced low base-128 digit of each i32 lane: ((v + 64) & 127) − 64, in −64..63. */
@inline function digit(v: v128): v128 {
  return i32x4.sub(v128.and(i32x4.add(v, i32x4.splat(64)), i32x4.splat(127)), i32x4.splat(64));
}

/** One block's 32 h codes (rest = false) or l codes (rest = true) to dst in the order of `kind`, 8 × their sum to sum. */
function putCodes(dst: usize, xb: usize, iv: v128, kind: i32, rest: bool, sum: usize): void {
  const a = codes8(xb, iv, rest), c = codes8(xb + 32, iv, rest), e = codes8(xb + 64, iv, rest), g = codes8(xb + 96, iv, rest);
  if (kind == 4) {
    v128.store(dst, v128.shuffle<i16>(a, c, 0, 2, 4, 6, 8, 10, 12, 14));
    v128.store(dst, v128.shuffle<i16>(a, c, 1, 3, 5, 7, 9, 11, 13, 15), 16);
    v128.store(dst, v128.shuffle<i16>(e, g, 0, 2, 4, 6, 8, 10, 12, 14), 32);
    v128.store(dst, v128.shuffle<i16>(e, g, 1, 3, 5, 7, 9, 11, 13, 15), 48);
  } else {
    v128.store(dst, a); v128.store(dst, c, 16); v128.store(dst, e, 32); v128.store(dst, g, 48);
  }
  const s4 = i32x4.add(i32x4.add(i32x4.extadd_pairwise_i16x8_s(a), i32x4.extadd_pairwise_i16x8_s(c)),
    i32x4.add(i32x4.extadd_pairwise_i16x8_s(e), i32x4.extadd_pairwise_i16x8_s(g)));
  store<i32>(sum, (i32x4.extract_lane(s4, 0) + i32x4.extract_lane(s4, 1) + i32x4.extract_lane(s4, 2) + i32x4.extract_lane(s4, 3)) << 3);
}

/** Eight f32 at p as int16: h = nearest(x·iv), or (rest) l = nearest((x·iv − h)·2^15), |l| ≤ 2^14 (x·iv − h is exact). */
@inline function codes8(p: usize, iv: v128, rest: bool): v128 {
  return i16x8.narrow_i32x4_s(i32x4.trunc_sat_f32x4_s(code4(v128.load(p), iv, rest)), i32x4.trunc_sat_f32x4_s(code4(v128.load(p, 16), iv, rest)));
}
@inline function code4(x: v128, iv: v128, rest: bool): v128 {
  const y = f32x4.mul(x, iv), h = f32x4.nearest(y);
  return rest ? f32x4.nearest(f32x4.mul(f32x4.sub(y, h), f32x4.splat(32768))) : h;
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

/** Four i16x8 (a..d) against 32 int16 x codes at x: four lanes whose sum is the dot product. */
@inline function dot32(a: v128, b: v128, c: v128, d: v128, x: usize): v128 {
  return i32x4.add(i32x4.add(i32x4.dot_i16x8_s(a, v128.load(x)), i32x4.dot_i16x8_s(b, v128.load(x, 16))),
    i32x4.add(i32x4.dot_i16x8_s(c, v128.load(x, 32)), i32x4.dot_i16x8_s(d, v128.load(x, 48))));
}

/** One row's h and l dot products (integer lanes, q4_0: already centred) as f32 lanes of h + l/2^15. */
@inline function combine(h: v128, l: v128, c15: v128): v128 {
  return madd(f32x4.convert_i32x4_s(l), c15, f32x4.convert_i32x4_s(h));
}

/** One q8_0 row's block (at p) against a block of x (h codes at x, l codes at x + 64). */
@inline function rowQ8(p: usize, x: usize, c15: v128): v128 {
  const a = v128.load8x8_s(p, 2), b = v128.load8x8_s(p, 10), c = v128.load8x8_s(p, 18), d = v128.load8x8_s(p, 26);
  return combine(dot32(a, b, c, d, x), dot32(a, b, c, d, x + 64), c15);
}

/** acc + Σ over n blocks of 4 q8_0 rows (w0..w3 at their first block) · x (codes at xq, scales at xd). */
function tileQ8(xq: usize, xd: usize, w0: usize, w1: usize, w2: usize, w3: usize, n: i32, acc: v128): v128 {
  // Constants from a runtime zero: V8 11 would rebuild constant vectors at every use in the loop (ops-math.as, keepMask).
  const zero = <f32>(n >>> 31), p112 = f32x4.splat(zero + P112), c15 = f32x4.splat(zero + 1.0 / 32768);
  for (let i = 0; i < n; i++) {
    const xb = xq + (<usize>i << 7), k = <usize>i * 34;
    const s = hsum4(rowQ8(w0 + k, xb, c15), rowQ8(w1 + k, xb, c15), rowQ8(w2 + k, xb, c15), rowQ8(w3 + k, xb, c15));
    acc = madd(s, scales4(w0 + k, w1 + k, w2 + k, w3 + k, xd + (<usize>i << 2), p112), acc);
  }
  return acc;
}

/**
 * One q4_0 row's block (at p) against x in quantizeX's q4_0 order: read as eight 16-bit lanes, lane i holds bytes 2i
 * and 2i + 1, so its four nibbles are elements 2i, 2i + 1, 16 + 2i, 17 + 2i, each one mask or shift away (no widening,
 * no byte shifts, which x86 lacks). The nibbles enter unsigned; ch / cl ([8·Σx, 0, 0, 0] of h, l) take the 8 back off.
 */
@inline function rowQ4(p: usize, x: usize, lo: v128, ch: v128, cl: v128, c15: v128): v128 {
  const q = v128.load(p, 2);
  const a = v128.and(q, lo), b = v128.and(i16x8.shr_u(q, 8), lo), c = v128.and(i16x8.shr_u(q, 4), lo), d = i16x8.shr_u(q, 12);
  return combine(i32x4.sub(dot32(a, b, c, d, x), ch), i32x4.sub(dot32(a, b, c, d, x + 64), cl), c15);
}

/** As tileQ8 for q4_0 rows; sums holds each block's 8·Σh, 8·Σl. */
function tileQ4(xq: usize, xd: usize, sums: usize, w0: usize, w1: usize, w2: usize, w3: usize, n: i32, acc: v128): v128 {
  const zero = n >>> 31, lo = i16x8.splat(<i16>(15 | zero)), p112 = f32x4.splat(<f32>zero + P112), c15 = f32x4.splat(<f32>zero + 1.0 / 32768);
  for (let i = 0; i < n; i++) {
    const xb = xq + (<usize>i << 7), k = <usize>i * 18, sb = sums + (<usize>i << 3);
    const ch = v128.load32_zero(sb), cl = v128.load32_zero(sb, 4);
    const s = hsum4(rowQ4(w0 + k, xb, lo, ch, cl, c15), rowQ4(w1 + k, xb, lo, ch, cl, c15),
      rowQ4(w2 + k, xb, lo, ch, cl, c15), rowQ4(w3 + k, xb, lo, ch, cl, c15));
    acc = madd(s, scales4(w0 + k, w1 + k, w2 + k, w3 + k, xd + (<usize>i << 2), p112), acc);
  }
  return acc;
}

/**
 * Relaxed SIMD's q4_0 row block (at p) against x as quantizeX's digits (at x): the nibbles, unsigned 0..15, are the
 * 7-bit operand of the byte dot product (exact and the same on every engine: no pair sum nears the i16 limit, ≤ 3840),
 * low nibbles against elements 0..15, high against 16..31. Each digit's two byte dot products add in i16 (≤ 7680),
 * then one i16 dot product per digit, against its weight 2^14, 2^7 or 1, sums pairs into i32 lanes: four lanes whose
 * sum is Σ q·X (< 2^30).
 */
@inline function rowQ4d(p: usize, x: usize, lo: v128, c14: v128, c7: v128, c0: v128): v128 {
  const q = v128.load(p, 2), a = v128.and(q, lo), b = v128.and(i16x8.shr_u(q, 4), lo);
  const s2 = i16x8.add(i16x8.relaxed_dot_i8x16_i7x16_s(v128.load(x), a), i16x8.relaxed_dot_i8x16_i7x16_s(v128.load(x, 16), b));
  const s1 = i16x8.add(i16x8.relaxed_dot_i8x16_i7x16_s(v128.load(x, 32), a), i16x8.relaxed_dot_i8x16_i7x16_s(v128.load(x, 48), b));
  const s0 = i16x8.add(i16x8.relaxed_dot_i8x16_i7x16_s(v128.load(x, 64), a), i16x8.relaxed_dot_i8x16_i7x16_s(v128.load(x, 80), b));
  return i32x4.add(i32x4.add(i32x4.dot_i16x8_s(s2, c14), i32x4.dot_i16x8_s(s1, c7)), i32x4.dot_i16x8_s(s0, c0));
}

/** [Σ lanes of a, Σ b, Σ c, Σ d] of i32 lanes (exact). */
@inline function hsum4i(a: v128, b: v128, c: v128, d: v128): v128 {
  const ab = i32x4.add(v128.shuffle<i32>(a, b, 0, 1, 4, 5), v128.shuffle<i32>(a, b, 2, 3, 6, 7));
  const cd = i32x4.add(v128.shuffle<i32>(c, d, 0, 1, 4, 5), v128.shuffle<i32>(c, d, 2, 3, 6, 7));
  return i32x4.add(v128.shuffle<i32>(ab, cd, 0, 2, 4, 6), v128.shuffle<i32>(ab, cd, 1, 3, 5, 7));
}

/**
 * As tileQ4 on quantizeX's digits (relaxed SIMD): the four rows' Σ q·X summed exactly in integers, 8·ΣX (at sums)
 * taken off once for the four, one conversion to f32 per block of four rows.
 */
function tileQ4d(xq: usize, xd: usize, sums: usize, w0: usize, w1: usize, w2: usize, w3: usize, n: i32, acc: v128): v128 {
  const zero = n >>> 31, lo = i8x16.splat(<i8>(15 | zero)), p112 = f32x4.splat(<f32>zero + P112);
  const c14 = i16x8.splat(<i16>(16384 | zero)), c7 = i16x8.splat(<i16>(128 | zero)), c0 = i16x8.splat(<i16>(1 | zero));
  for (let i = 0; i < n; i++) {
    const xb = xq + (<usize>i << 7), k = <usize>i * 18;
    const s = i32x4.sub(hsum4i(rowQ4d(w0 + k, xb, lo, c14, c7, c0), rowQ4d(w1 + k, xb, lo, c14, c7, c0),
      rowQ4d(w2 + k, xb, lo, c14, c7, c0), rowQ4d(w3 + k, xb, lo, c14, c7, c0)), v128.load32_splat(sums + (<usize>i << 3)));
    acc = madd(f32x4.convert_i32x4_s(s), scales4(w0 + k, w1 + k, w2 + k, w3 + k, xd + (<usize>i << 2), p112), acc);
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
