// Helpers shared by the kernel sources, forward and backward: multiply-add, a vector e^x, a float64 ln, horizontal
// sums, e4m3 decoding, and decoding a run of one weight row (f32, bf16, e4m3 with block scales, q8_0, q4_0) into f32. Not
// re-exported by kernels.as, so none of these is a module export. Leaves out f16 weights (the backend sends those to
// the reference kernels).
// Constants are literals or splats of literals: the module has no data segment and no globals.

@inline export function madd(a: v128, b: v128, acc: v128): v128 {
  if (ASC_FEATURE_RELAXED_SIMD) return f32x4.relaxed_madd(a, b, acc);
  return f32x4.add(acc, f32x4.mul(a, b));
}

/**
 * e^x in each lane, relative error below 3e-7 for x in [−87.3, 88.3]; inputs are clamped to that range, so lanes far
 * below give ~1e−38 instead of 0 (callers that need an exact 0, for masked keys, clear those lanes themselves).
 * x = n·ln2 + r with |r| ≤ ln2/2; e^r by its Taylor series to r⁷ (truncation < 6e−9); 2^n built in the exponent bits.
 */
@inline export function expv(x: v128): v128 {
  const c = f32x4.min(f32x4.max(x, f32x4.splat(-87.3)), f32x4.splat(88.3));
  const n = f32x4.nearest(f32x4.mul(c, f32x4.splat(1.4426950408889634)));
  // ln 2 in two parts: 0.693359375 has 9 significant bits, so n·hi is exact for |n| ≤ 128.
  let r = f32x4.sub(c, f32x4.mul(n, f32x4.splat(0.693359375)));
  r = f32x4.add(r, f32x4.mul(n, f32x4.splat(2.1219444005469057e-4)));
  let p = f32x4.splat(1.0 / 5040.0);
  p = madd(p, r, f32x4.splat(1.0 / 720.0));
  p = madd(p, r, f32x4.splat(1.0 / 120.0));
  p = madd(p, r, f32x4.splat(1.0 / 24.0));
  p = madd(p, r, f32x4.splat(1.0 / 6.0));
  p = madd(p, r, f32x4.splat(0.5));
  p = madd(p, r, f32x4.splat(1.0));
  p = madd(p, r, f32x4.splat(1.0));
  const pow2 = i32x4.shl(i32x4.add(i32x4.trunc_sat_f32x4_s(n), i32x4.splat(127)), 23);
  return f32x4.mul(p, pow2);
}

/** e^x of one value through the vector path (tails of vector loops). */
@inline export function exp1(x: f32): f32 { return f32x4.extract_lane(expv(f32x4.splat(x)), 0); }

/** ln x for finite x ≥ 1e−300: x = m·2^e with m in [√½, √2), ln m = 2·atanh(s), s = (m − 1)/(m + 1), |s| ≤ 0.1716. */
export function logF64(x: f64): f64 {
  const bits = reinterpret<u64>(x);
  let e = <i32>((bits >> 52) & 0x7FF) - 1023;
  let m = reinterpret<f64>((bits & 0x000FFFFFFFFFFFFF) | 0x3FF0000000000000);
  if (m > 1.4142135623730951) { m *= 0.5; e += 1; }
  const s = (m - 1) / (m + 1), s2 = s * s;
  // 2·(s + s³/3 + … + s²³/23): the first term left out is below 1e−18 of the sum.
  let p: f64 = 1.0 / 23.0;
  for (let k = 21; k >= 1; k -= 2) p = p * s2 + 1.0 / <f64>k;
  return <f64>e * 0.6931471805599453 + 2 * s * p;
}

/** [Σ lanes of a, Σ b, Σ c, Σ d]. */
@inline export function hsum4(a: v128, b: v128, c: v128, d: v128): v128 {
  const ab = f32x4.add(v128.shuffle<f32>(a, b, 0, 1, 4, 5), v128.shuffle<f32>(a, b, 2, 3, 6, 7)); // a0+a2, a1+a3, b0+b2, b1+b3
  const cd = f32x4.add(v128.shuffle<f32>(c, d, 0, 1, 4, 5), v128.shuffle<f32>(c, d, 2, 3, 6, 7));
  return f32x4.add(v128.shuffle<f32>(ab, cd, 0, 2, 4, 6), v128.shuffle<f32>(ab, cd, 1, 3, 5, 7));
}

/** Σ of the four lanes. */
@inline export function hsum1(a: v128): f32 {
  return (f32x4.extract_lane(a, 0) + f32x4.extract_lane(a, 1)) + (f32x4.extract_lane(a, 2) + f32x4.extract_lane(a, 3));
}

// ---- Weight rows. kind: 0 f32, 1 bf16, 2 e4m3fn (value = code·scaleInv[row / bm, col / bn]; scaleInv = 0: none),
// 3 q8_0, 4 q4_0 (below).

