// The wasm MLA ops: flash prefill over the cache, the absorbed decode (W_UK into the queries, attention over the latent
// cache, W_UV on the context). kv_b_proj in a weight arena (weights over 4 GiB) is read there, its activations staged.

import type { CacheRows } from '../backend.js';
import type { Tensor } from '../../tensor/tensor.js';
import { i32 } from '../../tensor/tensor.js';
import { refBackend } from '../ref/index.js';
import { copyBytes } from './arenas.js';
import type { WasmContext } from './context.js';
import { grainFor } from './context.js';
import { allF32, kindOf, weightArgs } from './weight-args.js';

/** Queries per attention tile, latent columns per absorb-query item, W_UV rows per absorb-output item (attention.as). */
const QT = 4, RC = 64, JC = 16;

export function createAttentionOps(cx: WasmContext) {
  const { run, scratchBytes } = cx;
  const grain = (work: number) => grainFor(cx, work);
  const flashBytes = (dA: number, dB: number, dv: number) => cx.query('flashScratchBytes', dA, dB, dv);
  const latentBytes = (G: number, R: number, dr: number) => cx.query('latentDecodeScratchBytes', G, R, dr);

  function mlaAttention(out: Tensor, q: Tensor, kv: Tensor, pool: Tensor, poolStart: number,
    T: number, S: number, past: number, H: number, dn: number, dr: number, dv: number, R: number, scale: number): void {
    if (!allF32(out, q, kv, pool) || flashBytes(dn, dr, dv) > scratchBytes) {
      return refBackend.mlaAttention(out, q, kv, pool, poolStart, T, S, past, H, dn, dr, dv, R, scale);
    }
    const work = QT * (past + T / 2 + 1) * (dn + dr + dv);
    run('mlaFlashPrefill', [out.ptr, q.ptr, kv.ptr, pool.ptr, poolStart, T, S, past, H, dn, dr, dv, R, scale, cx.scratch, scratchBytes],
      Math.ceil(T / QT) * H, grain(work));
  }

  /**
   * Runs a kernel reading kv_b_proj on the arena that holds it: `input` (n f32) copied in, `outFloats` f32 copied back
   * to `out`; the kernel gets [outPtr, inputPtr, scratch] for its arena.
   */
  function onWeightArena(kvB: Tensor, out: Tensor, outFloats: number, input: Tensor, inFloats: number,
    call: (outAt: number, inAt: number, scratch: number, arena: number) => void): void {
    const arena = cx.arenas.of(kvB.heap);
    if (arena.index === 0) return call(out.ptr, input.ptr, cx.scratch, 0);
    const inAt = cx.arenas.stage(arena, (inFloats + outFloats) * 4), outAt = inAt + inFloats * 4;
    copyBytes(arena.heap, inAt, input.heap, input.ptr, inFloats * 4);
    call(outAt, inAt, arena.scratch, arena.index);
    copyBytes(out.heap, out.ptr, arena.heap, outAt, outFloats * 4);
  }

  function mlaAbsorbQuery(qLat: Tensor, q: Tensor, kvB: Tensor, B: number, H: number, dn: number, dr: number, dv: number, R: number): void {
    const kind = kindOf(kvB);
    if (kind === null || !allF32(qLat, q) || dn * RC * 4 + 64 > scratchBytes) return refBackend.mlaAbsorbQuery(qLat, q, kvB, B, H, dn, dr, dv, R);
    onWeightArena(kvB, qLat, B * H * R, q, B * H * (dn + dr), (outAt, inAt, scratch, arena) =>
      run('mlaAbsorbQueryHeads', [outAt, inAt, ...weightArgs(kvB, kind), B, H, dn, dr, dv, R, scratch, scratchBytes],
        H * Math.ceil(R / RC), grain(dn * RC * (B + 1)), arena));
  }

  /**
   * Heads per item of the latent decode's GEMM form, or 0 for the flash form. The GEMM form puts 12 heads in each
   * register tile, so it needs at least 12 heads per item; there it reads the cache once per item instead of once per
   * 4 heads (bench/attention.ts times the two at DeepSeek-V3's 128 heads; the flash form's 32 passes over the cache
   * cost the most once it no longer fits in cache). Items per sequence: two per thread when few sequences decode, as
   * many as fit a thread's scratch.
   */
  function latentDecodeHeads(B: number, H: number, R: number, dr: number): number {
    if (H < 12) return 0;
    const perSequence = Math.min(Math.max(1, Math.ceil((2 * cx.threads) / B)), Math.floor(H / 12));
    let G = Math.ceil(H / perSequence);
    while (G >= 12 && latentBytes(G, R, dr) > scratchBytes) G--;
    return G >= 12 ? G : 0;
  }

  function mlaLatentAttention(ctx: Tensor, qLat: Tensor, q: Tensor, pool: Tensor, cache: CacheRows,
    B: number, H: number, dn: number, dr: number, R: number, scale: number): void {
    const G = latentDecodeHeads(B, H, R, dr);
    if (!allF32(ctx, qLat, q, pool) || (G === 0 && flashBytes(R, dr, R) > scratchBytes)) {
      return refBackend.mlaLatentAttention(ctx, qLat, q, pool, cache, B, H, dn, dr, R, scale);
    }
    const len = i32(cache.length), mean = len.subarray(0, B).reduce((a, b) => a + b, 0) / Math.max(1, B);
    const args = [ctx.ptr, qLat.ptr, q.ptr, pool.ptr, cache.start.ptr, cache.length.ptr];
    if (G > 0) {
      run('mlaLatentDecode', [...args, H, G, dn, dr, R, scale, cx.scratch, scratchBytes], B * Math.ceil(H / G), grain(G * mean * (2 * R + dr)));
    } else {
      run('mlaFlashDecode', [...args, H, dn, dr, R, scale, cx.scratch, scratchBytes], B * Math.ceil(H / QT), grain(QT * mean * (2 * R + dr)));
    }
  }

  function mlaAbsorbOutput(out: Tensor, ctx: Tensor, kvB: Tensor, B: number, H: number, dn: number, dv: number, R: number): void {
    const kind = kindOf(kvB);
    if (kind === null || !allF32(out, ctx) || JC * R * 4 + 16 > scratchBytes) return refBackend.mlaAbsorbOutput(out, ctx, kvB, B, H, dn, dv, R);
    onWeightArena(kvB, out, B * H * dv, ctx, B * H * R, (outAt, inAt, scratch, arena) =>
      run('mlaAbsorbOutputHeads', [outAt, inAt, ...weightArgs(kvB, kind), B, H, dn, dv, R, scratch, scratchBytes],
        H * Math.ceil(dv / JC), grain(JC * R * (B + 1)), arena));
  }

  return { mlaAttention, mlaAbsorbQuery, mlaLatentAttention, mlaAbsorbOutput };
}
