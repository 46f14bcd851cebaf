// The register-tiled core of every GEMM-shaped kernel (matmul.as, backward-matmul.as, attention.as's latent decode):
// out (+)= A · P for up to 3 rows of A × 12 columns, with P packed as a panel [k][12] f32. Per k: 3 vector loads of
// the panel, 3 broadcasts of A, 9 multiply-adds into 9 accumulators. A's rows are read in place (tile3: rows with k
// contiguous, anywhere) or packed k-major (tile3p, for callers that reuse a row group over many panels); packPanels
// builds panels from a row-major B. Not a module export (kernels.as re-exports none of it). Leaves out wider tiles
// and unrolling: TurboFan (V8 11) has 15 vector registers, and a step unrolled twice spilled registers and ran slower.

import { madd } from './ops-math';

/** Columns of a panel and of a register tile. */
export const NR: i32 = 12;

/** Writes (acc = false) or adds (acc = true) one vector of four outputs. */
@inline export function put4(out: usize, v: v128, acc: bool): void {
  v128.store(out, acc ? f32x4.add(v128.load(out), v) : v);
}

@inline function putLane(out: usize, v: f32, acc: bool): void { store<f32>(out, acc ? load<f32>(out) + v : v); }

/** The first n (≤ 4) of four outputs. */
function putN(out: usize, v: v128, n: i32, acc: bool): void {
  if (n >= 4) { put4(out, v, acc); return; }
  if (n > 0) putLane(out, f32x4.extract_lane(v, 0), acc);
  if (n > 1) putLane(out + 4, f32x4.extract_lane(v, 1), acc);
  if (n > 2) putLane(out + 8, f32x4.extract_lane(v, 2), acc);
}

/** The first n (≤ 12) of twelve outputs [v0 | v1 | v2]. */
function put12(out: usize, v0: v128, v1: v128, v2: v128, n: i32, acc: bool): void {
  putN(out, v0, n, acc);
  if (n > 4) putN(out + 16, v1, n - 4, acc);
  if (n > 8) putN(out + 32, v2, n - 8, acc);
}

/**
 * 3 rows × 12 columns over kLen: x at row 0's first k (each row's k contiguous f32), rows xs bytes apart; p at the
 * panel; out at (row 0, first column), rows os bytes apart; the first n of the 12 columns are written or added to (acc).
 * One induction variable addresses both x and the panel (a second one ran slower on prefill shapes).
 */
export function tile3(out: usize, os: usize, x: usize, xs: usize, p: usize, kLen: i32, acc: bool, n: i32): void {
  let c00 = f32x4.splat(0), c01 = c00, c02 = c00, c10 = c00, c11 = c00, c12 = c00, c20 = c00, c21 = c00, c22 = c00;
  const x1 = x + xs, x2 = x1 + xs, kEnd = (<usize>kLen) << 2;
  for (let kb: usize = 0; kb < kEnd; kb += 4) {
    const q = p + kb * 12, b0 = v128.load(q), b1 = v128.load(q, 16), b2 = v128.load(q, 32);
    let a = v128.load32_splat(x + kb);
    c00 = madd(a, b0, c00); c01 = madd(a, b1, c01); c02 = madd(a, b2, c02);
    a = v128.load32_splat(x1 + kb);
    c10 = madd(a, b0, c10); c11 = madd(a, b1, c11); c12 = madd(a, b2, c12);
    a = v128.load32_splat(x2 + kb);
    c20 = madd(a, b0, c20); c21 = madd(a, b1, c21); c22 = madd(a, b2, c22);
  }
  put12(out, c00, c01, c02, n, acc); put12(out + os, c10, c11, c12, n, acc); put12(out + 2 * os, c20, c21, c22, n, acc);
}

/**
 * As tile3 with the three rows packed: a holds [kLen][3] f32 (k-major, 12 bytes per k). Two pointers advance and
 * every load has a constant offset, so V8 emits about 22 instructions per step instead of 31 (in tile3 it recomputes
 * each row's address), and prefill-shaped matmuls run faster for it.
 */
