// The fast backward kernels: wasm twins of src/kernels/ref/backward.ts (backward-*.as in the kernel module), run on
// the wasm backend's thread pool. Every parallel split is race-free: threads own disjoint outputs, and sums that
// cross a split (dkRope over heads) go through per-thread partial buffers reduced by a second call. fakeQuantize is
// quantize.as, bit for bit the reference's rounding.
// Leaves out (reference path): e4m3/f16 W in matmulBackward's dx, mlaTrainAttention past ~49K tokens, routeBackward
// (tiny) and the balance-loss kernels; moeBackward is the reference grouping over these wasm matmul kernels.

import type { BackwardKernels } from '../backend.js';
import type { Tensor } from '../../tensor/tensor.js';
import type { Heap } from '../../tensor/heap.js';
import type { RopeSpec } from '../../model/rope.js';
import { f32, i32, numel } from '../../tensor/tensor.js';
import { refBackward } from '../ref/backward.js';
import { moeBackwardWith } from '../ref/moe.js';
import { gradF32 } from '../ref/elementwise.js';
import { vectorAsF32 } from '../ref/weights.js';
import { IGNORE_TARGET } from '../ref/loss.js';
import { fp8Scale, type QuantMode } from '../ref/quantize.js';
import type { WasmBackend } from './backend.js';
import { createWasmOptim } from './optim.js';

/** Columns of dx per pool grain: the 12-column panel of backward-matmul.as. Rows of dw: a multiple of its 3-row tile. */
const DX_GRAIN = 12;
const DW_GRAIN = 12;
/** Elements per grain of the elementwise kernels (whole cache lines per thread), and rows per grain of the row kernels. */
const ELEM_GRAIN = 64;
const COL_GRAIN = 16;
const ROW_GRAIN = 1;
/** Columns per grain of matmulLowAcc: its 4-column panel. */
const LOW_ACC_GRAIN = 4;
/** Columns per grain of fp8 column tiles: a cache line of each row, four SIMD lanes of columns. */
const COL_TILE_GRAIN = 16;

/** Per-thread scratch bytes the backward kernels use: backwardScratchBytes() of the module (a test checks they agree). */
export const BACKWARD_SCRATCH_BYTES = 180 * 256 * 4 + 256 * 16;

function requireF32(t: Tensor, kernel: string, arg: string): void {
  if (t.dtype !== 'f32') throw new Error(`${kernel}: ${arg} must be f32 (got ${t.dtype})`);
}