/** dst[0 .. n) = W[row, c0 .. c0 + n) as f32 for W [*, C]; `row` is the weight's own row (so FP8 scale rows are right). */
export function decodeRow(dst: usize, w: usize, kind: i32, C: i32, row: i32, c0: i32, n: i32, scaleInv: usize, bm: i32, bn: i32): void {
  const first = <usize>row * <usize>C + <usize>c0; // element index
  if (kind == 0) { memory.copy(dst, w + (first << 2), (<usize>n) << 2); return; }
  if (kind == 1) { decodeBF16(dst, w + (first << 1), n); return; }
  if (kind >= 3) { decodeQuantRow(dst, w, kind, C, row, c0, n); return; }
  if (!scaleInv) { decodeE4M3(dst, w + first, n, 1); return; }
  const sCols = (C + bn - 1) / bn;
  const srow = scaleInv + ((<usize>((row / bm) * sCols)) << 2);
  for (let k = 0; k < n;) {
    const c = c0 + k, end = min(n, (c / bn + 1) * bn - c0); // the columns of c's scale block
    decodeE4M3(dst + ((<usize>k) << 2), w + first + <usize>k, end - k, load<f32>(srow + ((<usize>(c / bn)) << 2)));
    k = end;
  }
}

function decodeBF16(dst: usize, src: usize, n: i32): void {
  let i = 0;
  for (; i + 4 <= n; i += 4) v128.store(dst + ((<usize>i) << 2), i32x4.shl(v128.load16x4_u(src + ((<usize>i) << 1)), 16));
  for (; i < n; i++) store<u32>(dst + ((<usize>i) << 2), (<u32>load<u16>(src + ((<usize>i) << 1))) << 16);
}

// e4m3fn → f32 without a table. In 16-bit lanes, the code's 7 magnitude bits moved to bits 4..10 and its sign to
// bit 15 form the top half of an f32 with e4m3's exponent and mantissa in f32's fields (exponent bias still 7), so
// times 2^120 (= 2^(127-7)) it is exact for every code, subnormals and zero included. Codes 0x7F/0xFF (NaN) get NaN
// bits. Subnormal codes are denormal f32 before that factor, which makes the multiply by it slow but rare: real
// weights have few codes below 2^-6 of their block's maximum.
export const P120: f32 = 1.329227995784916e36; // 2^120

/**
 * Eight codes (sign-extended to 16 bits) → the top halves of their f32 values / 2^120: the code shifted up by 4 puts
 * its magnitude at bits 4..10 and copies of its sign at 11..15, of which `keep` (0x87FF) keeps bit 15; magnitude 0x7F
 * (all of `mag`, 0x07F0) is NaN, made all ones. One shift: this CPU has a single vector shift port, and a decode of
 * six shifts was bound by it.
 */
@inline export function e4m3x8(c: v128, keep: v128, mag: v128): v128 {
  const h = v128.and(i16x8.shl(c, 4), keep);
  return v128.or(h, i16x8.eq(v128.and(h, mag), mag));
}

/**
 * e4m3x8's masks. V8 11 rebuilds a constant vector at every use, inside loops too; built from `zero` (a runtime 0 the
 * caller passes: neither binaryen nor V8 can fold it) they are ordinary values that stay in registers.
 */
@inline export function keepMask(zero: i32): v128 { return i16x8.splat(<i16>(0x87FF | zero)); }
@inline export function magMask(zero: i32): v128 { return i16x8.splat(<i16>(0x07F0 | zero)); }

/** Lanes 0..3 (lo16) or 4..7 (hi16) of h as the top halves of four f32 (one interleave with a zero vector). */
@inline export function lo16(zero: v128, h: v128): v128 { return v128.shuffle<i16>(zero, h, 0, 8, 1, 9, 2, 10, 3, 11); }
@inline export function hi16(zero: v128, h: v128): v128 { return v128.shuffle<i16>(zero, h, 4, 12, 5, 13, 6, 14, 7, 15); }

/** One code's value / 2^120 (NaN for the NaN codes). */
@inline export function e4m3raw(code: u8): f32 {
  if ((code & 0x7F) == 0x7F) return NaN;
  return reinterpret<f32>(((<i32><i8>code) << 20) & 0x87F00000);
}

/** n codes from src, each times `scale`, to dst as f32. */
function decodeE4M3(dst: usize, src: usize, n: i32, scale: f32): void {
  const f = scale * P120;
  let i = 0;
  if (isFinite(f)) {
    const keep = keepMask(n >>> 31), mag = magMask(n >>> 31), zero = f32x4.splat(0), fv = f32x4.splat(f);
    for (; i + 8 <= n; i += 8) {
      const h = e4m3x8(v128.load8x8_s(src + <usize>i), keep, mag), d = dst + ((<usize>i) << 2);
      v128.store(d, f32x4.mul(lo16(zero, h), fv));
      v128.store(d, f32x4.mul(hi16(zero, h), fv), 16);
    }
  }
  for (; i < n; i++) store<f32>(dst + ((<usize>i) << 2), e4m3raw(load<u8>(src + <usize>i)) * P120 * scale);
}

