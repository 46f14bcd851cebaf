// AssemblyScript matmul kernels over the heap's shared memory: out[t, o] = Σ_c x[t·xStride + c]·W[o, c], W f32, bf16,
// e4m3 with block scales, q8_0 or q4_0 (whose dot form is matmul-quant.as). build.mjs compiles this one source twice (SIMD128; SIMD128 + relaxed SIMD fused multiply-add).
// Threads: every export computes output columns [oStart, oEnd) (the pool splits OC) with its own scratch area.
// Leaves out: f16 weights and any allocation — every pointer is a heap byte offset.
//
// The file ends in .as so that tsc (which compiles all of src/) never sees it; build.mjs hands it to asc as matmul.ts.
// Shapes: T tokens, C input dim (the dot-product axis), OC output dim. Pointers are byte offsets, strides elements.
//   out [T, OC] f32 · x [T, xStride] f32 (first C of each row used) · w [OC, C] · scaleInv [ceil(OC/bm), ceil(C/bn)] f32
//   scratchBase: threads × scratchBytes() bytes, 16-byte aligned; thread t uses the t-th area.
//
// Two forms of the work:
// - Prefill (T ≥ DOT_T): C in blocks of KC; W in chunks of OB rows, widened to f32 (bf16, e4m3 decoded and scaled) into
//   scratch as panels of NR rows stored column by column ([KC][NR] f32, 12 KiB), the chunk (192 KiB) sized for L2.
//   Each group of MR = 3 tokens passes over every panel of the chunk with microkernel.as's 3 × 12 register tile.
// - Decode, verify passes and small batches (T < DOT_T): dot products along C over W in place, 4 rows at a time, each
//   row streamed front to back, each read of W serving a pair of tokens; bf16 widened and e4m3 decoded in registers (e4m3: x copied to scratch,
//   prescaled); horizontal sums once per K block (per scale block for e4m3).
// V8 11 (Node 20) shapes the code: TurboFan hoists every load of a basic block to its top and has 15 vector registers,
// so the tile loops are not unrolled (a step's loads plus the accumulators must fit), and it rebuilds a v128 constant
// at each use, so constant masks in loops are built from a runtime zero (ops-math.as, keepMask).

import { madd, hsum4, P120, e4m3x8, keepMask, magMask, lo16, hi16, e4m3raw, decodeQuantRow } from './ops-math';
import { dotQuant } from './matmul-quant';
import { NR, put4, tile3p, packRows3, tile1 } from './microkernel';

const KC: i32 = 256;     // C elements per K block
const MR: i32 = 3;       // tokens per register tile
const DOT_T: i32 = 32;   // fewer tokens than this take the dot form

/**
 * The dot form reads W once per pair of tokens; the packed form once in all, but widening and packing it costs more
 * than it saves for few tokens: at 3 tokens 2.5× for nano's 2 MiB f32 lm_head alone; for whole verify passes of a
 * 0.9 GB bf16 model that reads W from memory, 2.4× at 4 tokens and 2.1× at 16 (measured when this bound was set).
 */
@inline function dotWins(T: i32): bool { return T < DOT_T; }
const OB: i32 = 16 * NR; // W rows per chunk in the packed form: 192 rows × KC as f32 = 192 KiB
const OD: i32 = 16;      // W rows per chunk in the dot form: 16 × KC as f32 = 16 KiB, for L1
const PS: usize = NR * 4; // bytes from one packed column's element to the next column's

/** Bytes of scratch each call needs: one chunk of f32 panels, then one group of MR x rows packed for the tile. */
export function scratchBytes(): i32 { return OB * KC * 4 + MR * KC * 4; }

/** Each thread of a call owns one scratch area of scratchBytes() after `base`. */
@inline function scratchAt(base: usize, thread: i32): usize { return base + <usize>thread * <usize>scratchBytes(); }

// The dot form reads W in place, f32 or bf16 (W = u16 below): `wv` widens the four elements at byte offset kb of an
// f32 row (x's units) into one f32x4, `ws1` one element.

@inline function wv<W>(w: usize, kb: usize): v128 {
  if (sizeof<W>() == 4) return v128.load(w + kb);
  return i32x4.shl(v128.load16x4_u(w + (kb >> 1)), 16);
}

/**
 * The eight elements at byte offset kb (x's units) as two f32x4: bf16 in one load, widened by interleaving with zero
 * (a shuffle; the two widening loads and shifts of `wv` kept the single shift port busy).
 */
