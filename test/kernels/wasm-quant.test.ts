// The wasm kernels on q8_0 / q4_0 weights against the reference kernels run on the same bytes (ref/weights.ts
// dequantises them): matmul in both forms (the integer dot form under 32 tokens, f32 panels from 32), with C not a
// multiple of the K block and odd OC, and x blocks that hold one huge value; a token's outputs bit for bit the same alone as among up to 31 tokens, across
// chunks of x; the dot form against the exact dot products with the x it holds (sharper than the f32 allowance);
// the MoE path (matmulTasks); and the ops that decode weight rows (embedding, rmsnorm, MLA absorption).
// Leaves out speed (bench/matmul.ts).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Heap } from '../../src/tensor/heap.js';
import { empty, f32, bytes, fromI32, type Tensor } from '../../src/tensor/tensor.js';
import { refBackend } from '../../src/kernels/ref/index.js';
import { rowReader } from '../../src/kernels/ref/weights.js';
import type { ExpertBank } from '../../src/kernels/backend.js';
import { createWasmBackend, type WasmBackend } from '../../src/kernels/wasm/backend.js';
import { quantizeRowQ8_0, quantizeRowQ4_0 } from '../../src/weights/quantize.js';
import { Rng } from '../../src/util/random.js';
import { rand, assertClose, eachBackend, rms, FLAVOURS } from './wasm-ops-fixtures.js';

type QKind = 'q8_0' | 'q4_0';
const QKINDS: readonly QKind[] = ['q8_0', 'q4_0'];

/** A [rows, cols] weight quantized from uniform values whose size varies from block to block (zeroFirst: each block's first column 0). */
function randQuant(heap: Heap, kind: QKind, rows: number, cols: number, r: Rng, zeroFirst = false): Tensor {
  const w = empty(heap, [rows, cols], kind), row = new Float32Array(cols), rowBytes = (cols / 32) * (kind === 'q8_0' ? 34 : 18);
  const out = bytes(w);
  for (let o = 0; o < rows; o++) {
    for (let c = 0; c < cols; c++) row[c] = zeroFirst && c % 32 === 0 ? 0 : (r.uniform() * 2 - 1) * 2 ** (((c >> 5) % 5) - 2);
    (kind === 'q8_0' ? quantizeRowQ8_0 : quantizeRowQ4_0)(row, out, o * rowBytes);
  }
  return w;
}

/**
 * How far the dot form may move one x from its value, for a block whose largest |x| is amax: it holds each x block as
 * int16 steps of amax/32767 plus a second int16 of the rest (steps 2^15 times finer), so half of amax/32767·2^-15;
 * relaxed SIMD's q4_0 holds one integer of up to 2088895 steps (three int8 digits for its byte dot product), so
 * half of amax/2088895.
 */
function xError(k: WasmBackend, kind: QKind, amax: number): number {
  return k.flavour === 'relaxed' && kind === 'q4_0' ? amax / 2088895 / 2 : amax / 32767 / 65536;
}

/**
 * Largest |wasm − ref| over its bound ≤ 1 passes. The dot form's x moves by up to xError, so an output may move by
 * up to Σ_c |w[o, c]|·xError(c); on top, f32 summation: 1e-5·sqrt(C)·Σ_c |x·w|. `outlier`: every block's first x is
 * ±1e4 and meets a zero column of W, so it only sets the block's step (with one int16 alone, the others then moved
 * outputs by ~1e-2 of their size).
 */
function worstError(heap: Heap, k: WasmBackend, kind: QKind, T: number, C: number, OC: number, seed: number, outlier = false): number {
  const r = new Rng(seed);
  const x = rand(heap, [T, C], r), w = randQuant(heap, kind, OC, C, r, outlier);
  if (outlier) f32(x).forEach((_, i, a) => { if (i % 32 === 0) a[i] = r.uniform() < 0.5 ? -1e4 : 1e4; });
  const want = empty(heap, [T, OC]), got = empty(heap, [T, OC]);
  f32(got).fill(Number.NaN); // every output must be written
  refBackend.matmul(want, x, w, T, C, OC);
  k.matmul(got, x, w, T, C, OC);
  const read = rowReader(w, C), wr = new Float32Array(C), xa = f32(x), g = f32(got), e = f32(want);
  const moved = new Float32Array(T * C); // xError of each x
  for (let i = 0; i < T * C; i += 32) {
    let amax = 0;
    for (let j = i; j < i + 32; j++) amax = Math.max(amax, Math.abs(xa[j]));
    moved.fill(xError(k, kind, amax), i, i + 32);
  }
  let worst = 0;
  for (let o = 0; o < OC; o++) {
    read(o, wr);
    for (let t = 0; t < T; t++) {
      let quant = 0, mag = 0;
      for (let c = 0; c < C; c++) { quant += Math.abs(wr[c]) * moved[t * C + c]; mag += Math.abs(xa[t * C + c] * wr[c]); }
      const bound = quant + 1e-5 * Math.sqrt(C) * mag + 1e-30;
      worst = Math.max(worst, Math.abs(g[t * OC + o] - e[t * OC + o]) / bound);
    }
  }
  return worst; // NaN (an unwritten output) fails the caller's `<= 1`
}

