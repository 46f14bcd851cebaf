// AssemblyScript twin of ref/matmul-low-acc.ts, bit-identical to it: out[m, n] = Σ_k a[m, k]·b[n, k] with an
// accumulator of 14 significant bits (low 10 bits of the f32 pattern cleared after every addition, no promotion) into
// which each group of 4 consecutive k arrives as one f32 sum. SIMD runs across 4 outputs n..n+3 of one row, each lane
// doing exactly the reference's sequence: p_k = f32(a·b), g = ((p0 + p1) + p2) + p3 in f32, acc = truncate(f32(acc +
// g)) (a separate multiply and add: no fused multiply-add even in the relaxed build). A truncated sum cannot be
// reordered, so only the loops around it are tiled. Leaves out wider tiles: a 4 × 8 tile measured no faster under the
// earlier per-product truncation (each accumulator's add-and-mask chain, not the loads, set the pace then).
//
// Shapes: a [M, K], b [N, K], out [M, N], all f32 and row-major. Threads split the columns n ∈ [start, end) in
// multiples of 4, so their outputs are disjoint. Per thread: K in blocks of KC (a multiple of 4, so groups never
// straddle blocks), b's columns in chunks of NB packed into
// scratch as panels [KC][4] (b transposed 4 columns at a time); each group of 4 rows of a is packed the same way
// (k-major) and passes over every panel of the chunk as a 4 × 4 register tile.
// Between K blocks a tile's accumulators rest in out: the accumulator is an f32 after each step, so storing and
// reloading it changes nothing.

const KC: i32 = 256;                           // k per block (a multiple of the group, 4)
const NB: i32 = 64;                            // columns per packed chunk: 16 panels
const PANEL: usize = <usize>(KC * 4 * 4);      // one panel: KC × 4 f32 = 4 KiB; a chunk is 64 KiB of scratch, then
                                               // 4 rows of a packed the same way (4 KiB)

/** Bytes of per-thread scratch matmulLowAcc needs (a test checks it fits the backend's). */
export function lowAccScratchBytes(): i32 { return NB * KC * 4 + KC * 16; }

/** One accumulation into four lanes: truncate(f32(acc + g)), truncate clearing the low 10 bits (-1024 = 0xfffffc00). */
@inline function settle(acc: v128, g: v128): v128 {
  return v128.and(f32x4.add(acc, g), i32x4.splat(-1024));
}

/** A full group's sum for one row: a's 4 values at x, xs bytes apart, times b's 4 k-vectors, left to right in f32. */
@inline function group4(x: usize, xs: usize, b0: v128, b1: v128, b2: v128, b3: v128): v128 {
  let g = f32x4.mul(v128.load32_splat(x), b0);
  g = f32x4.add(g, f32x4.mul(v128.load32_splat(x + xs), b1));
  g = f32x4.add(g, f32x4.mul(v128.load32_splat(x + 2 * xs), b2));
  return f32x4.add(g, f32x4.mul(v128.load32_splat(x + 3 * xs), b3));
}

/** A short last group (n of 1..3 k) for one row: a's values at x, xs bytes apart, b's k-vectors at p, 16 bytes apart. */
function groupTail(x: usize, xs: usize, p: usize, n: i32): v128 {
  let g = f32x4.mul(v128.load32_splat(x), v128.load(p));
  for (let i = 1; i < n; i++) g = f32x4.add(g, f32x4.mul(v128.load32_splat(x + <usize>i * xs), v128.load(p + (<usize>i << 4))));
  return g;
}

/** The first n (≤ 4) of four outputs at p; lanes past n are 0. */
function get4(p: usize, n: i32): v128 {
  if (n >= 4) return v128.load(p);
  let v = f32x4.splat(0);
  if (n > 0) v = f32x4.replace_lane(v, 0, load<f32>(p));
  if (n > 1) v = f32x4.replace_lane(v, 1, load<f32>(p, 4));
  if (n > 2) v = f32x4.replace_lane(v, 2, load<f32>(p, 8));
  return v;
}

/** Stores the first n (≤ 4) lanes of v at p. */
function put4(p: usize, v: v128, n: i32): void {
  if (n >= 4) { v128.store(p, v); return; }
  if (n > 0) store<f32>(p, f32x4.extract_lane(v, 0));
  if (n > 1) store<f32>(p, f32x4.extract_lane(v, 1), 4);
  if (n > 2) store<f32>(p, f32x4.extract_lane(v, 2), 8);
}

/** Packs kLen values (from k0) of b's columns c0 .. c0 + nLen as panels [kLen][4]; a last panel's missing lanes are 0. */
function packPanels(p: usize, b: usize, K: i32, k0: i32, kLen: i32, c0: i32, nLen: i32): void {
  const panels = (nLen + 3) >> 2;
  for (let j = 0; j < panels; j++) {
    const dst = p + <usize>j * PANEL;
    for (let lane = 0; lane < 4; lane++) {
      const c = j * 4 + lane, d = dst + (<usize>lane << 2);
      if (c < nLen) {
        const src = b + ((<usize>(c0 + c) * <usize>K + <usize>k0) << 2);
        for (let k = 0; k < kLen; k++) store<f32>(d + (<usize>k << 4), load<f32>(src + (<usize>k << 2)));
      } else {
        for (let k = 0; k < kLen; k++) store<f32>(d + (<usize>k << 4), 0);
      }
    }
  }
}