@inline function wlo<W>(w: usize, kb: usize): v128 {
  if (sizeof<W>() == 4) return v128.load(w + kb);
  return lo16(f32x4.splat(0), v128.load(w + (kb >> 1)));
}
@inline function whi<W>(w: usize, kb: usize): v128 {
  if (sizeof<W>() == 4) return v128.load(w + kb, 16);
  return hi16(f32x4.splat(0), v128.load(w + (kb >> 1)));
}

@inline function ws1<W>(w: usize, kb: usize): f32 {
  if (sizeof<W>() == 4) return load<f32>(w + kb);
  return reinterpret<f32>((<u32>load<u16>(w + (kb >> 1))) << 16);
}

/** Column k of four W rows (row stride ws bytes) as one vector. */
@inline function column4<W>(w: usize, ws: usize, kb: usize): v128 {
  let v = f32x4.splat(ws1<W>(w, kb));
  v = f32x4.replace_lane(v, 1, ws1<W>(w + ws, kb));
  v = f32x4.replace_lane(v, 2, ws1<W>(w + 2 * ws, kb));
  return f32x4.replace_lane(v, 3, ws1<W>(w + 3 * ws, kb));
}

/**
 * 1 token × 4 rows over kLen elements, one accumulator per row (the decode shape). W rows ws bytes apart. The same
 * arithmetic as each token of tile24, so a row's result does not depend on how many tokens share the call.
 */
function tile14<W>(out: usize, x: usize, w: usize, ws: usize, kLen: i32, acc: bool): void {
  let c0 = f32x4.splat(0), c1 = c0, c2 = c0, c3 = c0;
  const w1 = w + ws, w2 = w1 + ws, w3 = w2 + ws;
  const kv = (<usize>(kLen & ~3)) << 2;
  let kb: usize = 0;
  for (; kb < kv; kb += 16) {
    const a = v128.load(x + kb);
    c0 = madd(a, wv<W>(w, kb), c0); c1 = madd(a, wv<W>(w1, kb), c1);
    c2 = madd(a, wv<W>(w2, kb), c2); c3 = madd(a, wv<W>(w3, kb), c3);
  }
  let r = hsum4(c0, c1, c2, c3);
  for (; kb < (<usize>kLen) << 2; kb += 4) r = f32x4.add(r, f32x4.mul(v128.load32_splat(x + kb), column4<W>(w, ws, kb)));
  put4(out, r, acc);
}

/** One dot product of kLen elements (the rows left over after the 4-row tiles). */
function dot1<W>(out: usize, x: usize, w: usize, kLen: i32, acc: bool): void {
  let c = f32x4.splat(0);
  const kv = (<usize>(kLen & ~3)) << 2;
  for (let kb: usize = 0; kb < kv; kb += 16) c = madd(v128.load(x + kb), wv<W>(w, kb), c);
  let s = f32x4.extract_lane(c, 0) + f32x4.extract_lane(c, 1) + f32x4.extract_lane(c, 2) + f32x4.extract_lane(c, 3);
  for (let kb = kv; kb < (<usize>kLen) << 2; kb += 4) s += load<f32>(x + kb) * ws1<W>(w, kb);
  store<f32>(out, acc ? load<f32>(out) + s : s);
}

/** Dot form for one K block of oLen rows (ws bytes apart): out[t, o0 + o] (+)= Σ_k x[t, k]·w[o, k]. */
function rowsDot<W>(out: usize, x: usize, w: usize, ws: usize, T: i32, oLen: i32, o0: i32, OC: i32, xStride: i32, kLen: i32, acc: bool): void {
  const os = (<usize>OC) << 2, xs = (<usize>xStride) << 2, o4 = oLen & ~3, ot = out + ((<usize>o0) << 2);
  // Tokens in pairs share each read of W (a verify pass or a batch reads the weights T/2 times, not T times).
  let t = 0;
  for (; t + 2 <= T; t += 2) {
    const ott = ot + <usize>t * os, xt = x + <usize>t * xs;
    for (let o = 0; o < o4; o += 4) tile24<W>(ott + ((<usize>o) << 2), os, xt, xs, w + <usize>o * ws, ws, kLen, acc);
  }
  if (t < T) {
    const ott = ot + <usize>t * os, xt = x + <usize>t * xs;
    for (let o = 0; o < o4; o += 4) tile14<W>(ott + ((<usize>o) << 2), xt, w + <usize>o * ws, ws, kLen, acc);
  }
  for (t = 0; t < T; t++) {
    const ott = ot + <usize>t * os, xt = x + <usize>t * xs;
    for (let o = o4; o < oLen; o++) dot1<W>(ott + ((<usize>o) << 2), xt, w + <usize>o * ws, kLen, acc);
  }
}

