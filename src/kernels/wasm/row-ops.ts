// The wasm ops that work row by row or element by element: embedding, RMSNorm, the elementwise ops, RoPE, the
// latent cache append and the training forwards (softmax, cross-entropy). An op whose dtype has no wasm path, or
// whose vector weight lives in a weight arena (the loader keeps vectors with the activations), runs the reference
// kernel, so every op is always available. An embedding table in a weight arena is read there, staged.

import type { Tensor } from '../../tensor/tensor.js';
import { i32 } from '../../tensor/tensor.js';
import type { RopeSpec } from '../../model/rope.js';
import { refBackend } from '../ref/index.js';
import { softmaxForward as refSoftmax, crossEntropyForward as refCrossEntropy, IGNORE_TARGET } from '../ref/loss.js';
import { copyBytes } from './arenas.js';
import type { WasmContext } from './context.js';
import { grainFor } from './context.js';
import { RopeTable } from './rope-table.js';
import { allF32, kindOf, weightArgs } from './weight-args.js';

export function createRowOps(cx: WasmContext, rope: RopeTable) {
  const { run, scratch, scratchBytes } = cx;
  const grain = (work: number) => grainFor(cx, work);
  /** Whether every tensor lives in the backend's own heap (the wasm kernels address only that one). */
  const local = (...ts: Tensor[]) => ts.every((t) => t.heap === cx.heap);

  function embedding(out: Tensor, ids: Tensor, tbl: Tensor, T: number, D: number): void {
    const kind = kindOf(tbl);
    if (kind === null || !allF32(out)) return refBackend.embedding(out, ids, tbl, T, D);
    const id = i32(ids), V = tbl.shape[0];
    for (let t = 0; t < T; t++) {
      if (id[t] < 0 || id[t] >= V) throw new Error(`embedding: token id ${id[t]} at position ${t} is outside the vocabulary (0..${V - 1})`);
    }
    if (local(tbl)) return run('embeddingRows', [out.ptr, ids.ptr, ...weightArgs(tbl, kind), D], T, grain(D));
    const arena = cx.arenas.of(tbl.heap);
    const idsAt = cx.arenas.stage(arena, T * 4 + T * D * 4), outAt = idsAt + T * 4;
    copyBytes(arena.heap, idsAt, ids.heap, ids.ptr, T * 4);
    run('embeddingRows', [outAt, idsAt, ...weightArgs(tbl, kind), D], T, grain(D), arena.index);
    copyBytes(out.heap, out.ptr, arena.heap, outAt, T * D * 4);
  }

  function rmsnorm(out: Tensor, x: Tensor, w: Tensor, T: number, D: number, eps: number, xStride = D, outStride = D): void {
    const kind = kindOf(w);
    if (kind === null || !allF32(out, x) || !local(w) || D * 4 > scratchBytes) return refBackend.rmsnorm(out, x, w, T, D, eps, xStride, outStride);
    run('rmsnormRows', [out.ptr, x.ptr, ...weightArgs(w, kind), D, eps, xStride, outStride, scratch, scratchBytes], T, grain(D));
  }

  function copy(out: Tensor, src: Tensor, n: number): void {
    if (!allF32(out, src)) return refBackend.copy(out, src, n);
    if (out.ptr === src.ptr) return;
    // Overlapping ranges need one memmove in order; the pool's ranges would race.
    const overlap = out.ptr < src.ptr + 4 * n && src.ptr < out.ptr + 4 * n;
    run('copyRange', [out.ptr, src.ptr], n, overlap ? Math.max(1, n) : 4 * cx.minWork);
  }

  function add(out: Tensor, a: Tensor, b: Tensor, n: number): void {
    if (!allF32(out, a, b)) return refBackend.add(out, a, b, n);
    run('addRange', [out.ptr, a.ptr, b.ptr], n, grain(1));
  }

  function siluMul(out: Tensor, gate: Tensor, up: Tensor, n: number): void {
    if (!allF32(out, gate, up)) return refBackend.siluMul(out, gate, up, n);
    run('siluMulRange', [out.ptr, gate.ptr, up.ptr], n, grain(8));
  }

  function concat(out: Tensor, a: Tensor, b: Tensor, T: number, A: number, B: number): void {
    if (!allF32(out, a, b)) return refBackend.concat(out, a, b, T, A, B);
    run('concatRows', [out.ptr, a.ptr, b.ptr, A, B], T, grain(A + B));
  }

  function ropeRows(x: Tensor, positions: Tensor, spec: RopeSpec, T: number, H: number, stride: number, offset: number, dr: number): void {
    if (!allF32(x)) return refBackend.rope(x, positions, spec, T, H, stride, offset, dr);
    run('ropeRows', [x.ptr, rope.at(positions, spec, T, dr), H, stride, offset, dr, spec.interleaved ? 1 : 0], T * H, grain(2 * dr));
  }

  function latentCacheWrite(pool: Tensor, rowsT: Tensor, kva: Tensor, positions: Tensor, normW: Tensor, eps: number,
    spec: RopeSpec, T: number, R: number, dr: number): void {
    const kind = kindOf(normW);
    if (kind === null || !allF32(pool, kva) || !local(normW) || R * 4 > scratchBytes) {
      return refBackend.latentCacheWrite(pool, rowsT, kva, positions, normW, eps, spec, T, R, dr);
    }
    const r = i32(rowsT), poolRows = pool.shape[0];
    for (let t = 0; t < T; t++) {
      if (r[t] < 0 || r[t] >= poolRows) throw new Error(`latent cache: row ${r[t]} outside the pool of ${poolRows} rows`);
    }
    run('latentWriteRows', [pool.ptr, rowsT.ptr, kva.ptr, ...weightArgs(normW, kind), R, dr, eps, rope.at(positions, spec, T, dr),
      spec.interleaved ? 1 : 0, scratch, scratchBytes], T, grain(2 * (R + dr)));
  }

  function softmaxForward(out: Tensor, x: Tensor, T: number, V: number): void {
    if (!allF32(out, x)) return refSoftmax(out, x, T, V);
    run('softmaxRows', [out.ptr, x.ptr, V], T, grain(V));
  }

  function crossEntropyForward(losses: Tensor, logits: Tensor, targets: Tensor, T: number, V: number): void {
    if (!allF32(losses, logits)) return refCrossEntropy(losses, logits, targets, T, V);
    const y = i32(targets);
    for (let t = 0; t < T; t++) {
      if (y[t] !== IGNORE_TARGET && (y[t] < 0 || y[t] >= V)) {
        throw new Error(`crossEntropyForward: target ${y[t]} at position ${t} is neither ${IGNORE_TARGET} (ignore) nor in the vocabulary (0..${V - 1})`);
      }
    }
    run('crossEntropyRows', [losses.ptr, logits.ptr, targets.ptr, V], T, grain(V));
  }

  return { embedding, rmsnorm, copy, add, siluMul, concat, rope: ropeRows, latentCacheWrite, softmaxForward, crossEntropyForward };
}