// ---- ggml's block formats (kinds 3 q8_0, 4 q4_0): blocks of 32 values along a row, an f16 scale d then the codes.
// q8_0: int8 codes (34 bytes a block), value code·d; q4_0: 16 bytes of nibbles (18 a block), element j in the low
// nibble of byte j and element j + 16 in the high one, value (nibble − 8)·d. Rows are whole blocks (C % 32 == 0).

export const QB: i32 = 32;

/** Bytes of one block of kind 3 (q8_0) or 4 (q4_0). */
@inline export function blockBytes(kind: i32): usize { return kind == 3 ? 34 : 18; }

/**
 * An f16 as f32 (finite values; the formats never store Inf or NaN scales): its magnitude bits moved up 13 are an f32
 * with the f16's fields and exponent bias 15, so times 2^112 (= 2^(127−15)) it is exact, subnormals included.
 */
export const P112: f32 = 5.192296858534828e33; // 2^112
@inline export function f16(h: u32): f32 {
  const mag = reinterpret<f32>((h & 0x7FFF) << 13) * P112;
  return reinterpret<f32>(reinterpret<u32>(mag) | ((h & 0x8000) << 16));
}

/** Values [j0, j1) of the block at b (0 ≤ j0 < j1 ≤ 32) to dst (value j0 first). */
function decodeBlock(dst: usize, b: usize, kind: i32, j0: i32, j1: i32): void {
  const d = f16(load<u16>(b));
  if (j0 == 0 && j1 == QB) {
    const dv = f32x4.splat(d);
    if (kind == 3) {
      for (let i = 0; i < QB; i += 8) {
        const h = v128.load8x8_s(b + 2 + <usize>i), at = dst + ((<usize>i) << 2);
        v128.store(at, f32x4.mul(f32x4.convert_i32x4_s(i32x4.extend_low_i16x8_s(h)), dv));
        v128.store(at, f32x4.mul(f32x4.convert_i32x4_s(i32x4.extend_high_i16x8_s(h)), dv), 16);
      }
    } else {
      const q = v128.load(b + 2), eight = i8x16.splat(8);
      const lo = i8x16.sub(v128.and(q, i8x16.splat(15)), eight), hi = i8x16.sub(i8x16.shr_u(q, 4), eight);
      putI8x16(dst, lo, dv);
      putI8x16(dst + 64, hi, dv);
    }
    return;
  }
  for (let j = j0; j < j1; j++) {
    let code: i32;
    if (kind == 3) code = <i32>load<i8>(b + 2 + <usize>j);
    else code = <i32>((load<u8>(b + 2 + <usize>(j & 15)) >> (j < 16 ? 0 : 4)) & 15) - 8;
    store<f32>(dst + ((<usize>(j - j0)) << 2), <f32>code * d);
  }
}

/** 16 int8 codes times d as 16 f32 at dst. */
@inline function putI8x16(dst: usize, q: v128, dv: v128): void {
  const a = i16x8.extend_low_i8x16_s(q), b = i16x8.extend_high_i8x16_s(q);
  v128.store(dst, f32x4.mul(f32x4.convert_i32x4_s(i32x4.extend_low_i16x8_s(a)), dv));
  v128.store(dst, f32x4.mul(f32x4.convert_i32x4_s(i32x4.extend_high_i16x8_s(a)), dv), 16);
  v128.store(dst, f32x4.mul(f32x4.convert_i32x4_s(i32x4.extend_low_i16x8_s(b)), dv), 32);
  v128.store(dst, f32x4.mul(f32x4.convert_i32x4_s(i32x4.extend_high_i16x8_s(b)), dv), 48);
}

/** dst[0 .. n) = W[row, c0 .. c0 + n) for a q8_0 / q4_0 W [*, C]: exact (code·d is exact in f32). */
export function decodeQuantRow(dst: usize, w: usize, kind: i32, C: i32, row: i32, c0: i32, n: i32): void {
  const bb = blockBytes(kind), rowAt = w + <usize>row * <usize>(C / QB) * bb;
  for (let c = c0; c < c0 + n;) {
    const blk = c / QB, j0 = c - blk * QB, j1 = min(QB, c0 + n - blk * QB);
    decodeBlock(dst + ((<usize>(c - c0)) << 2), rowAt + <usize>blk * bb, kind, j0, j1);
    c += j1 - j0;
  }
}