/** 2 tokens (x rows xs bytes apart, out rows os apart) × 4 rows over kLen elements, one accumulator per pair. */
function tile24<W>(out: usize, os: usize, x: usize, xs: usize, w: usize, ws: usize, kLen: i32, acc: bool): void {
  let c0 = f32x4.splat(0), c1 = c0, c2 = c0, c3 = c0, d0 = c0, d1 = c0, d2 = c0, d3 = c0;
  const w1 = w + ws, w2 = w1 + ws, w3 = w2 + ws, x1 = x + xs;
  const kv = (<usize>(kLen & ~3)) << 2;
  let kb: usize = 0;
  for (; kb < kv; kb += 16) {
    const a = v128.load(x + kb), e = v128.load(x1 + kb);
    let v = wv<W>(w, kb); c0 = madd(a, v, c0); d0 = madd(e, v, d0);
    v = wv<W>(w1, kb); c1 = madd(a, v, c1); d1 = madd(e, v, d1);
    v = wv<W>(w2, kb); c2 = madd(a, v, c2); d2 = madd(e, v, d2);
    v = wv<W>(w3, kb); c3 = madd(a, v, c3); d3 = madd(e, v, d3);
  }
  let r = hsum4(c0, c1, c2, c3), q = hsum4(d0, d1, d2, d3);
  for (; kb < (<usize>kLen) << 2; kb += 4) {
    const col = column4<W>(w, ws, kb);
    r = f32x4.add(r, f32x4.mul(v128.load32_splat(x + kb), col));
    q = f32x4.add(q, f32x4.mul(v128.load32_splat(x1 + kb), col));
  }
  put4(out, r, acc);
  put4(out + os, q, acc);
}

/**
 * Packed form for one K block of one chunk of oLen rows, packed at p in panels of NR rows ([KC][NR] f32 each). The
 * tokens go in groups of MR; each group's x rows stay in L1 while it passes over every panel (the chunk is in L2).
 */
function packedRows(out: usize, x: usize, p: usize, T: i32, oLen: i32, o0: i32, OC: i32, xStride: i32, kLen: i32, acc: bool): void {
  const os = (<usize>OC) << 2, xs = (<usize>xStride) << 2, ps = <usize>(KC * NR * 4);
  let t = 0;
  const a = p + <usize>(OB * KC * 4);  // the group's x rows, packed for tile3p
  for (; t + MR <= T; t += MR) {
    const ot = out + <usize>t * os + ((<usize>o0) << 2);
    packRows3(a, x + <usize>t * xs, xs, kLen);
    for (let j = 0; j < oLen; j += NR) {
      const oj = ot + ((<usize>j) << 2), pj = p + <usize>(j / NR) * ps, n = min(NR, oLen - j);
      tile3p(oj, os, a, pj, kLen, acc, n);
    }
  }
  for (; t < T; t++) {
    const ot = out + <usize>t * os + ((<usize>o0) << 2), xt = x + <usize>t * xs;
    for (let j = 0; j < oLen; j += NR) tile1(ot + ((<usize>j) << 2), xt, p + <usize>(j / NR) * ps, kLen, acc, min(NR, oLen - j));
  }
}

// Packing: row r of a chunk goes to lane r % NR of panel r / NR, so consecutive elements of a row are PS bytes apart.

@inline function packedRow(scratch: usize, r: i32): usize {
  return scratch + <usize>((r / NR) * KC * NR * 4 + (r % NR) * 4);
}

/** Four consecutive row elements into their four packed columns. */
@inline function scatter4(dst: usize, v: v128): void {
  v128.store32_lane(dst, v, 0); v128.store32_lane(dst, v, 1, PS);
  v128.store32_lane(dst, v, 2, 2 * PS); v128.store32_lane(dst, v, 3, 3 * PS);
}

function fillF32(dst: usize, src: usize, n: i32): void {
  let i = 0;
  for (; i + 4 <= n; i += 4) scatter4(dst + <usize>i * PS, v128.load(src + ((<usize>i) << 2)));
  for (; i < n; i++) store<f32>(dst + <usize>i * PS, load<f32>(src + ((<usize>i) << 2)));
}

function fillBF16(dst: usize, src: usize, n: i32): void {
  let i = 0;
  for (; i + 4 <= n; i += 4) scatter4(dst + <usize>i * PS, i32x4.shl(v128.load16x4_u(src + ((<usize>i) << 1)), 16));
  for (; i < n; i++) store<u32>(dst + <usize>i * PS, (<u32>load<u16>(src + ((<usize>i) << 1))) << 16);
}

