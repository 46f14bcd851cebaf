// The fast backend: AssemblyScript SIMD kernels (relaxed SIMD where the engine has it) run on every core by the
// thread pool, over the heap's shared memory. Every forward op runs in wasm (matmul.as, ops.as, attention.as) except
// routing (route.ts: allocation-free TypeScript, bit-identical to the reference); an op whose weight dtype has no
// wasm path (f16) runs the reference kernel, so every op is always available and the model never knows which ran.
// Leaves out: f16 weights in wasm. RoPE's cos/sin are computed here in float64 (Math.cos/sin, as the reference) into
// a per-call table [T, 2·dr] that the kernels read: AssemblyScript's own cos/sin keep tables and globals in memory.

import type { Backend, CacheRows, ExpertBank } from '../backend.js';
import type { Tensor } from '../../tensor/tensor.js';
import { i32, rows as rowView, Scope } from '../../tensor/tensor.js';
import type { Heap } from '../../tensor/heap.js';
import type { RopeSpec } from '../../model/rope.js';
import { refBackend } from '../ref/index.js';
import { groupByExpert } from '../ref/moe.js';
import { softmaxForward as refSoftmax, crossEntropyForward as refCrossEntropy, IGNORE_TARGET } from '../ref/loss.js';
import { ThreadPool, defaultThreads, equalWorkBounds } from '../pool/thread-pool.js';
import type { WasmFlavour } from './loader.js';
import { compileKernels, instantiateKernels } from './loader.js';
import { createRouter } from './route.js';

export interface WasmBackendOptions {
  threads?: number;
  flavour?: WasmFlavour;
  /** Least work (≈ multiply-adds or elements) one thread takes in a call (default MIN_WORK); tests pass 1 to split tiny calls. */
  minWork?: number;
}

/** Output columns per pool task grain: the register tile width (the dot form takes 4 at a time), so shares balance. */
const OC_GRAIN = 12;
/** Least work (≈ multiply-adds or elements) one thread takes in a call: below it a call stays on fewer threads. */
const MIN_WORK = 65536;
/**
 * Smallest matmul share worth a thread: 2^16 multiply-adds (a decode row over 256 KB of f32 weights), well above what
 * handing work to a pool thread that is awake costs (pool threads spin between the calls of a forward pass).
 */
const MATMUL_MIN_MACS = 1 << 16;
/** Queries per attention tile, latent columns per absorb-query item, W_UV rows per absorb-output item (attention.as). */
const QT = 4, RC = 64, JC = 16;
/** matmulTasks: i32 per task record (matmul.as), and tasks per thread (more balance, more packing). */
const TASK_INTS = 9, TASKS_PER_THREAD = 4;

export interface WasmBackend extends Backend {
  readonly threads: number;
  readonly flavour: WasmFlavour;
  /** Runs kernel export `fn(...args, start, end, thread)` over [0, items) on all threads (for sibling kernel sets). */
  run(fn: string, args: readonly number[], items: number, split?: number | readonly number[]): void;
  /** Bytes of per-thread scratch at `scratch` (threads × scratchBytes), free for any kernel during its call. */
  readonly scratch: number;
  readonly scratchBytes: number;
  /** Training forwards in wasm, same contracts as BackwardKernels' (the reference ones are in ref/loss.ts). */
  softmaxForward(out: Tensor, x: Tensor, T: number, V: number): void;
  crossEntropyForward(losses: Tensor, logits: Tensor, targets: Tensor, T: number, V: number): void;
  close(): Promise<void>;
}

/** Weight kinds of the wasm kernels: 0 f32, 1 bf16, 2 e4m3 (block scales optional); null: reference path. */
function kindOf(w: Tensor): number | null {
  return w.dtype === 'f32' ? 0 : w.dtype === 'bf16' ? 1 : w.dtype === 'e4m3' ? 2 : null;
}

/** [ptr, kind, scaleInv, bm, bn]: how a kernel reads a weight of any wasm kind. */
function weightArgs(w: Tensor, kind: number): number[] {
  const s = w.scale;
  return [w.ptr, kind, s ? s.scaleInv.ptr : 0, s ? s.block[0] : 0, s ? s.block[1] : 0];
}

const allF32 = (...ts: Tensor[]) => ts.every((t) => t.dtype === 'f32');

