// The wasm matmulBackward (src/kernels/wasm/backward-matmul.as) against the reference on seeded random inputs: odd
// shapes (3-row tiles and 1-row tails, partial 12-column panels, several K blocks and 180-column chunks, strided x),
// f32 and bf16 W, dx/dw null, gradients holding values beforehand (the += contract), both builds, 1 and 2 threads.
// Leaves out speed (bench/matmul-backward.ts).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Heap } from '../../src/tensor/heap.js';
import { empty, f32, u16, type Tensor } from '../../src/tensor/tensor.js';
import { matmulBackward } from '../../src/kernels/ref/matmul.js';
import { f32ToBf16 } from '../../src/weights/dtypes.js';
import { relaxedSimdSupported, compileKernels, instantiateKernels, type WasmFlavour } from '../../src/kernels/wasm/loader.js';
import { createWasmBackend } from '../../src/kernels/wasm/backend.js';
import { createWasmBackward, BACKWARD_SCRATCH_BYTES } from '../../src/kernels/wasm/backward.js';

import { random } from './grad-check.js';

const flavours: WasmFlavour[] = relaxedSimdSupported() ? ['simd', 'relaxed'] : ['simd'];

function filled(heap: Heap, shape: number[], r: () => number): Tensor {
  const t = empty(heap, shape);
  f32(t).forEach((_, i, a) => { a[i] = r(); });
  return t;
}

function bf16Weight(heap: Heap, OC: number, C: number, r: () => number): Tensor {
  const w = empty(heap, [OC, C], 'bf16');
  u16(w).forEach((_, i, a) => { a[i] = f32ToBf16(r()); });
  return w;
}

/** W's values as numbers (bf16 widened). */
function values(w: Tensor): Float32Array {
  if (w.dtype === 'f32') return f32(w);
  return new Float32Array(new Uint32Array(Array.from(u16(w), (b) => b << 16)).buffer);
}

/**
 * Largest |wasm − ref| / (1e-5·sqrt(K)·(Σ_k |a·b| + |initial|) + 1e-30) over the entries of one gradient: ≤ 1 passes.
 * `mag[i]` is the magnitude of entry i's terms.
 */
function worst(got: Float32Array, want: Float32Array, mag: Float64Array, K: number): number {
  let w = 0;
  for (let i = 0; i < got.length; i++) w = Math.max(w, Math.abs(got[i] - want[i]) / (1e-5 * Math.sqrt(K) * mag[i] + 1e-30));
  return w;
}

const SHAPES: { T: number; C: number; OC: number; xStride?: number }[] = [
  { T: 1, C: 1, OC: 1 }, { T: 1, C: 7, OC: 5 }, { T: 2, C: 13, OC: 3 }, { T: 3, C: 12, OC: 12 },
  { T: 7, C: 33, OC: 17 }, { T: 17, C: 130, OC: 64 }, { T: 5, C: 25, OC: 9, xStride: 31 },
  { T: 300, C: 37, OC: 23 },             // dw: two K blocks of tokens plus a tail
  { T: 8, C: 400, OC: 515, xStride: 401 }, // dx: three K blocks of OC; 180-column chunks and a partial one
  { T: 10, C: 193, OC: 50 },             // a chunk of 180 columns, then 13 (a panel and one column)
];