/** Rows past the matrix's end in its last panel: zeros, so the tile's unused lanes compute on plain numbers. */
function fillZero(dst: usize, n: i32): void {
  for (let i = 0; i < n; i++) store<f32>(dst + <usize>i * PS, 0);
}

/** A chunk (oLen rows, kLen columns) of an f32/bf16 W, rows ws bytes apart, packed into scratch. */
function packPanel(scratch: usize, src: usize, ws: usize, oLen: i32, kLen: i32, bf16: bool): void {
  const rows = (oLen + NR - 1) / NR * NR;
  for (let r = 0; r < rows; r++) {
    const dst = packedRow(scratch, r);
    if (r >= oLen) fillZero(dst, kLen);
    else if (bf16) fillBF16(dst, src + <usize>r * ws, kLen);
    else fillF32(dst, src + <usize>r * ws, kLen);
  }
}

/** out [T, OC] = x [T, xStride] (first C columns) · W^T, W f32 [OC, C]. */
export function matmulF32(out: usize, x: usize, w: usize, T: i32, C: i32, OC: i32, xStride: i32,
  scratchBase: usize, oStart: i32, oEnd: i32, thread: i32): void {
  const ws = (<usize>C) << 2, scratch = scratchAt(scratchBase, thread);
  if (dotWins(T)) { dotForm<f32>(out, x, w, ws, T, C, OC, xStride, oStart, oEnd); return; }
  for (let k0 = 0; k0 < C; k0 += KC) {
    const kLen = min(KC, C - k0), xk = x + ((<usize>k0) << 2);
    for (let o0 = oStart; o0 < oEnd; o0 += OB) {
      const oLen = min(OB, oEnd - o0);
      packPanel(scratch, w + <usize>o0 * ws + ((<usize>k0) << 2), ws, oLen, kLen, false);
      packedRows(out, xk, scratch, T, oLen, o0, OC, xStride, kLen, k0 > 0);
    }
  }
}

/** As matmulF32 with W bf16 [OC, C] (value = bits << 16 as f32). */
export function matmulBF16(out: usize, x: usize, w: usize, T: i32, C: i32, OC: i32, xStride: i32,
  scratchBase: usize, oStart: i32, oEnd: i32, thread: i32): void {
  const ws = (<usize>C) << 1, scratch = scratchAt(scratchBase, thread);
  if (dotWins(T)) { dotForm<u16>(out, x, w, ws, T, C, OC, xStride, oStart, oEnd); return; }
  for (let k0 = 0; k0 < C; k0 += KC) {
    const kLen = min(KC, C - k0), xk = x + ((<usize>k0) << 2);
    for (let o0 = oStart; o0 < oEnd; o0 += OB) {
      const oLen = min(OB, oEnd - o0);
      packPanel(scratch, w + <usize>o0 * ws + ((<usize>k0) << 1), ws, oLen, kLen, true);
      packedRows(out, xk, scratch, T, oLen, o0, OC, xStride, kLen, k0 > 0);
    }
  }
}

/**
 * Several matmuls in one pool call (the experts of an MoE layer), all with this call's C, OC, xStride and weight kind
 * (0 f32, 1 bf16, 2 e4m3, 3 q8_0, 4 q4_0). Task i is 9 i32 at tasks + 36·i: out, x, w, T, oStart, oEnd, scaleInv, bm, bn — columns
 * [oStart, oEnd) of out [T, OC] = x · W^T. A thread runs tasks [start, end).
 */
export function matmulTasks(tasks: usize, kind: i32, C: i32, OC: i32, xStride: i32, scratchBase: usize, start: i32, end: i32, thread: i32): void {
  for (let i = start; i < end; i++) {
    const r = tasks + <usize>i * 36;
    const out = load<u32>(r), x = load<u32>(r, 4), w = load<u32>(r, 8), T = load<i32>(r, 12), o0 = load<i32>(r, 16), o1 = load<i32>(r, 20);
    if (kind == 0) matmulF32(out, x, w, T, C, OC, xStride, scratchBase, o0, o1, thread);
    else if (kind == 1) matmulBF16(out, x, w, T, C, OC, xStride, scratchBase, o0, o1, thread);
    else if (kind >= 3) matmulQuant(out, x, w, kind, T, C, OC, xStride, scratchBase, o0, o1, thread);
    else matmulE4M3(out, x, w, T, C, OC, xStride, load<u32>(r, 24), load<i32>(r, 28), load<i32>(r, 32), scratchBase, o0, o1, thread);
  }
}