export function tile3p(out: usize, os: usize, a: usize, p: usize, kLen: i32, acc: bool, n: i32): void {
  let c00 = f32x4.splat(0), c01 = c00, c02 = c00, c10 = c00, c11 = c00, c12 = c00, c20 = c00, c21 = c00, c22 = c00;
  const pEnd = p + <usize>kLen * 48;
  let s = a;
  for (let q = p; q < pEnd; q += 48) {
    const b0 = v128.load(q), b1 = v128.load(q, 16), b2 = v128.load(q, 32);
    let x = v128.load32_splat(s);
    c00 = madd(x, b0, c00); c01 = madd(x, b1, c01); c02 = madd(x, b2, c02);
    x = v128.load32_splat(s, 4);
    c10 = madd(x, b0, c10); c11 = madd(x, b1, c11); c12 = madd(x, b2, c12);
    x = v128.load32_splat(s, 8);
    c20 = madd(x, b0, c20); c21 = madd(x, b1, c21); c22 = madd(x, b2, c22);
    s += 12;
  }
  put12(out, c00, c01, c02, n, acc); put12(out + os, c10, c11, c12, n, acc); put12(out + 2 * os, c20, c21, c22, n, acc);
}

/** Three rows of kLen f32 (rows xs bytes apart) packed k-major for tile3p: dst[k][i] = row_i[k]. */
export function packRows3(dst: usize, x: usize, xs: usize, kLen: i32): void {
  const x1 = x + xs, x2 = x1 + xs;
  for (let k = 0; k < kLen; k++) {
    const kb = (<usize>k) << 2, d = dst + <usize>k * 12;
    store<f32>(d, load<f32>(x + kb)); store<f32>(d, load<f32>(x1 + kb), 4); store<f32>(d, load<f32>(x2 + kb), 8);
  }
}

/** Four elements at src as f32 (W = f32, or u16 for bf16: value = bits << 16). */
@inline function load4<W>(src: usize): v128 {
  if (sizeof<W>() == 4) return v128.load(src);
  return i32x4.shl(v128.load16x4_u(src), 16);
}

@inline function load1<W>(src: usize): f32 {
  if (sizeof<W>() == 4) return load<f32>(src);
  return reinterpret<f32>((<u32>load<u16>(src)) << 16);
}

/**
 * Packs kLen rows × nLen columns of B (rows bs bytes apart, element type W) into panels of NR columns at p, ps bytes
 * apart; a panel row is one 48-byte copy of B's row, and columns past nLen in the last panel are zero.
 */
export function packPanels<W>(p: usize, ps: usize, b: usize, bs: usize, kLen: i32, nLen: i32): void {
  const full = nLen / NR, es = <usize>sizeof<W>();
  for (let k = 0; k < kLen; k++) {
    const src = b + <usize>k * bs, dst = p + <usize>k * 48;
    for (let j = 0; j < full; j++) {
      const s = src + <usize>(j * NR) * es, d = dst + <usize>j * ps;
      v128.store(d, load4<W>(s)); v128.store(d, load4<W>(s + 4 * es), 16); v128.store(d, load4<W>(s + 8 * es), 32);
    }
    const rest = nLen - full * NR;
    if (rest > 0) {
      const s = src + <usize>(full * NR) * es, d = dst + <usize>full * ps;
      for (let c = 0; c < NR; c++) store<f32>(d + <usize>c * 4, c < rest ? load1<W>(s + <usize>c * es) : 0);
    }
  }
}

/** 1 row × 12 columns (the rows left after the 3-row tiles). */
export function tile1(out: usize, x: usize, p: usize, kLen: i32, acc: bool, n: i32): void {
  let c0 = f32x4.splat(0), c1 = c0, c2 = c0;
  const kEnd = (<usize>kLen) << 2;
  for (let kb: usize = 0; kb < kEnd; kb += 4) {
    const q = p + kb * 12, a = v128.load32_splat(x + kb);
    c0 = madd(a, v128.load(q), c0); c1 = madd(a, v128.load(q, 16), c1); c2 = madd(a, v128.load(q, 32), c2);
  }
  put12(out, c0, c1, c2, n, acc);
}
