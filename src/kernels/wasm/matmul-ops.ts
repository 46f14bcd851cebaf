// The wasm matmul and the routed experts built on it. A weight in another arena than the activations (weights over
// 4 GiB) is computed there: activations staged in, results copied back (arenas.ts), in row chunks that keep each
// row's arithmetic what it would be in one call, so logits do not depend on where a weight lives.

import type { ExpertBank } from '../backend.js';
import type { Tensor } from '../../tensor/tensor.js';
import { i32, Scope } from '../../tensor/tensor.js';
import { refBackend } from '../ref/index.js';
import { groupByExpert } from '../ref/moe.js';
import { equalWorkBounds } from '../pool/thread-pool.js';
import type { Arena } from './arenas.js';
import { copyBytes, copyRows } from './arenas.js';
import type { WasmContext } from './context.js';
import { grainFor } from './context.js';
import { kindOf, scaleArgs } from './weight-args.js';

/** Output columns per pool task grain: the register tile width (the dot form takes 4 at a time), so shares balance. */
const OC_GRAIN = 12;
/** matmulTasks: tasks per thread (more balance, more packing); a task record is 9 i32 (matmul.as). */
const TASKS_PER_THREAD = 4;
/**
 * Staged matmuls run at most this many bytes of activations per call, in row chunks that are multiples of CHUNK_ROWS:
 * a multiple of both the dot form's bound (32 tokens) and the packed form's 3-token tile, so every row of a chunk
 * takes the form and tile grouping it would in one call (the remainder joins the last chunk).
 */
const STAGE_BYTES = 64 << 20, CHUNK_ROWS = 96;

/** The matmul export of each weight kind below 3 (q8_0 and q4_0 share matmulQuant, which takes the kind). */
const KERNEL: Record<number, string> = { 0: 'matmulF32', 1: 'matmulBF16', 2: 'matmulE4M3' };

/** One matmul of a matmulTasks call, by pointers into the call's arena. */
interface Job { out: number; x: number; w: Tensor; T: number }