export function createWasmBackend(heap: Heap, opts: WasmBackendOptions = {}): WasmBackend {
  const threads = opts.threads ?? defaultThreads();
  const compiled = compileKernels(opts.flavour);
  const k = instantiateKernels(compiled, heap.memory);
  const pool = new ThreadPool(threads, k.exports, compiled.module, heap.memory);
  const scratchBytes = k.scratchBytes;
  const scratch = heap.alloc(threads * scratchBytes); // one area per thread, lives as long as the backend
  const run = (fn: string, args: readonly number[], items: number, split?: number | readonly number[]) => pool.run(fn, args, items, split);
  const flashBytes = (dA: number, dB: number, dv: number) => k.exports.flashScratchBytes(dA, dB, dv) as number;
  const latentBytes = (G: number, R: number, dr: number) => k.exports.latentDecodeScratchBytes(G, R, dr) as number;
  const minWork = opts.minWork ?? MIN_WORK;
  const matmulMinMacs = opts.minWork ?? MATMUL_MIN_MACS;
  /** Items per grain so that one grain holds at least minWork, for items of `work` each. */
  const grainFor = (work: number) => Math.max(1, Math.ceil(minWork / Math.max(1, work)));

  function matmul(out: Tensor, x: Tensor, w: Tensor, T: number, C: number, OC: number, xStride = C): void {
    if (out.dtype !== 'f32' || x.dtype !== 'f32') throw new Error('matmul: activations must be f32');
    const base = [out.ptr, x.ptr, w.ptr, T, C, OC, xStride];
    // Each thread's share must outweigh handing it over: at least MATMUL_MIN_MACS multiply-adds.
    const grain = Math.ceil(Math.max(1, matmulMinMacs / (T * C)) / OC_GRAIN) * OC_GRAIN;
    switch (w.dtype) {
      case 'f32': return run('matmulF32', [...base, scratch], OC, grain);
      case 'bf16': return run('matmulBF16', [...base, scratch], OC, grain);
      case 'e4m3': {
        const s = w.scale;
        return run('matmulE4M3', [...base, s ? s.scaleInv.ptr : 0, s ? s.block[0] : 0, s ? s.block[1] : 0, scratch], OC, grain);
      }
      default: return refBackend.matmul(out, x, w, T, C, OC, xStride);
    }
  }

  /**
   * Many matmuls out_j [T_j, OC] = x_j · W_jᵀ (one weight kind) in one pool call: each is cut into column blocks
   * (about TASKS_PER_THREAD per thread), and the threads get contiguous runs of blocks of equal work — experts get
   * very different numbers of tokens, so equal counts of blocks would not balance.
   */
  function matmulTasks(s: Scope, jobs: { out: Tensor; x: Tensor; w: Tensor; T: number }[], C: number, OC: number): void {
    if (jobs.length === 0) return;
    const kind = kindOf(jobs[0].w);
    if (kind === null || jobs.some((j) => j.w.dtype !== jobs[0].w.dtype)) {
      for (const j of jobs) matmul(j.out, j.x, j.w, j.T, C, OC);
      return;
    }
    const rowCols = jobs.reduce((a, j) => a + j.T, 0) * OC;
    const target = rowCols / (threads * TASKS_PER_THREAD);
    const tasks: number[] = [], work: number[] = [];
    for (const j of jobs) {
      const cols = Math.min(OC, Math.max(OC_GRAIN, Math.round(target / j.T / OC_GRAIN) * OC_GRAIN));
      const sc = j.w.scale;
      for (let o0 = 0; o0 < OC; o0 += cols) {
        const o1 = Math.min(OC, o0 + cols);
        tasks.push(j.out.ptr, j.x.ptr, j.w.ptr, j.T, o0, o1, sc ? sc.scaleInv.ptr : 0, sc ? sc.block[0] : 0, sc ? sc.block[1] : 0);
        work.push(j.T * (o1 - o0));
      }
    }
    const table = s.tensor([tasks.length], 'i32');
    i32(table).set(tasks);
    const args = [table.ptr, kind, C, OC, C, scratch];
    // Below the least work worth a second thread, one thread does it all.
    if (rowCols * C < 2 * matmulMinMacs) run('matmulTasks', args, work.length, work.length);
    else run('matmulTasks', args, work.length, equalWorkBounds(work, threads));
  }

  // ---- RoPE table: per token, cosE [dr] then sinE [dr] laid out like the rotated pairs (ops.as). The last table is
  // kept, so q's rope and the cache append of one layer (and every layer of a step) share one computation.
  let table = { ptr: 0, bytes: 0, spec: null as RopeSpec | null, dr: 0, positions: new Int32Array(0) };

  function ropeTable(positions: Tensor, spec: RopeSpec, T: number, dr: number): number {
    const pos = i32(positions).subarray(0, T);
    if (table.spec === spec && table.dr === dr && table.positions.length === T && table.positions.every((p, i) => p === pos[i])) return table.ptr;
    const bytes = T * 2 * dr * 4;
    if (bytes > table.bytes) {
      if (table.ptr) heap.release(table.ptr);
      table = { ptr: 0, bytes: 0, spec: null, dr: 0, positions: new Int32Array(0) }; // valid if alloc throws
      const size = Math.max(bytes, 4096);
      table = { ...table, ptr: heap.alloc(size), bytes: size };
    }
    const a = new Float32Array(heap.memory.buffer, table.ptr, T * 2 * dr);
    const half = dr / 2;
    for (let t = 0; t < T; t++) {
      const cb = t * 2 * dr, sb = cb + dr;
      for (let i = 0; i < half; i++) {
        const angle = pos[t] * spec.invFreq[i];
        const c = Math.cos(angle) * spec.mscale, s = Math.sin(angle) * spec.mscale;
        const j0 = spec.interleaved ? 2 * i : i, j1 = spec.interleaved ? j0 + 1 : j0 + half;
        a[cb + j0] = c; a[cb + j1] = c; a[sb + j0] = -s; a[sb + j1] = s;
      }
    }
    table = { ...table, spec, dr, positions: pos.slice() };
    return table.ptr;
  }

  function embedding(out: Tensor, ids: Tensor, tbl: Tensor, T: number, D: number): void {
    const kind = kindOf(tbl);
    if (kind === null || !allF32(out)) return refBackend.embedding(out, ids, tbl, T, D);
    const id = i32(ids), V = tbl.shape[0];
    for (let t = 0; t < T; t++) {
      if (id[t] < 0 || id[t] >= V) throw new Error(`embedding: token id ${id[t]} at position ${t} is outside the vocabulary (0..${V - 1})`);
    }
    run('embeddingRows', [out.ptr, ids.ptr, ...weightArgs(tbl, kind), D], T, grainFor(D));
  }

  function rmsnorm(out: Tensor, x: Tensor, w: Tensor, T: number, D: number, eps: number, xStride = D, outStride = D): void {
    const kind = kindOf(w);
    if (kind === null || !allF32(out, x) || D * 4 > scratchBytes) return refBackend.rmsnorm(out, x, w, T, D, eps, xStride, outStride);
    run('rmsnormRows', [out.ptr, x.ptr, ...weightArgs(w, kind), D, eps, xStride, outStride, scratch, scratchBytes], T, grainFor(D));
  }

  function copy(out: Tensor, src: Tensor, n: number): void {
    if (!allF32(out, src)) return refBackend.copy(out, src, n);
    if (out.ptr === src.ptr) return;
    // Overlapping ranges need one memmove in order; the pool's ranges would race.
    const overlap = out.ptr < src.ptr + 4 * n && src.ptr < out.ptr + 4 * n;
    run('copyRange', [out.ptr, src.ptr], n, overlap ? Math.max(1, n) : 4 * minWork);
  }

  function add(out: Tensor, a: Tensor, b: Tensor, n: number): void {
    if (!allF32(out, a, b)) return refBackend.add(out, a, b, n);
    run('addRange', [out.ptr, a.ptr, b.ptr], n, grainFor(1));
  }

  function siluMul(out: Tensor, gate: Tensor, up: Tensor, n: number): void {
    if (!allF32(out, gate, up)) return refBackend.siluMul(out, gate, up, n);
    run('siluMulRange', [out.ptr, gate.ptr, up.ptr], n, grainFor(8));
  }

  function concat(out: Tensor, a: Tensor, b: Tensor, T: number, A: number, B: number): void {
    if (!allF32(out, a, b)) return refBackend.concat(out, a, b, T, A, B);
    run('concatRows', [out.ptr, a.ptr, b.ptr, A, B], T, grainFor(A + B));
  }

  function rope(x: Tensor, positions: Tensor, spec: RopeSpec, T: number, H: number, stride: number, offset: number, dr: number): void {
    if (!allF32(x)) return refBackend.rope(x, positions, spec, T, H, stride, offset, dr);
    const tbl = ropeTable(positions, spec, T, dr);
    run('ropeRows', [x.ptr, tbl, H, stride, offset, dr, spec.interleaved ? 1 : 0], T * H, grainFor(2 * dr));
  }

  function latentCacheWrite(pool_: Tensor, rowsT: Tensor, kva: Tensor, positions: Tensor, normW: Tensor, eps: number,
    spec: RopeSpec, T: number, R: number, dr: number): void {
    const kind = kindOf(normW);
    if (kind === null || !allF32(pool_, kva) || R * 4 > scratchBytes) {
      return refBackend.latentCacheWrite(pool_, rowsT, kva, positions, normW, eps, spec, T, R, dr);
    }
    const r = i32(rowsT), poolRows = pool_.shape[0];
    for (let t = 0; t < T; t++) {
      if (r[t] < 0 || r[t] >= poolRows) throw new Error(`latent cache: row ${r[t]} outside the pool of ${poolRows} rows`);
    }
    const tbl = ropeTable(positions, spec, T, dr);
    run('latentWriteRows', [pool_.ptr, rowsT.ptr, kva.ptr, ...weightArgs(normW, kind), R, dr, eps, tbl, spec.interleaved ? 1 : 0,
      scratch, scratchBytes], T, grainFor(2 * (R + dr)));
  }

  function mlaAttention(out: Tensor, q: Tensor, kv: Tensor, pool_: Tensor, poolStart: number,
    T: number, S: number, past: number, H: number, dn: number, dr: number, dv: number, R: number, scale: number): void {
    if (!allF32(out, q, kv, pool_) || flashBytes(dn, dr, dv) > scratchBytes) {
      return refBackend.mlaAttention(out, q, kv, pool_, poolStart, T, S, past, H, dn, dr, dv, R, scale);
    }
    const work = QT * (past + T / 2 + 1) * (dn + dr + dv);
    run('mlaFlashPrefill', [out.ptr, q.ptr, kv.ptr, pool_.ptr, poolStart, T, S, past, H, dn, dr, dv, R, scale, scratch, scratchBytes],
      Math.ceil(T / QT) * H, grainFor(work));
  }

  function mlaAbsorbQuery(qLat: Tensor, q: Tensor, kvB: Tensor, B: number, H: number, dn: number, dr: number, dv: number, R: number): void {
    const kind = kindOf(kvB);
    if (kind === null || !allF32(qLat, q) || dn * RC * 4 + 64 > scratchBytes) return refBackend.mlaAbsorbQuery(qLat, q, kvB, B, H, dn, dr, dv, R);
    run('mlaAbsorbQueryHeads', [qLat.ptr, q.ptr, ...weightArgs(kvB, kind), B, H, dn, dr, dv, R, scratch, scratchBytes],
      H * Math.ceil(R / RC), grainFor(dn * RC * (B + 1)));
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
    const perSequence = Math.min(Math.max(1, Math.ceil((2 * threads) / B)), Math.floor(H / 12));
    let G = Math.ceil(H / perSequence);
    while (G >= 12 && latentBytes(G, R, dr) > scratchBytes) G--;
    return G >= 12 ? G : 0;
  }

  function mlaLatentAttention(ctx: Tensor, qLat: Tensor, q: Tensor, pool_: Tensor, cache: CacheRows,
    B: number, H: number, dn: number, dr: number, R: number, scale: number): void {
    const G = latentDecodeHeads(B, H, R, dr);
    if (!allF32(ctx, qLat, q, pool_) || (G === 0 && flashBytes(R, dr, R) > scratchBytes)) {
      return refBackend.mlaLatentAttention(ctx, qLat, q, pool_, cache, B, H, dn, dr, R, scale);
    }
    const len = i32(cache.length), mean = len.subarray(0, B).reduce((a, b) => a + b, 0) / Math.max(1, B);
    const args = [ctx.ptr, qLat.ptr, q.ptr, pool_.ptr, cache.start.ptr, cache.length.ptr];
    if (G > 0) {
      run('mlaLatentDecode', [...args, H, G, dn, dr, R, scale, scratch, scratchBytes], B * Math.ceil(H / G), grainFor(G * mean * (2 * R + dr)));
    } else {
      run('mlaFlashDecode', [...args, H, dn, dr, R, scale, scratch, scratchBytes], B * Math.ceil(H / QT), grainFor(QT * mean * (2 * R + dr)));
    }
  }

  function mlaAbsorbOutput(out: Tensor, ctx: Tensor, kvB: Tensor, B: number, H: number, dn: number, dv: number, R: number): void {
    const kind = kindOf(kvB);
    if (kind === null || !allF32(out, ctx) || JC * R * 4 + 16 > scratchBytes) return refBackend.mlaAbsorbOutput(out, ctx, kvB, B, H, dn, dv, R);
    run('mlaAbsorbOutputHeads', [out.ptr, ctx.ptr, ...weightArgs(kvB, kind), B, H, dn, dv, R, scratch, scratchBytes],
      H * Math.ceil(dv / JC), grainFor(JC * R * (B + 1)));
  }

  /**
   * Routed experts, grouped by expert (groupByExpert: the same grouping as the reference): the T·K (token, slot) rows
   * gathered into expert order in one call; every expert's gate and up matmul on its contiguous block in one call
   * (matmulTasks), one SiLU·mul over all of them, every down matmul in one call; then each token's K outputs combined
   * with its gate weights (no two threads write one row). Five pool calls per layer, however many experts.
   */
  function moe(out: Tensor, x: Tensor, experts: Tensor, weights: Tensor, bank: ExpertBank, T: number, D: number, I: number, K: number): void {
    const groups = groupByExpert(i32(experts), T, K, bank.gate.length);
    const N = T * K;
    const s = new Scope(heap);
    try {
      // order[0, N): the token of each gathered row; order[N + slot]: the gathered row of each (token, slot).
      const order = s.tensor([2 * N], 'i32'), ord = i32(order);
      const first: number[] = [];
      let n = 0;
      for (const slots of groups) {
        first.push(n);
        for (const slot of slots) { ord[n] = (slot / K) | 0; ord[N + slot] = n; n++; }
      }
      const xs = s.tensor([N, D]), g = s.tensor([N, I]), u = s.tensor([N, I]), y = s.tensor([N, D]);
      run('gatherRows', [xs.ptr, x.ptr, order.ptr, D], N, grainFor(D));
      const used = groups.flatMap((slots, e) => (slots.length > 0 ? [{ e, T: slots.length, row: first[e] }] : []));
      matmulTasks(s, used.flatMap(({ e, T: n, row }) => [
        { out: rowView(g, row, n), x: rowView(xs, row, n), w: bank.gate[e], T: n },
        { out: rowView(u, row, n), x: rowView(xs, row, n), w: bank.up[e], T: n },
      ]), D, I);
      siluMul(g, g, u, N * I);
      matmulTasks(s, used.map(({ e, T: n, row }) => ({ out: rowView(y, row, n), x: rowView(g, row, n), w: bank.down[e], T: n })), I, D);
      run('combineRows', [out.ptr, y.ptr, order.ptr + 4 * N, weights.ptr, D, K], T, grainFor(K * D));
    } finally {
      s.release();
    }
  }

  function softmaxForward(out: Tensor, x: Tensor, T: number, V: number): void {
    if (!allF32(out, x)) return refSoftmax(out, x, T, V);
    run('softmaxRows', [out.ptr, x.ptr, V], T, grainFor(V));
  }

  function crossEntropyForward(losses: Tensor, logits: Tensor, targets: Tensor, T: number, V: number): void {
    if (!allF32(losses, logits)) return refCrossEntropy(losses, logits, targets, T, V);
    const y = i32(targets);
    for (let t = 0; t < T; t++) {
      if (y[t] !== IGNORE_TARGET && (y[t] < 0 || y[t] >= V)) {
        throw new Error(`crossEntropyForward: target ${y[t]} at position ${t} is neither ${IGNORE_TARGET} (ignore) nor in the vocabulary (0..${V - 1})`);
      }
    }
    run('crossEntropyRows', [losses.ptr, logits.ptr, targets.ptr, V], T, grainFor(V));
  }

  return {
    ...refBackend,
    name: `wasm-${compiled.flavour}×${threads}`,
    threads,
    flavour: compiled.flavour,
    run,
    scratch,
    scratchBytes,
    embedding, rmsnorm, matmul, copy, add, siluMul, concat, rope, latentCacheWrite,
    mlaAttention, mlaAbsorbQuery, mlaLatentAttention, mlaAbsorbOutput, moe, route: createRouter(),
    softmaxForward, crossEntropyForward,
    async close() {
      await pool.close();
      if (table.ptr) heap.release(table.ptr);
      heap.release(scratch);
    },
  };
}