/** Round half to even, as f32x4.nearest. */
function nearestEven(v: number): number {
  const r = Math.round(v);
  return r - v === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/**
 * The value the dot form holds for each x (quantizeX, step by step in f32 as the kernel takes it): per 32-block,
 * relaxed SIMD's q4_0 one integer X = nearest(x·(2088895/amax)) times amax/2088895, every other form h + l/2^15
 * (h = nearest(x·(32767/amax)), l the rounded rest in steps 2^15 times finer) times amax/32767.
 */
function heldX(k: WasmBackend, kind: QKind, x: Float32Array): Float64Array {
  const digits = k.flavour === 'relaxed' && kind === 'q4_0', range = digits ? 2088895 : 32767, f = Math.fround;
  const held = new Float64Array(x.length);
  for (let i = 0; i < x.length; i += 32) {
    let amax = 0;
    for (let j = i; j < i + 32; j++) amax = Math.max(amax, Math.abs(x[j]));
    if (amax === 0) continue;
    const iv = f(range / amax), dx = f(amax / range);
    for (let j = i; j < i + 32; j++) {
      const y = f(x[j] * iv), h = nearestEven(y);
      held[j] = (digits ? h : h + nearestEven(f(y - h) * 32768) / 32768) * dx;
    }
  }
  return held;
}

for (const flavour of FLAVOURS) {
  test(`wasm ${flavour} q8_0/q4_0 dot form: outputs are the exact dot products with the x it holds, up to f32 rounding`, async () => {
    // Sharper than the agreement test above: its f32 allowance (1e-5·sqrt(C)) is as large as a lost low digit of x.
    const heap = new Heap(16 << 20);
    const k = createWasmBackend(heap, { flavour, threads: 1, minWork: 1 });
    try {
      let seed = 100;
      for (const kind of QKINDS) for (const T of [1, 5]) for (const [C, OC] of [[288, 37], [2048, 9]]) for (const outlier of [false, true]) {
        const r = new Rng(seed++);
        const x = rand(heap, [T, C], r), w = randQuant(heap, kind, OC, C, r, outlier);
        if (outlier) f32(x).forEach((_, i, a) => { if (i % 32 === 0) a[i] = r.uniform() < 0.5 ? -1e4 : 1e4; });
        const got = empty(heap, [T, OC]);
        k.matmul(got, x, w, T, C, OC);
        const held = heldX(k, kind, f32(x)), read = rowReader(w, C), wr = new Float32Array(C), g = f32(got);
        // Per block: an exact integer sum, its conversion, the scale product and the adds of four rows' lanes round
        // (a few 2^-24 of the block's Σ|w·x|); then one f32 accumulate per block.
        const allowed = (C / 32 + 8) * 2 ** -24;
        for (let o = 0; o < OC; o++) {
          read(o, wr);
          for (let t = 0; t < T; t++) {
            let want = 0, mag = 0;
            for (let c = 0; c < C; c++) { want += wr[c] * held[t * C + c]; mag += Math.abs(wr[c] * held[t * C + c]); }
            const err = Math.abs(g[t * OC + o] - want);
            assert.ok(err <= allowed * mag + 1e-30, `${kind} T=${T} C=${C} OC=${OC} outlier=${outlier} [${t}, ${o}]: ${g[t * OC + o]} vs ${want}, error ${err / mag} of Σ|w·x|`);
          }
        }
      }
    } finally {
      await k.close();
    }
  });
}

for (const flavour of FLAVOURS) {
  for (const threads of [1, 2]) {
    test(`wasm ${flavour} matmul on ${threads} thread(s), q8_0/q4_0 weights, agrees with the reference (both forms, odd shapes)`, async () => {
      const heap = new Heap(16 << 20);
      const k = createWasmBackend(heap, { flavour, threads, minWork: 1 });
      try {
        let seed = 1;
        for (const kind of QKINDS) for (const T of [1, 2, 5, 31, 32, 40]) for (const [C, OC] of [[32, 1], [288, 37], [544, 201], [96, 3]]) {
          const worst = worstError(heap, k, kind, T, C, OC, seed++);
          assert.ok(worst <= 1, `${kind} T=${T} C=${C} OC=${OC}: error ${worst} × bound`);
        }
        for (const kind of QKINDS) for (const T of [1, 3]) {
          const worst = worstError(heap, k, kind, T, 288, 37, seed++, true);
          assert.ok(worst <= 1, `${kind} T=${T} with an outlier x in every block: error ${worst} × bound`);
        }
      } finally {
        await k.close();
      }
    });
  }

  test(`wasm ${flavour} q8_0/q4_0 matmul: each token's row is bit for bit the same alone as among up to 31 tokens`, async () => {
    // C = 3200 (100 blocks): 31 tokens' int16 x overflows one scratch chunk (94 blocks) where one token's does not.
    const heap = new Heap(16 << 20);
    const k = createWasmBackend(heap, { flavour, threads: 2, minWork: 1 });
    try {
      for (const kind of QKINDS) for (const [C, OC] of [[288, 37], [3200, 10]]) {
        const r = new Rng(C + OC);
        const w = randQuant(heap, kind, OC, C, r), x = rand(heap, [31, C], r);
        const alone = new Float32Array(31 * OC), one = empty(heap, [1, OC]);
        for (let t = 0; t < 31; t++) {
          k.matmul(one, { ...x, ptr: x.ptr + t * C * 4, shape: [1, C], owner: false }, w, 1, C, OC);
          alone.set(f32(one), t * OC);
        }
        for (const T of [2, 3, 4, 7, 16, 31]) {
          const out = empty(heap, [T, OC]);
          k.matmul(out, x, w, T, C, OC);
          const got = f32(out);
          for (let i = 0; i < T * OC; i++) {
            assert.ok(Object.is(got[i], alone[i]), `${kind} C=${C} OC=${OC} T=${T}: token ${Math.floor(i / OC)} output ${i % OC}: ${got[i]} among ${T}, ${alone[i]} alone`);
          }
        }
      }
    } finally {
      await k.close();
    }
  });
}

test('moe with q8_0/q4_0 experts (matmulTasks) agrees with the reference backend', async () => {
  await eachBackend((heap, k, label) => {
    const r = new Rng(6);
    for (const kind of QKINDS) for (const [T, K] of [[1, 2], [5, 3], [40, 2]]) {
      const E = 6, D = 64, I = 96;
      const bank: ExpertBank = {
        gate: Array.from({ length: E }, () => randQuant(heap, kind, I, D, r)),
        up: Array.from({ length: E }, () => randQuant(heap, kind, I, D, r)),
        down: Array.from({ length: E }, () => randQuant(heap, kind, D, I, r)),
      };
      const ex: number[] = []; // distinct experts per token, never expert 5 (an idle one)
      for (let t = 0; t < T; t++) { const first = r.nextU32() % 5; for (let j = 0; j < K; j++) ex.push((first + j) % 5); }
      const experts = fromI32(heap, ex), weights = rand(heap, [T, K], r);
      const x = rand(heap, [T, D], r), want = empty(heap, [T, D]), got = empty(heap, [T, D]);
      refBackend.moe(want, x, experts, weights, bank, T, D, I, K);
      k.moe(got, x, experts, weights, bank, T, D, I, K);
      assertClose(f32(got), f32(want), 2e-4, `${label} moe ${kind} T=${T} K=${K}`, rms(f32(want)));
    }
  });
});

test('embedding, rmsnorm and MLA absorption decode q8_0/q4_0 rows exactly as the reference does', async () => {
  await eachBackend((heap, k, label) => {
    const r = new Rng(9);
    for (const kind of QKINDS) {
      const V = 23, T = 11, D = 96, table = randQuant(heap, kind, V, D, r);
      const ids = fromI32(heap, Array.from({ length: T }, () => r.nextU32() % V));
      const want = empty(heap, [T, D]), got = empty(heap, [T, D]);
      refBackend.embedding(want, ids, table, T, D); k.embedding(got, ids, table, T, D);
      assertClose(f32(got), f32(want), 0, `${label} embedding ${kind}`);
      const nw = randQuant(heap, kind, 1, D, r), x = rand(heap, [T, D], r, 3);
      refBackend.rmsnorm(want, x, nw, T, D, 1e-6); k.rmsnorm(got, x, nw, T, D, 1e-6);
      assertClose(f32(got), f32(want), 2e-6, `${label} rmsnorm ${kind}`);
      const H = 3, dn = 5, dr = 4, dv = 7, R = 160; // R: two absorb-query column items of 64 and a partial one
      const kvB = randQuant(heap, kind, H * (dn + dv), R, r);
      for (const B of [1, 3]) {
        const q = rand(heap, [B, H * (dn + dr)], r), ctx = rand(heap, [B, H * R], r);
        const wantQ = empty(heap, [B, H * R]), gotQ = empty(heap, [B, H * R]);
        refBackend.mlaAbsorbQuery(wantQ, q, kvB, B, H, dn, dr, dv, R); k.mlaAbsorbQuery(gotQ, q, kvB, B, H, dn, dr, dv, R);
        assertClose(f32(gotQ), f32(wantQ), 1e-5, `${label} mlaAbsorbQuery ${kind} B=${B}`, rms(f32(wantQ)));
        const wantO = empty(heap, [B, H * dv]), gotO = empty(heap, [B, H * dv]);
        refBackend.mlaAbsorbOutput(wantO, ctx, kvB, B, H, dn, dv, R); k.mlaAbsorbOutput(gotO, ctx, kvB, B, H, dn, dv, R);
        assertClose(f32(gotO), f32(wantO), 1e-5, `${label} mlaAbsorbOutput ${kind} B=${B}`, rms(f32(wantO)));
      }
    }
  });
});