/** Copies kLen values of 4 rows of a (at x, rows xs bytes apart, k contiguous) to p, k-major: [kLen][4]. */
function packRows4(p: usize, x: usize, xs: usize, kLen: i32): void {
  for (let r = 0; r < 4; r++) {
    const src = x + <usize>r * xs, dst = p + (<usize>r << 2);
    for (let k = 0; k < kLen; k++) store<f32>(dst + (<usize>k << 4), load<f32>(src + (<usize>k << 2)));
  }
}

/**
 * 4 rows × 4 columns over kLen: x the 4 rows packed k-major ([kLen][4], packRows4), p the panel ([kLen][4]), out at
 * (row 0, first column), rows os bytes apart; the first n columns are continued from out (first = false) or begun at
 * +0, and written back. One offset addresses both x and p, every load at a constant displacement from it.
 */
function tile4(out: usize, os: usize, x: usize, p: usize, kLen: i32, first: bool, n: i32): void {
  const o1 = out + os, o2 = o1 + os, o3 = o2 + os;
  let c0 = f32x4.splat(0), c1 = c0, c2 = c0, c3 = c0;
  if (!first) { c0 = get4(out, n); c1 = get4(o1, n); c2 = get4(o2, n); c3 = get4(o3, n); }
  const kFull = (<usize>(kLen & ~3)) << 4;
  for (let kb: usize = 0; kb < kFull; kb += 64) {
    const pk = p + kb, xk = x + kb;
    const b0 = v128.load(pk), b1 = v128.load(pk, 16), b2 = v128.load(pk, 32), b3 = v128.load(pk, 48);
    c0 = settle(c0, group4(xk, 16, b0, b1, b2, b3));
    c1 = settle(c1, group4(xk + 4, 16, b0, b1, b2, b3));
    c2 = settle(c2, group4(xk + 8, 16, b0, b1, b2, b3));
    c3 = settle(c3, group4(xk + 12, 16, b0, b1, b2, b3));
  }
  const rest = kLen & 3;
  if (rest > 0) {
    const pk = p + kFull, xk = x + kFull;
    c0 = settle(c0, groupTail(xk, 16, pk, rest));
    c1 = settle(c1, groupTail(xk + 4, 16, pk, rest));
    c2 = settle(c2, groupTail(xk + 8, 16, pk, rest));
    c3 = settle(c3, groupTail(xk + 12, 16, pk, rest));
  }
  put4(out, c0, n); put4(o1, c1, n); put4(o2, c2, n); put4(o3, c3, n);
}

/** As tile4 for one row. */
function tile1(out: usize, x: usize, p: usize, kLen: i32, first: bool, n: i32): void {
  let c = first ? f32x4.splat(0) : get4(out, n);
  const kFull = kLen & ~3;
  for (let k = 0; k < kFull; k += 4) {
    const pk = p + (<usize>k << 4);
    c = settle(c, group4(x + (<usize>k << 2), 4, v128.load(pk), v128.load(pk, 16), v128.load(pk, 32), v128.load(pk, 48)));
  }
  if ((kLen & 3) > 0) c = settle(c, groupTail(x + (<usize>kFull << 2), 4, p + (<usize>kFull << 4), kLen & 3));
  put4(out, c, n);
}

/** out [M, N] = a [M, K] · b [N, K]ᵀ with the 14-bit accumulator fed groups of 4 products, columns n ∈ [start, end) (a multiple of 4 apart). */
export function matmulLowAcc(out: usize, a: usize, b: usize, M: i32, N: i32, K: i32,
  scratchBase: usize, scratchBytes: i32, start: i32, end: i32, thread: i32): void {
  const scratch = scratchBase + <usize>thread * <usize>scratchBytes, apack = scratch + <usize>(NB / 4) * PANEL;
  const os = (<usize>N) << 2, ar = (<usize>K) << 2;
  if (K == 0) { // an empty sum: +0
    for (let m = 0; m < M; m++) for (let n = start; n < end; n++) store<f32>(out + <usize>m * os + (<usize>n << 2), 0);
    return;
  }
  for (let c0 = start; c0 < end; c0 += NB) {
    const nLen = min(NB, end - c0), panels = (nLen + 3) >> 2;
    for (let k0 = 0; k0 < K; k0 += KC) {
      const kLen = min(KC, K - k0), first = k0 == 0;
      packPanels(scratch, b, K, k0, kLen, c0, nLen);
      const ak = a + ((<usize>k0) << 2);
      let m = 0;
      for (; m + 4 <= M; m += 4) {
        const om = out + <usize>m * os + ((<usize>c0) << 2);
        packRows4(apack, ak + <usize>m * ar, ar, kLen);
        for (let j = 0; j < panels; j++) tile4(om + <usize>(j << 4), os, apack, scratch + <usize>j * PANEL, kLen, first, min(4, nLen - 4 * j));
      }
      for (; m < M; m++) {
        const om = out + <usize>m * os + ((<usize>c0) << 2), am = ak + <usize>m * ar;
        for (let j = 0; j < panels; j++) tile1(om + <usize>(j << 4), am, scratch + <usize>j * PANEL, kLen, first, min(4, nLen - 4 * j));
      }
    }
  }
}