for (const flavour of flavours) {
  for (const threads of [1, 2]) {
    test(`wasm ${flavour} matmulBackward on ${threads} thread(s) agrees with the reference (f32/bf16 W, +=, null grads)`, async () => {
      const heap = new Heap(16 << 20);
      const backend = createWasmBackend(heap, { flavour, threads });
      const B = createWasmBackward(backend);
      try {
        SHAPES.forEach(({ T, C, OC, xStride = C }, si) => {
          for (const kind of ['f32', 'bf16'] as const) {
            const r = random(100 + si);
            const x = filled(heap, [T, xStride], r), dout = filled(heap, [T, OC], r);
            const w = kind === 'f32' ? filled(heap, [OC, C], r) : bf16Weight(heap, OC, C, r);
            const dx0 = filled(heap, [T, xStride], r), dw0 = filled(heap, [OC, C], r);
            const dxWant = filled(heap, [T, xStride], () => 0), dwWant = filled(heap, [OC, C], () => 0);
            const dxGot = filled(heap, [T, xStride], () => 0), dwGot = filled(heap, [OC, C], () => 0);
            f32(dxWant).set(f32(dx0)); f32(dxGot).set(f32(dx0)); f32(dwWant).set(f32(dw0)); f32(dwGot).set(f32(dw0));
            matmulBackward(dxWant, dwWant, dout, x, w, T, C, OC, xStride);
            B.matmulBackward(dxGot, dwGot, dout, x, w, T, C, OC, xStride);
            const g = f32(dout), xa = f32(x), wa = values(w);
            const magX = new Float64Array(T * xStride), magW = new Float64Array(OC * C);
            for (let t = 0; t < T; t++) {
              for (let c = 0; c < xStride; c++) magX[t * xStride + c] = Math.abs(f32(dx0)[t * xStride + c]);
              for (let o = 0; o < OC; o++) {
                const go = Math.abs(g[t * OC + o]);
                for (let c = 0; c < C; c++) { magX[t * xStride + c] += go * Math.abs(wa[o * C + c]); magW[o * C + c] += go * Math.abs(xa[t * xStride + c]); }
              }
            }
            for (let i = 0; i < OC * C; i++) magW[i] += Math.abs(f32(dw0)[i]);
            const what = `${kind} T=${T} C=${C} OC=${OC} xStride=${xStride}`;
            const ex = worst(f32(dxGot), f32(dxWant), magX, OC), ew = worst(f32(dwGot), f32(dwWant), magW, T);
            assert.ok(ex <= 1, `${what}: dx error ${ex} × tolerance`);
            assert.ok(ew <= 1, `${what}: dw error ${ew} × tolerance`);
            // the padding columns of a strided dx are left exactly as they were
            for (let t = 0; t < T; t++) for (let c = C; c < xStride; c++) {
              assert.equal(f32(dxGot)[t * xStride + c], f32(dx0)[t * xStride + c], `${what}: dx padding ${t},${c} changed`);
            }
            // null skips a gradient: dw alone, then dx alone, each adds the same again
            const dwOnce = f32(dwGot).map((v, i) => v - f32(dw0)[i]), dxOnce = f32(dxGot).map((v, i) => v - f32(dx0)[i]);
            const dwBefore = f32(dwGot).slice(), dxBefore = f32(dxGot).slice();
            B.matmulBackward(null, dwGot, dout, x, w, T, C, OC, xStride);
            assert.deepEqual(f32(dxGot), dxBefore, `${what}: dx = null still changed dx`);
            for (let i = 0; i < OC * C; i++) {
              assert.ok(Math.abs(f32(dwGot)[i] - dwBefore[i] - dwOnce[i]) <= 1e-5 * (1 + magW[i]), `${what}: dw alone, entry ${i}`);
            }
            B.matmulBackward(dxGot, null, dout, x, w, T, C, OC, xStride);
            for (let i = 0; i < T * xStride; i++) {
              assert.ok(Math.abs(f32(dxGot)[i] - dxBefore[i] - dxOnce[i]) <= 1e-5 * (1 + magX[i]), `${what}: dx alone, entry ${i}`);
            }
          }
        });
      } finally {
        await backend.close();
      }
    });
  }
}

test('the kernel module asks for the per-thread scratch that backward.ts checks, and the backend has it', async () => {
  const heap = new Heap(1 << 20);
  const k = instantiateKernels(compileKernels('simd'), heap.memory);
  assert.equal(k.exports.backwardScratchBytes(), BACKWARD_SCRATCH_BYTES, 'backwardScratchBytes() vs BACKWARD_SCRATCH_BYTES');
  assert.ok(k.scratchBytes >= BACKWARD_SCRATCH_BYTES, `scratch ${k.scratchBytes} < ${BACKWARD_SCRATCH_BYTES}`);
});

test('wasm matmulBackward refuses a non-f32 gradient with an error naming the kernel and argument', async () => {
  const heap = new Heap(1 << 20);
  const backend = createWasmBackend(heap, { threads: 1 });
  try {
    const B = createWasmBackward(backend);
    const x = empty(heap, [1, 2]), w = empty(heap, [3, 2]), dout = empty(heap, [1, 3]);
    assert.throws(() => B.matmulBackward(null, empty(heap, [3, 2], 'bf16'), dout, x, w, 1, 2, 3), /matmulBackward: gradient dw must be f32/);
  } finally {
    await backend.close();
  }
});