export function createMatmulOps(cx: WasmContext) {
  const { run, arenas } = cx;

  /** out = x·Wᵀ with every pointer in `arena`. */
  function matmulIn(arena: Arena, out: number, x: number, w: Tensor, kind: number, T: number, C: number, OC: number, xStride: number): void {
    // Each thread's share must outweigh handing it over: at least matmulMinMacs multiply-adds.
    const grain = Math.ceil(Math.max(1, cx.matmulMinMacs / (T * C)) / OC_GRAIN) * OC_GRAIN;
    if (kind >= 3) return run('matmulQuant', [out, x, w.ptr, kind, T, C, OC, xStride, arena.scratch], OC, grain, arena.index);
    const scale = kind === 2 ? scaleArgs(w) : [];
    run(KERNEL[kind], [out, x, w.ptr, T, C, OC, xStride, ...scale, arena.scratch], OC, grain, arena.index);
  }

  function matmul(out: Tensor, x: Tensor, w: Tensor, T: number, C: number, OC: number, xStride = C): void {
    if (out.dtype !== 'f32' || x.dtype !== 'f32') throw new Error('matmul: activations must be f32');
    const kind = kindOf(w);
    if (kind === null) return refBackend.matmul(out, x, w, T, C, OC, xStride);
    const arena = arenas.of(w.heap);
    if (arena.heap === out.heap && arena.heap === x.heap) return matmulIn(arena, out.ptr, x.ptr, w, kind, T, C, OC, xStride);
    const rowBytes = (C + OC) * 4;
    const chunk = Math.max(CHUNK_ROWS, Math.floor(STAGE_BYTES / rowBytes / CHUNK_ROWS) * CHUNK_ROWS);
    for (let t0 = 0; t0 < T;) {
      const n = T - t0 < chunk + CHUNK_ROWS ? T - t0 : chunk;
      const xs = arenas.stage(arena, n * rowBytes), os = xs + n * C * 4;
      copyRows(arena.heap, xs, x.heap, x.ptr + t0 * xStride * 4, n, C, xStride);
      matmulIn(arena, os, xs, w, kind, n, C, OC, C);
      copyBytes(out.heap, out.ptr + t0 * OC * 4, arena.heap, os, n * OC * 4);
      t0 += n;
    }
  }

  /**
   * Many matmuls out_j [T_j, OC] = x_j · W_jᵀ (one weight kind, one arena) in one pool call: each is cut into column
   * blocks (about TASKS_PER_THREAD per thread), and the threads get contiguous runs of blocks of equal work — experts
   * get very different numbers of tokens, so equal counts of blocks would not balance.
   */
  function matmulTasks(arena: Arena, jobs: Job[], C: number, OC: number): void {
    if (jobs.length === 0) return;
    const kind = kindOf(jobs[0].w)!;
    const rowCols = jobs.reduce((a, j) => a + j.T, 0) * OC;
    const target = rowCols / (cx.threads * TASKS_PER_THREAD);
    const tasks: number[] = [], work: number[] = [];
    for (const j of jobs) {
      const cols = Math.min(OC, Math.max(OC_GRAIN, Math.round(target / j.T / OC_GRAIN) * OC_GRAIN));
      for (let o0 = 0; o0 < OC; o0 += cols) {
        const o1 = Math.min(OC, o0 + cols);
        tasks.push(j.out, j.x, j.w.ptr, j.T, o0, o1, ...scaleArgs(j.w));
        work.push(j.T * (o1 - o0));
      }
    }
    const table = arenas.stage(arena, tasks.length * 4, 'table');
    new Int32Array(arena.heap.memory.buffer, table, tasks.length).set(tasks);
    const args = [table, kind, C, OC, C, arena.scratch];
    // Below the least work worth a second thread, one thread does it all.
    if (rowCols * C < 2 * cx.matmulMinMacs) run('matmulTasks', args, work.length, work.length, arena.index);
    else run('matmulTasks', args, work.length, equalWorkBounds(work, cx.threads), arena.index);
  }

  /**
   * Routed experts, grouped by expert (groupByExpert: the same grouping as the reference): the T·K (token, slot) rows
   * gathered into expert order in one call; every expert's gate and up matmul on its contiguous block in one call
   * (matmulTasks), one SiLU·mul over all of them, every down matmul in one call; then each token's K outputs combined
   * with its gate weights (no two threads write one row). Five pool calls per layer, however many experts; experts
   * in weight arenas run their three matmuls there on their rows, staged in and out.
   */
  function moe(out: Tensor, x: Tensor, experts: Tensor, weights: Tensor, bank: ExpertBank, T: number, D: number, I: number, K: number): void {
    const dtype = bank.gate[0].dtype;
    // One pool call takes one weight kind, and an expert's three matrices run in one arena (the loader keeps them
    // together); anything else takes the reference path.
    if (kindOf(bank.gate[0]) === null || [bank.gate, bank.up, bank.down].some((ws) => ws.some((w) => w.dtype !== dtype))
      || bank.gate.some((g, e) => g.heap !== bank.up[e].heap || g.heap !== bank.down[e].heap)) {
      return refBackend.moe(out, x, experts, weights, bank, T, D, I, K);
    }
    if (T === 1 && bank.gate.every((g) => g.heap === cx.heap)) return moeOneToken(out, x, experts, weights, bank, D, I, K);
    const groups = groupByExpert(i32(experts), T, K, bank.gate.length);
    const N = T * K;
    const s = new Scope(cx.heap);
    try {
      // order[0, N): the token of each gathered row; order[N + slot]: the gathered row of each (token, slot).
      const order = s.tensor([2 * N], 'i32'), ord = i32(order);
      const first: number[] = [];
      let n = 0;
      for (const slots of groups) {
        first.push(n);
        for (const slot of slots) { ord[n] = (slot / K) | 0; ord[N + slot] = n; n++; }
      }
      const xs = s.tensor([N, D]), y = s.tensor([N, D]);
      run('gatherRows', [xs.ptr, x.ptr, order.ptr, D], N, grainFor(cx, D));
      const used = groups.flatMap((slots, e) => (slots.length > 0 ? [{ e, T: slots.length, row: first[e] }] : []));
      // Runs of used experts whose weights share an arena; their gathered rows are contiguous.
      for (let i = 0; i < used.length;) {
        const arena = arenas.of(bank.gate[used[i].e].heap);
        let j = i + 1;
        while (j < used.length && arenas.of(bank.gate[used[j].e].heap) === arena) j++;
        expertRun(s, arena, used.slice(i, j), xs, y, bank, D, I);
        i = j;
      }
      run('combineRows', [out.ptr, y.ptr, order.ptr + 4 * N, weights.ptr, D, K], T, grainFor(cx, K * D));
    } finally {
      s.release();
    }
  }

  /**
   * One token (a batch-1 decode step), experts in the main heap: every expert reads the token's row in place (no
   * gather), and its gate, up and output rows go to one staging area in slot order, not to scope tensors: no
   * allocation per call. The same kernels on the same rows as the grouped path, so the same numbers.
   */
  function moeOneToken(out: Tensor, x: Tensor, experts: Tensor, weights: Tensor, bank: ExpertBank, D: number, I: number, K: number): void {
    const ex = i32(experts), E = bank.gate.length;
    for (let k = 0; k < K; k++) {
      if (ex[k] < 0 || ex[k] >= E) throw new Error(`moe: expert index ${ex[k]} out of range (0..${E - 1})`);
    }
    const arena = arenas.of(cx.heap);
    // Staged: gate [K, I], up [K, I], y [K, D], then row i32 [K] (slot k's output is y row k).
    const gp = arenas.stage(arena, (K * (2 * I + D) + K) * 4), up = gp + K * I * 4, yp = up + K * I * 4, rows = yp + K * D * 4;
    new Int32Array(cx.heap.memory.buffer, rows, K).forEach((_, k, r) => { r[k] = k; });
    const gateUp: Job[] = [], down: Job[] = [];
    for (let k = 0; k < K; k++) {
      gateUp.push({ out: gp + k * I * 4, x: x.ptr, w: bank.gate[ex[k]], T: 1 }, { out: up + k * I * 4, x: x.ptr, w: bank.up[ex[k]], T: 1 });
      down.push({ out: yp + k * D * 4, x: gp + k * I * 4, w: bank.down[ex[k]], T: 1 });
    }
    matmulTasks(arena, gateUp, D, I);
    run('siluMulRange', [gp, gp, up], K * I, grainFor(cx, 8));
    matmulTasks(arena, down, I, D);
    run('combineRows', [out.ptr, yp, rows, weights.ptr, D, K], 1, 1);
  }

  /** y rows = down(silu(gate(xs rows)) ⊙ up(xs rows)) for a run of experts in one arena (their rows contiguous from run[0].row). */
  function expertRun(s: Scope, arena: Arena, runOf: { e: number; T: number; row: number }[], xs: Tensor, y: Tensor,
    bank: ExpertBank, D: number, I: number): void {
    const r0 = runOf[0].row, N = runOf.reduce((a, u) => a + u.T, 0);
    const local = arena.heap === cx.heap;
    // Pointers of this run's rows: xs and y in place, gate/up in the scope; or all staged in the arena.
    let xp: number, gp: number, up: number, yp: number;
    if (local) {
      xp = xs.ptr + r0 * D * 4; yp = y.ptr + r0 * D * 4;
      gp = s.tensor([N, I]).ptr; up = s.tensor([N, I]).ptr;
    } else {
      xp = arenas.stage(arena, N * (2 * D + 2 * I) * 4);
      gp = xp + N * D * 4; up = gp + N * I * 4; yp = up + N * I * 4;
      copyBytes(arena.heap, xp, cx.heap, xs.ptr + r0 * D * 4, N * D * 4);
    }
    const at = (u: { row: number }) => u.row - r0;
    matmulTasks(arena, runOf.flatMap((u) => [
      { out: gp + at(u) * I * 4, x: xp + at(u) * D * 4, w: bank.gate[u.e], T: u.T },
      { out: up + at(u) * I * 4, x: xp + at(u) * D * 4, w: bank.up[u.e], T: u.T },
    ]), D, I);
    run('siluMulRange', [gp, gp, up], N * I, grainFor(cx, 8), arena.index);
    matmulTasks(arena, runOf.map((u) => ({ out: yp + at(u) * D * 4, x: gp + at(u) * I * 4, w: bank.down[u.e], T: u.T })), I, D);
    if (!local) copyBytes(cx.heap, y.ptr + r0 * D * 4, arena.heap, yp, N * D * 4);
  }

  return { matmul, moe };
}
