// The ceilings kernels are measured against. fmaChains: the f32x4 multiply-add ceiling every f32 kernel is measured
// against: ten independent accumulator chains on registers (no loads or stores in the loop), so the time is the
// core's multiply-add throughput alone — fused in the relaxed-SIMD build, a mul and an add in the plain-SIMD one.
// readChunks: the read bandwidth a memory-bound decode is measured against, one pass over a buffer.

import { madd } from './ops-math';

/**
 * Items [start, end) of `n` iterations each, every iteration one multiply-add on each of the ten chains (80 flops);
 * the chains' sum is stored at scratch + thread·scratchStride so that no compiler can drop the work.
 */
export function fmaChains(n: i32, seed: f32, scratch: usize, scratchStride: i32, start: i32, end: i32, thread: i32): void {
  let a0 = f32x4.splat(seed), a1 = f32x4.splat(seed + 1), a2 = f32x4.splat(seed + 2), a3 = f32x4.splat(seed + 3);
  let a4 = f32x4.splat(seed + 4), a5 = f32x4.splat(seed + 5), a6 = f32x4.splat(seed + 6), a7 = f32x4.splat(seed + 7);
  let a8 = f32x4.splat(seed + 8), a9 = f32x4.splat(seed + 9);
  const m = f32x4.splat(0.999999), c = f32x4.splat(0.000001);
  for (let item = start; item < end; item++) {
    for (let i = 0; i < n; i++) {
      a0 = madd(a0, m, c); a1 = madd(a1, m, c); a2 = madd(a2, m, c); a3 = madd(a3, m, c); a4 = madd(a4, m, c);
      a5 = madd(a5, m, c); a6 = madd(a6, m, c); a7 = madd(a7, m, c); a8 = madd(a8, m, c); a9 = madd(a9, m, c);
    }
  }
  const s = f32x4.add(f32x4.add(f32x4.add(a0, a1), f32x4.add(a2, a3)), f32x4.add(f32x4.add(a4, a5), f32x4.add(a6, a7)));
  v128.store(scratch + <usize>thread * <usize>scratchStride, f32x4.add(s, f32x4.add(a8, a9)));
}

/** Bytes per item of readChunks. */
const READ_CHUNK: i32 = 1 << 20;

/**
 * Reads chunks [start, end) of READ_CHUNK bytes from `base` with 16-byte loads into four independent xor chains (a
 * load per instruction, nothing else in the loop), storing the result at scratch + thread·scratchStride so that no
 * compiler can drop the reads.
 */
export function readChunks(base: usize, scratch: usize, scratchStride: i32, start: i32, end: i32, thread: i32): void {
  let a = i32x4.splat(0), b = i32x4.splat(0), c = i32x4.splat(0), d = i32x4.splat(0);
  for (let item = start; item < end; item++) {
    const p0 = base + <usize>item * <usize>READ_CHUNK;
    for (let p = p0; p < p0 + <usize>READ_CHUNK; p += 64) {
      a = v128.xor(a, v128.load(p)); b = v128.xor(b, v128.load(p, 16));
      c = v128.xor(c, v128.load(p, 32)); d = v128.xor(d, v128.load(p, 48));
    }
  }
  v128.store(scratch + <usize>thread * <usize>scratchStride, v128.xor(v128.xor(a, b), v128.xor(c, d)));
}
