// AssemblyScript backward of the matmul, both halves as one accumulating GEMM: out[i, n] += Σ_k A[i, k]·B[k, n].
//   dx [T, C] += dout [T, OC] · W [OC, C]     (i = t, k = o, n = c; W f32 or bf16; threads split C)
//   dw [OC, C] += doutᵀ [OC, T] · x [T, C]    (i = o, k = t, n = c; threads split OC)
// so no two threads ever write the same memory. Leaves out e4m3/f16 W (the reference path) and any allocation.
//
// Shapes: T tokens, C input dim, OC output dim. Pointers are heap byte offsets; strides are elements unless named *s
// (bytes). scratchBase: threads × scratch bytes (backend.scratchBytes ≥ backwardScratchBytes()); thread t uses area t.
//
// The work, per thread: K in blocks of KC; B's block in chunks of NB columns, packed into scratch as panels of NR
// columns ([KC][NR] f32, 12 KiB; B's rows are contiguous there, so a panel row is one 48-byte copy). Each group of
// MR = 3 rows of A passes over every panel of the chunk (in L2) with microkernel.as's 3 × 12 register tile. A's three
// rows are read in place when their k runs along memory (dx: dout rows); for dw, A = doutᵀ has k strided by OC, so
// each group's three rows are first copied, contiguous, next to the panels (a column of dout read 256 times at a
// 4 KiB stride would thrash one L1 set).

import { NR, tile3, tile1, packPanels } from './microkernel';

const KC: i32 = 256;        // k per block
const MR: i32 = 3;          // rows of A per register tile
const NB: i32 = 15 * NR;    // columns per packed chunk: 180 × KC f32 = 180 KiB
const PANEL: usize = <usize>(KC * NR * 4);
const APACK: usize = <usize>(NB * KC * 4);   // offset of the packed A rows: 3 × KC f32 (4 KiB reserved)

/** Bytes of per-thread scratch the backward kernels need. */
export function backwardScratchBytes(): i32 { return NB * KC * 4 + KC * 16; }

/** Copies kLen values of up to 3 A rows (rows ar bytes apart, k ak bytes apart) to p as contiguous rows KC apart. */
function packA(p: usize, a: usize, ar: usize, ak: usize, rows: i32, kLen: i32): void {
  // k outer: the rows' values at one k share a cache line, read once.
  for (let k = 0; k < kLen; k++) {
    const s = a + <usize>k * ak, d = p + ((<usize>k) << 2);
    for (let r = 0; r < rows; r++) store<f32>(d + <usize>(r * KC * 4), load<f32>(s + <usize>r * ar));
  }
}

/**
 * out[i, n] += Σ_k A[i, k]·B[k, n] for i in [i0, i1), n in [n0, n1), k in [0, K). A(i, k) at a + i·ar + k·ak, B(k, n)
 * at b + k·bs + n·sizeof(W), out(i, n) at out + i·os + n·4. packRows (needed unless ak = 4): copy each 3-row group of A
 * to contiguous rows before its tiles.
 */
function gemmAcc<W>(out: usize, os: usize, a: usize, ar: usize, ak: usize, b: usize, bs: usize,
  i0: i32, i1: i32, n0: i32, n1: i32, K: i32, scratch: usize, packRows: bool): void {
  const es = <usize>sizeof<W>();
  for (let k0 = 0; k0 < K; k0 += KC) {
    const kLen = min(KC, K - k0), ak0 = a + <usize>k0 * ak;
    for (let c0 = n0; c0 < n1; c0 += NB) {
      const nLen = min(NB, n1 - c0), panels = (nLen + NR - 1) / NR;
      packPanels<W>(scratch, PANEL, b + <usize>k0 * bs + <usize>c0 * es, bs, kLen, nLen);
      let i = i0;
      for (; i + MR <= i1; i += MR) {
        const oi = out + <usize>i * os + ((<usize>c0) << 2);
        let ai = ak0 + <usize>i * ar, air = ar;
        if (packRows) { packA(scratch + APACK, ai, ar, ak, MR, kLen); ai = scratch + APACK; air = <usize>(KC * 4); }
        for (let j = 0; j < panels; j++) {
          tile3(oi + <usize>(j * NR * 4), os, ai, air, scratch + <usize>j * PANEL, kLen, true, min(NR, nLen - j * NR));
        }
      }
      for (; i < i1; i++) {
        const oi = out + <usize>i * os + ((<usize>c0) << 2);
        let ai = ak0 + <usize>i * ar;
        if (packRows) { packA(scratch + APACK, ai, ar, ak, 1, kLen); ai = scratch + APACK; }
        for (let j = 0; j < panels; j++) {
          tile1(oi + <usize>(j * NR * 4), ai, scratch + <usize>j * PANEL, kLen, true, min(NR, nLen - j * NR));
        }
      }
    }
  }
}

@inline function scratchAt(base: usize, scratchBytes: i32, thread: i32): usize {
  return base + <usize>thread * <usize>scratchBytes;
}

/** dx [T, xStride] (first C columns) += dout [T, OC] · W [OC, C], W f32. Threads split the columns c ∈ [start, end). */
export function matmulBackwardDxF32(dx: usize, dout: usize, w: usize, T: i32, C: i32, OC: i32, xStride: i32,
  scratchBase: usize, scratchBytes: i32, start: i32, end: i32, thread: i32): void {
  gemmAcc<f32>(dx, (<usize>xStride) << 2, dout, (<usize>OC) << 2, 4, w, (<usize>C) << 2, 0, T, start, end, OC,
    scratchAt(scratchBase, scratchBytes, thread), false);
}

/** As matmulBackwardDxF32 with W bf16 [OC, C]. */
export function matmulBackwardDxBF16(dx: usize, dout: usize, w: usize, T: i32, C: i32, OC: i32, xStride: i32,
  scratchBase: usize, scratchBytes: i32, start: i32, end: i32, thread: i32): void {
  gemmAcc<u16>(dx, (<usize>xStride) << 2, dout, (<usize>OC) << 2, 4, w, (<usize>C) << 1, 0, T, start, end, OC,
    scratchAt(scratchBase, scratchBytes, thread), false);
}

/** dw [OC, C] += doutᵀ · x, dout [T, OC], x [T, xStride] (first C columns). Threads split the rows o ∈ [start, end). */
export function matmulBackwardDw(dw: usize, dout: usize, x: usize, T: i32, C: i32, OC: i32, xStride: i32,
  scratchBase: usize, scratchBytes: i32, start: i32, end: i32, thread: i32): void {
  gemmAcc<f32>(dw, (<usize>C) << 2, dout, 4, (<usize>OC) << 2, x, (<usize>xStride) << 2, start, end, 0, C, T,
    scratchAt(scratchBase, scratchBytes, thread), true);
}