/** The dot form over f32 or bf16 W in place: row chunks outer, so each row streams from memory front to back. */
function dotForm<W>(out: usize, x: usize, w: usize, ws: usize, T: i32, C: i32, OC: i32, xStride: i32, oStart: i32, oEnd: i32): void {
  for (let o0 = oStart; o0 < oEnd; o0 += OD) {
    const oLen = min(OD, oEnd - o0), wo = w + <usize>o0 * ws;
    for (let k0 = 0; k0 < C; k0 += KC) {
      rowsDot<W>(out, x + ((<usize>k0) << 2), wo + <usize>k0 * sizeof<W>(), ws, T, oLen, o0, OC, xStride, min(KC, C - k0), k0 > 0);
    }
  }
}

/**
 * As matmulF32 with W e4m3fn [OC, C] and block scales: value = e4m3(code)·scaleInv[o / bm, c / bn].
 * scaleInv = 0 means no scales (factor 1).
 */
export function matmulE4M3(out: usize, x: usize, w: usize, T: i32, C: i32, OC: i32, xStride: i32,
  scaleInv: usize, bm: i32, bn: i32, scratchBase: usize, oStart: i32, oEnd: i32, thread: i32): void {
  const scratch = scratchAt(scratchBase, thread);
  if (dotWins(T)) { dotE4M3(out, x, w, T, C, OC, xStride, scaleInv, bm, bn, oStart, oEnd, scratch); return; }
  for (let k0 = 0; k0 < C; k0 += KC) {
    const kLen = min(KC, C - k0);
    for (let o0 = oStart; o0 < oEnd; o0 += OB) {
      const oLen = min(OB, oEnd - o0);
      decodePanel(scratch, w, C, o0, oLen, k0, kLen, scaleInv, bm, bn, oEnd >>> 31);
      packedRows(out, x + ((<usize>k0) << 2), scratch, T, oLen, o0, OC, xStride, kLen, k0 > 0);
    }
  }
}

// The dot form over e4m3 W reads the codes in place. Decoding them (e4m3x8 below) leaves each value divided by 2^120;
// rather than multiply every decoded weight back, x is copied into scratch times XF = 2^60 and each sum is multiplied
// by 2^60 (with the row's scale) at the end: x·2^60 times value·2^-120 is the product times 2^-60 with the same
// rounding, for any product above 2^-66 (smaller ones lose bits they could not have added to a sum anyway). Inputs
// with |x| ≥ 2^64 (x·2^60 would overflow) take factor 1 instead. Each decoded group of 8 codes serves all T ≤ 2 tokens.
const XF: f32 = 1.152921504606846976e18;   // 2^60
const XF_LIMIT: f32 = 1.8446744073709552e19; // 2^64

/**
 * out[t, o] (+)= Σ_c x[t, c]·e4m3(w[o, c])·scaleInv[o / bm, c / bn] for T < DOT_T tokens: x goes to scratch in chunks of
 * columns (times its factor), then 4 rows at a time are streamed front to back, one run of columns per scale block
 * (summed unscaled, then times the four rows' scales).
 */