export function createWasmBackward(backend: WasmBackend): BackwardKernels {
  if (backend.scratchBytes < BACKWARD_SCRATCH_BYTES) {
    throw new Error(`wasm backward: the backend's scratch (${backend.scratchBytes} bytes per thread) is below the ${BACKWARD_SCRATCH_BYTES} its kernels need`);
  }
  const { scratch, scratchBytes } = backend;

  function matmulBackward(dx: Tensor | null, dw: Tensor | null, dout: Tensor, x: Tensor, w: Tensor,
    T: number, C: number, OC: number, xStride = C): void {
    requireF32(dout, 'matmulBackward', 'dout');
    if (dx) {
      gradF32(dx, 'matmulBackward', 'dx');
      const args = [dx.ptr, dout.ptr, w.ptr, T, C, OC, xStride, scratch, scratchBytes];
      if (w.dtype === 'f32') backend.run('matmulBackwardDxF32', args, C, DX_GRAIN);
      else if (w.dtype === 'bf16') backend.run('matmulBackwardDxBF16', args, C, DX_GRAIN);
      else refBackward.matmulBackward(dx, null, dout, x, w, T, C, OC, xStride);
    }
    if (dw) {
      gradF32(dw, 'matmulBackward', 'dw');
      requireF32(x, 'matmulBackward', 'x');
      backend.run('matmulBackwardDw', [dw.ptr, dout.ptr, x.ptr, T, C, OC, xStride, scratch, scratchBytes], OC, DW_GRAIN);
    }
  }

  function rmsnormBackward(dx: Tensor, dw: Tensor, dout: Tensor, x: Tensor, w: Tensor, T: number, D: number, eps: number,
    xStride = D, outStride = D): void {
    const name = 'rmsnormBackward';
    gradF32(dx, name, 'dx'); gradF32(dw, name, 'dw'); requireF32(dout, name, 'dout'); requireF32(x, name, 'x');
    if (T === 0 || D === 0) return;
    const heap = dx.heap;
    withTemp(heap, T * 4 + (w.dtype === 'f32' ? 0 : D * 4), (tmp) => {
      let wPtr = w.ptr;
      if (w.dtype !== 'f32') { wPtr = tmp + T * 4; new Float32Array(heap.memory.buffer, wPtr, D).set(vectorAsF32(w, D)); }
      backend.run('rmsnormBackwardDx', [dx.ptr, tmp, dout.ptr, x.ptr, wPtr, D, eps, xStride, outStride], T, ROW_GRAIN);
      backend.run('rmsnormBackwardDw', [dw.ptr, tmp, dout.ptr, x.ptr, T, xStride, outStride], D, COL_GRAIN);
    });
  }

  function siluMulBackward(dgate: Tensor, dup: Tensor, dout: Tensor, gate: Tensor, up: Tensor, n: number): void {
    const name = 'siluMulBackward';
    gradF32(dgate, name, 'dgate'); gradF32(dup, name, 'dup');
    requireF32(dout, name, 'dout'); requireF32(gate, name, 'gate'); requireF32(up, name, 'up');
    backend.run('siluMulBackward', [dgate.ptr, dup.ptr, dout.ptr, gate.ptr, up.ptr], n, ELEM_GRAIN);
  }

  function embeddingBackward(dtable: Tensor, dout: Tensor, ids: Tensor, T: number, D: number): void {
    gradF32(dtable, 'embeddingBackward', 'dtable'); requireF32(dout, 'embeddingBackward', 'dout');
    const id = i32(ids), V = dtable.shape[0];
    for (let t = 0; t < T; t++) {
      if (id[t] < 0 || id[t] >= V) throw new Error(`embeddingBackward: token id ${id[t]} at position ${t} is outside the vocabulary (0..${V - 1})`);
    }
    backend.run('embeddingBackward', [dtable.ptr, dout.ptr, ids.ptr, T, D], D, COL_GRAIN);
  }

  function concatBackward(da: Tensor, db: Tensor, dout: Tensor, T: number, A: number, B: number): void {
    gradF32(da, 'concatBackward', 'da'); gradF32(db, 'concatBackward', 'db'); requireF32(dout, 'concatBackward', 'dout');
    backend.run('concatBackward', [da.ptr, db.ptr, dout.ptr, A, B], T, ROW_GRAIN);
  }

  function ropeBackward(dx: Tensor, positions: Tensor, spec: RopeSpec, T: number, H: number, stride: number, offset: number, dr: number): void {
    requireF32(dx, 'ropeBackward', 'dx');
    const half = Math.floor(dr / 2), dr2 = 2 * half;
    if (T === 0 || half < 1) return;
    const pos = i32(positions), heap = dx.heap;
    withTemp(heap, T * dr2 * 4, (cs) => {
      // cos and sin (times mscale) of each token's angles, in double precision like the reference, rounded once.
      const table = new Float32Array(heap.memory.buffer, cs, T * dr2);
      for (let t = 0; t < T; t++) {
        for (let i = 0; i < half; i++) {
          const angle = pos[t] * spec.invFreq[i];
          table[t * dr2 + i] = Math.cos(angle) * spec.mscale;
          table[t * dr2 + half + i] = Math.sin(angle) * spec.mscale;
        }
      }
      backend.run('ropeBackward', [dx.ptr, cs, H, stride, offset, dr2, spec.interleaved ? 1 : 0], T, ROW_GRAIN);
    });
  }

  function softmaxForward(out: Tensor, x: Tensor, T: number, V: number): void {
    requireF32(out, 'softmaxForward', 'out'); requireF32(x, 'softmaxForward', 'x');
    backend.run('lossSoftmax', [out.ptr, x.ptr, V], T, ROW_GRAIN);
  }

  function crossEntropyForward(losses: Tensor, logits: Tensor, targets: Tensor, T: number, V: number): void {
    requireF32(losses, 'crossEntropyForward', 'losses'); requireF32(logits, 'crossEntropyForward', 'logits');
    checkTargets('crossEntropyForward', i32(targets), T, V);
    backend.run('lossCrossEntropy', [losses.ptr, logits.ptr, targets.ptr, V], T, ROW_GRAIN);
  }

  function crossEntropyBackward(dlogits: Tensor, logits: Tensor, targets: Tensor, dlossScale: number, T: number, V: number): void {
    gradF32(dlogits, 'crossEntropyBackward', 'dlogits'); requireF32(logits, 'crossEntropyBackward', 'logits');
    checkTargets('crossEntropyBackward', i32(targets), T, V);
    backend.run('lossCrossEntropyBackward', [dlogits.ptr, logits.ptr, targets.ptr, dlossScale, V], T, ROW_GRAIN);
  }

  /** Whether the forward's p ([T] f32) fits in a thread's scratch; longer sequences take the reference path. */
  const attentionFits = (T: number): boolean => 4 * T + 16 <= scratchBytes;

  function mlaTrainAttention(out: Tensor, q: Tensor, kv: Tensor, kRope: Tensor, T: number, H: number, dn: number, dr: number, dv: number, scale: number): void {
    for (const [t, arg] of [[out, 'out'], [q, 'q'], [kv, 'kv'], [kRope, 'kRope']] as const) requireF32(t, 'mlaTrainAttention', arg);
    if (!attentionFits(T)) return refBackward.mlaTrainAttention(out, q, kv, kRope, T, H, dn, dr, dv, scale);
    backend.run('attnTrainForward', [out.ptr, q.ptr, kv.ptr, kRope.ptr, T, H, dn, dr, dv, scale, scratch, scratchBytes], H, 1);
  }

  function mlaTrainAttentionBackward(dq: Tensor, dkv: Tensor, dkRope: Tensor, dout: Tensor, q: Tensor, kv: Tensor, kRope: Tensor,
    T: number, H: number, dn: number, dr: number, dv: number, scale: number): void {
    const name = 'mlaTrainAttentionBackward';
    gradF32(dq, name, 'dq'); gradF32(dkv, name, 'dkv'); gradF32(dkRope, name, 'dkRope');
    for (const [t, arg] of [[dout, 'dout'], [q, 'q'], [kv, 'kv'], [kRope, 'kRope']] as const) requireF32(t, name, arg);
    if (T === 0 || H === 0) return;
    const threads = backend.threads, Tp = Math.ceil(T / 4) * 4, partBytes = Math.ceil(threads * T * dr / 16) * 64;
    // Per thread: a zeroed [T, dr] partial of dkRope (heads are split across threads), summed into dkRope afterwards,
    // and the p and z arrays of a block of 4 queries (8 × Tp f32).
    withTemp(dq.heap, partBytes + threads * 8 * Tp * 4, (part) => {
      const work = part + partBytes;
      backend.run('attnTrainBackward', [dq.ptr, dkv.ptr, part, work, dout.ptr, q.ptr, kv.ptr, kRope.ptr, T, H, dn, dr, dv, scale], H, 1);
      backend.run('attnSumParts', [dkRope.ptr, part, T * dr, threads], T * dr, ELEM_GRAIN);
    });
  }

  function matmulLowAcc(out: Tensor, a: Tensor, b: Tensor, M: number, N: number, K: number): void {
    for (const [t, arg, n] of [[out, 'out', M * N], [a, 'a', M * K], [b, 'b', N * K]] as const) {
      requireF32(t, 'matmulLowAcc', arg);
      if (numel(t.shape) < n) throw new Error(`matmulLowAcc: ${arg} holds ${numel(t.shape)} values, ${n} needed`);
    }
    backend.run('matmulLowAcc', [out.ptr, a.ptr, b.ptr, M, N, K, scratch, scratchBytes], N, LOW_ACC_GRAIN);
  }

  function fakeQuantize(out: Tensor, x: Tensor, rows: number, cols: number, mode: QuantMode, block = 128): void {
    requireF32(out, 'fakeQuantize', 'out'); requireF32(x, 'fakeQuantize', 'x');
    if (!Number.isInteger(block) || block < 1) throw new Error(`fakeQuantize: block must be an integer ≥ 1, got ${block}`);
    const n = rows * cols;
    if (n === 0) return;
    switch (mode) {
      case 'bf16': return backend.run('quantBf16', [out.ptr, x.ptr], n, ELEM_GRAIN);
      case 'fp8-tiles': return backend.run('quantTiles', [out.ptr, x.ptr, cols, block], rows, ROW_GRAIN);
      case 'fp8-col-tiles': return backend.run('quantColTiles', [out.ptr, x.ptr, rows, cols, block], cols, COL_TILE_GRAIN);
      case 'fp8-blocks': return backend.run('quantBlocks', [out.ptr, x.ptr, rows, cols, block], Math.ceil(rows / block) * Math.ceil(cols / block), 1);
      case 'fp8-tensor': return quantizeTensor(out, x, n);
    }
  }

  /** One scale for all n values: per-thread maxima in scratch (slot t of area 0), reduced here, then one scaled pass. */
  function quantizeTensor(out: Tensor, x: Tensor, n: number): void {
    const parts = new Float32Array(x.heap.memory.buffer, scratch, backend.threads);
    parts.fill(0);
    backend.run('quantAmaxParts', [scratch, x.ptr], n, ELEM_GRAIN);
    const amax = parts.reduce((m, v) => Math.max(m, v), 0);
    if (!Number.isFinite(amax)) { if (out.ptr !== x.ptr) f32(out).set(f32(x).subarray(0, n)); return; }
    backend.run('quantScaled', [out.ptr, x.ptr, fp8Scale(amax)], n, ELEM_GRAIN);
  }

  return {
    ...refBackward,
    name: `${backend.name}-backward`,
    matmulBackward, rmsnormBackward, siluMulBackward, embeddingBackward, concatBackward, ropeBackward,
    softmaxForward, crossEntropyForward, crossEntropyBackward, mlaTrainAttention, mlaTrainAttentionBackward, matmulLowAcc, fakeQuantize,
    moeBackward: moeBackwardWith(backend.matmul, matmulBackward),
    ...createWasmOptim(backend),
  };
}

/** The same check and message as the reference: every target is −1 (ignored) or inside the vocabulary. */
function checkTargets(kernel: string, y: Int32Array, T: number, V: number): void {
  for (let t = 0; t < T; t++) {
    if (y[t] !== IGNORE_TARGET && (y[t] < 0 || y[t] >= V)) {
      throw new Error(`${kernel}: target ${y[t]} at position ${t} is neither ${IGNORE_TARGET} (ignore) nor in the vocabulary (0..${V - 1})`);
    }
  }
}

/** Runs fn with `bytes` (> 0) of heap memory at a 16-byte-aligned offset, released afterwards. */
function withTemp(heap: Heap, bytes: number, fn: (ptr: number) => void): void {
  const ptr = heap.alloc(Math.max(16, bytes));
  try { fn(ptr); } finally { heap.release(ptr); }
}