function dotE4M3(out: usize, x: usize, w: usize, T: i32, C: i32, OC: i32, xStride: i32, scaleInv: usize, bm: i32, bn: i32,
  oStart: i32, oEnd: i32, scratch: usize): void {
  const os = (<usize>OC) << 2, run = scaleInv ? bn : C, sCols = scaleInv ? (C + bn - 1) / bn : 0;
  const chunk = min(C, ((OB * KC) / T) & ~7);  // x columns per chunk: T rows of it fill the scratch at most
  const keep = keepMask(oEnd >>> 31), mag = magMask(oEnd >>> 31);
  for (let k0 = 0; k0 < C; k0 += chunk) {
    const kn = min(chunk, C - k0), xs = (<usize>kn) << 2;
    const back = scaleX(scratch, x + ((<usize>k0) << 2), (<usize>xStride) << 2, T, kn);
    for (let o0 = oStart; o0 < oEnd; o0 += 4) {
      const rows = min(4, oEnd - o0), wo = w + <usize>o0 * <usize>C + <usize>k0, ot = out + ((<usize>o0) << 2);
      for (let k = 0; k < kn;) {
        const c = k0 + k, n = min(kn - k, (c / run + 1) * run - c), sc = c / run, acc = c > 0;
        const xk = scratch + ((<usize>k) << 2), wk = wo + <usize>k;
        if (rows == 4) {
          let sv = f32x4.splat(scaleAt(scaleInv, o0, sc, bm, sCols) * back);
          sv = f32x4.replace_lane(sv, 1, scaleAt(scaleInv, o0 + 1, sc, bm, sCols) * back);
          sv = f32x4.replace_lane(sv, 2, scaleAt(scaleInv, o0 + 2, sc, bm, sCols) * back);
          sv = f32x4.replace_lane(sv, 3, scaleAt(scaleInv, o0 + 3, sc, bm, sCols) * back);
          let t = 0;
          for (; t + 2 <= T; t += 2) tile24E4M3(ot + <usize>t * os, os, xk + <usize>t * xs, xs, wk, <usize>C, n, sv, acc, keep, mag);
          if (t < T) tile14E4M3(ot + <usize>t * os, xk + <usize>t * xs, wk, <usize>C, n, sv, acc, keep, mag);
        } else {
          for (let r = 0; r < rows; r++) {
            const s = scaleAt(scaleInv, o0 + r, sc, bm, sCols) * back, wr = wk + <usize>r * <usize>C;
            for (let t = 0; t < T; t++) dot1E4M3(ot + <usize>t * os + ((<usize>r) << 2), xk + <usize>t * xs, wr, n, s, acc, keep, mag);
          }
        }
        k += n;
      }
    }
  }
}

/** Copies kn columns of T rows of x (rows xs bytes apart) to dst (rows kn apart) times XF; returns what undoes it. */
function scaleX(dst: usize, x: usize, xs: usize, T: i32, kn: i32): f32 {
  let big = f32x4.splat(0);
  const k4 = kn & ~3;
  let top: f32 = 0;
  for (let t = 0; t < T; t++) {
    const xt = x + <usize>t * xs;
    for (let k = 0; k < k4; k += 4) big = f32x4.max(big, f32x4.abs(v128.load(xt + ((<usize>k) << 2))));
    for (let k = k4; k < kn; k++) top = max(top, abs(load<f32>(xt + ((<usize>k) << 2))));
  }
  top = max(top, max(max(f32x4.extract_lane(big, 0), f32x4.extract_lane(big, 1)), max(f32x4.extract_lane(big, 2), f32x4.extract_lane(big, 3))));
  const f: f32 = top < XF_LIMIT ? XF : 1;  // NaN compares false: factor 1, and NaN propagates either way
  const fv = f32x4.splat(f);
  for (let t = 0; t < T; t++) {
    const xt = x + <usize>t * xs, dt = dst + <usize>t * ((<usize>kn) << 2);
    for (let k = 0; k < k4; k += 4) v128.store(dt + ((<usize>k) << 2), f32x4.mul(v128.load(xt + ((<usize>k) << 2)), fv));
    for (let k = k4; k < kn; k++) store<f32>(dt + ((<usize>k) << 2), load<f32>(xt + ((<usize>k) << 2)) * f);
  }
  return P120 / f;
}

@inline function scaleAt(scaleInv: usize, o: i32, sc: i32, bm: i32, sCols: i32): f32 {
  return scaleInv ? load<f32>(scaleInv + ((<usize>((o / bm) * sCols + sc)) << 2)) : 1;
}

/** Four e4m3 codes of rows w, w + ws, … at u as one vector of their values / 2^120 (the scalar tails). */
@inline function column4E4M3(w: usize, ws: usize, u: usize): v128 {
  let col = f32x4.splat(e4m3raw(load<u8>(w + u)));
  col = f32x4.replace_lane(col, 1, e4m3raw(load<u8>(w + ws + u)));
  col = f32x4.replace_lane(col, 2, e4m3raw(load<u8>(w + 2 * ws + u)));
  return f32x4.replace_lane(col, 3, e4m3raw(load<u8>(w + 3 * ws + u)));
}

/** out[0..4] (+)= sv · Σ_k x[k]·raw(w[r, k]) for 4 rows ws bytes apart, n codes; x prescaled (scaleX). */
function tile14E4M3(out: usize, x: usize, w: usize, ws: usize, n: i32, sv: v128, acc: bool, keep: v128, mag: v128): void {
  let c0 = f32x4.splat(0), c1 = c0, c2 = c0, c3 = c0;
  const zero = f32x4.splat(0);
  const w1 = w + ws, w2 = w1 + ws, w3 = w2 + ws, n8 = n & ~7;
  let i = 0;
  for (; i < n8; i += 8) {
    const xb = x + ((<usize>i) << 2), a = v128.load(xb), e = v128.load(xb, 16);
    let h = e4m3x8(v128.load8x8_s(w + <usize>i), keep, mag);
    c0 = madd(a, lo16(zero, h), c0); c0 = madd(e, hi16(zero, h), c0);
    h = e4m3x8(v128.load8x8_s(w1 + <usize>i), keep, mag);
    c1 = madd(a, lo16(zero, h), c1); c1 = madd(e, hi16(zero, h), c1);
    h = e4m3x8(v128.load8x8_s(w2 + <usize>i), keep, mag);
    c2 = madd(a, lo16(zero, h), c2); c2 = madd(e, hi16(zero, h), c2);
    h = e4m3x8(v128.load8x8_s(w3 + <usize>i), keep, mag);
    c3 = madd(a, lo16(zero, h), c3); c3 = madd(e, hi16(zero, h), c3);
  }
  let r = hsum4(c0, c1, c2, c3);
  for (; i < n; i++) r = f32x4.add(r, f32x4.mul(v128.load32_splat(x + ((<usize>i) << 2)), column4E4M3(w, ws, <usize>i)));
  put4(out, f32x4.mul(r, sv), acc);
}

/** As tile14E4M3 for two tokens (x rows xs bytes apart, out rows os apart): each group of codes decoded once. */
function tile24E4M3(out: usize, os: usize, x: usize, xs: usize, w: usize, ws: usize, n: i32, sv: v128, acc: bool, keep: v128, mag: v128): void {
  let c0 = f32x4.splat(0), c1 = c0, c2 = c0, c3 = c0, d0 = c0, d1 = c0, d2 = c0, d3 = c0;
  const zero = f32x4.splat(0);
  const w1 = w + ws, w2 = w1 + ws, w3 = w2 + ws, x1 = x + xs, n8 = n & ~7;
  let i = 0;
  for (; i < n8; i += 8) {
    const xb = (<usize>i) << 2;
    let h = e4m3x8(v128.load8x8_s(w + <usize>i), keep, mag), l = lo16(zero, h), u = hi16(zero, h);
    c0 = madd(v128.load(x + xb, 16), u, madd(v128.load(x + xb), l, c0));
    d0 = madd(v128.load(x1 + xb, 16), u, madd(v128.load(x1 + xb), l, d0));
    h = e4m3x8(v128.load8x8_s(w1 + <usize>i), keep, mag); l = lo16(zero, h); u = hi16(zero, h);
    c1 = madd(v128.load(x + xb, 16), u, madd(v128.load(x + xb), l, c1));
    d1 = madd(v128.load(x1 + xb, 16), u, madd(v128.load(x1 + xb), l, d1));
    h = e4m3x8(v128.load8x8_s(w2 + <usize>i), keep, mag); l = lo16(zero, h); u = hi16(zero, h);
    c2 = madd(v128.load(x + xb, 16), u, madd(v128.load(x + xb), l, c2));
    d2 = madd(v128.load(x1 + xb, 16), u, madd(v128.load(x1 + xb), l, d2));
    h = e4m3x8(v128.load8x8_s(w3 + <usize>i), keep, mag); l = lo16(zero, h); u = hi16(zero, h);
    c3 = madd(v128.load(x + xb, 16), u, madd(v128.load(x + xb), l, c3));
    d3 = madd(v128.load(x1 + xb, 16), u, madd(v128.load(x1 + xb), l, d3));
  }
  let r = hsum4(c0, c1, c2, c3), q = hsum4(d0, d1, d2, d3);
  for (; i < n; i++) {
    const col = column4E4M3(w, ws, <usize>i), xb = (<usize>i) << 2;
    r = f32x4.add(r, f32x4.mul(v128.load32_splat(x + xb), col));
    q = f32x4.add(q, f32x4.mul(v128.load32_splat(x1 + xb), col));
  }
  put4(out, f32x4.mul(r, sv), acc);
  put4(out + os, f32x4.mul(q, sv), acc);
}

/** out[0] (+)= s · Σ_k x[k]·raw(w[k]) over n codes (the rows left over after the 4-row tiles); x prescaled. */
function dot1E4M3(out: usize, x: usize, w: usize, n: i32, s: f32, acc: bool, keep: v128, mag: v128): void {
  let c = f32x4.splat(0);
  const zero = f32x4.splat(0);
  const n8 = n & ~7;
  let i = 0;
  for (; i < n8; i += 8) {
    const xb = x + ((<usize>i) << 2), h = e4m3x8(v128.load8x8_s(w + <usize>i), keep, mag);
    c = madd(v128.load(xb), lo16(zero, h), c); c = madd(v128.load(xb, 16), hi16(zero, h), c);
  }
  let sum = f32x4.extract_lane(c, 0) + f32x4.extract_lane(c, 1) + f32x4.extract_lane(c, 2) + f32x4.extract_lane(c, 3);
  for (; i < n; i++) sum += load<f32>(x + ((<usize>i) << 2)) * e4m3raw(load<u8>(w + <usize>i));
  store<f32>(out, acc ? load<f32>(out) + sum * s : sum * s);
}

/** Rows o0 .. o0 + oLen, columns k0 .. k0 + kLen of an e4m3 W [*, C], dequantised and packed into scratch. */
function decodePanel(scratch: usize, w: usize, C: i32, o0: i32, oLen: i32, k0: i32, kLen: i32,
  scaleInv: usize, bm: i32, bn: i32, zero: i32): void {
  const keep = keepMask(zero), mag = magMask(zero);
  const sCols = scaleInv ? (C + bn - 1) / bn : 0, rows = (oLen + NR - 1) / NR * NR;
  for (let r = 0; r < rows; r++) {
    const o = o0 + r, dst = packedRow(scratch, r), src = w + <usize>o * <usize>C + <usize>k0;
    if (r >= oLen) { fillZero(dst, kLen); continue; }
    if (!scaleInv) { fillE4M3(dst, src, kLen, 1, keep, mag); continue; }
    // One run of columns per scale block that this K block touches.
    const srow = scaleInv + ((<usize>((o / bm) * sCols)) << 2);
    for (let k = 0; k < kLen;) {
      const c = k0 + k, end = min(kLen, (c / bn + 1) * bn - k0);
      fillE4M3(dst + <usize>k * PS, src + <usize>k, end - k, load<f32>(srow + ((<usize>(c / bn)) << 2)), keep, mag);
      k = end;
    }
  }
}

/** n codes from src, each times `scale`, into one packed row. */
function fillE4M3(dst: usize, src: usize, n: i32, scale: f32, keep: v128, mag: v128): void {
  const f = scale * P120;
  let i = 0;
  if (isFinite(f)) {
    const zero = f32x4.splat(0), sv = f32x4.splat(f);
    for (; i + 8 <= n; i += 8) {
      const h = e4m3x8(v128.load8x8_s(src + <usize>i), keep, mag);
      const lo = lo16(zero, h), hi = hi16(zero, h);
      const d = dst + <usize>i * PS;
      scatter4(d, f32x4.mul(lo, sv));
      scatter4(d + 4 * PS, f32x4.mul(hi, sv));
    }
  }
  for (; i < n; i++) store<f32>(dst + <usize>i * PS, e4m3(load<u8>(src + <usize>i)) * scale);
}

@inline function e4m3(code: u8): f32 { return e4m3raw(code) * P120; }

/**
 * As matmulF32 with W q8_0 (kind 3) or q4_0 (kind 4) [OC, C], C a multiple of 32 (layouts in ops-math.as). Under DOT_T
 * tokens, integer dot products over W in place (matmul-quant.as); otherwise each chunk's blocks decoded to f32 panels.
 */
export function matmulQuant(out: usize, x: usize, w: usize, kind: i32, T: i32, C: i32, OC: i32, xStride: i32,
  scratchBase: usize, oStart: i32, oEnd: i32, thread: i32): void {
  const scratch = scratchAt(scratchBase, thread);
  if (dotWins(T)) { dotQuant(out, x, w, kind, T, C, OC, xStride, oStart, oEnd, scratch, scratchBytes()); return; }
  // A row's K block is decoded to the x-group area first (free until packedRows packs x there), then packed.
  const row = scratch + <usize>(OB * KC * 4);
  for (let k0 = 0; k0 < C; k0 += KC) {
    const kLen = min(KC, C - k0);
    for (let o0 = oStart; o0 < oEnd; o0 += OB) {
      const oLen = min(OB, oEnd - o0), rows = (oLen + NR - 1) / NR * NR;
      for (let r = 0; r < rows; r++) {
        const dst = packedRow(scratch, r);
        if (r >= oLen) { fillZero(dst, kLen); continue; }
        decodeQuantRow(row, w, kind, C, o0 + r, k0, kLen);
        fillF32(dst, row, kLen);
      }
      packedRows(out, x + ((<usize>k0) << 2), scratch, T, oLen, o0, OC, xStride, kLen, k0 > 0);
    }
  }
}
