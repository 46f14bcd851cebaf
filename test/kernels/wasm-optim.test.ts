// The wasm optimizer kernels (src/kernels/wasm/optim.as) against the reference ones (src/kernels/ref/optim.ts), BIT
// for bit: AdamW over three steps (moments carried, f32 and bf16, weight decay 0 and 0.1, an update of the first n
// values only, gradients big enough to overflow v to infinity), Σ g² across chunk and thread boundaries, and scaling;
// odd lengths (SIMD pairs plus a scalar tail, thread shares that end mid-pair), both builds, 1 and 2 threads.
// Leaves out NaN inputs: wasm may give a NaN another payload, and a NaN gradient skips the step anyway.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Heap } from '../../src/tensor/heap.js';
import { bytes, empty, f32, u16, type Tensor } from '../../src/tensor/tensor.js';
import { refBackward as R } from '../../src/kernels/ref/backward.js';
import { SUM_SQUARES_CHUNK } from '../../src/kernels/ref/optim.js';
import { f32ToBf16 } from '../../src/weights/dtypes.js';
import { random, filled } from './grad-check.js';
import { testWasmCases, type WasmCase } from './wasm-cases.js';

/** Lengths: one, an odd few, one past a chunk, and over three chunks with an odd tail (two threads' shares). */
const LENGTHS = [1, 7, SUM_SQUARES_CHUNK + 1, 3 * SUM_SQUARES_CHUNK + 13];

function sameBits(what: string, got: Tensor, want: Tensor): void {
  const g = bytes(got), w = bytes(want);
  for (let i = 0; i < g.length; i++) {
    if (g[i] !== w[i]) {
      const el = Math.floor(i / (got.dtype === 'f32' ? 4 : 2));
      const show = (t: Tensor) => (t.dtype === 'f32' ? f32(t)[el] : `bf16 0x${u16(t)[el].toString(16)}`);
      assert.fail(`${what}: element ${el} is ${show(got)}, reference ${show(want)}`);
    }
  }
}

function copy(heap: Heap, t: Tensor): Tensor {
  const c = empty(heap, t.shape, t.dtype);
  bytes(c).set(bytes(t));
  return c;
}

/** Moments with random values (v ≥ 0), so the first step already reads them back through their dtype. */
function moments(heap: Heap, n: number, dtype: 'f32' | 'bf16', r: () => number, square: boolean): Tensor {
  const t = empty(heap, [n], dtype);
  for (let i = 0; i < n; i++) {
    const x = square ? (r() * 0.01) ** 2 : r() * 0.01;
    if (dtype === 'f32') f32(t)[i] = x; else u16(t)[i] = f32ToBf16(x);
  }
  return t;
}

const cases: WasmCase[] = [];

for (const n of LENGTHS) {
  for (const dtype of ['f32', 'bf16'] as const) {
    for (const weightDecay of [0, 0.1]) {
      cases.push([`adamw n ${n} ${dtype} moments, decay ${weightDecay}`, (heap, B) => {
        const r = random(n * 7 + (dtype === 'bf16' ? 1 : 0) + weightDecay * 10);
        const w = filled(heap, [n], r), m = moments(heap, n, dtype, r, false), v = moments(heap, n, dtype, r, true);
        const w2 = copy(heap, w), m2 = copy(heap, m), v2 = copy(heap, v);
        for (let step = 1; step <= 3; step++) {
          const g = filled(heap, [n], r, 10 ** (step - 3));  // gradients 0.01, 0.1, 1 in size
          if (step === 3 && n > 2) f32(g)[n - 2] = 3e38;      // g² overflows v's f32 to infinity
          const h = { lr: 3e-3 * step, beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay, step };
          R.adamw(w, g, m, v, n, h);
          B.adamw(w2, g, m2, v2, n, h);
          sameBits(`step ${step} w`, w2, w); sameBits(`step ${step} m`, m2, m); sameBits(`step ${step} v`, v2, v);
        }
      }]);
    }
  }
}

cases.push(['adamw over the first n of a longer tensor leaves the rest', (heap, B) => {
  const r = random(5), N = 2 * SUM_SQUARES_CHUNK + 9, n = N - 6;
  const w = filled(heap, [N], r), m = moments(heap, N, 'f32', r, false), v = moments(heap, N, 'f32', r, true), g = filled(heap, [N], r);
  const w2 = copy(heap, w), m2 = copy(heap, m), v2 = copy(heap, v), h = { lr: 0.01, beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0.1, step: 1 };
  R.adamw(w, g, m, v, n, h);
  B.adamw(w2, g, m2, v2, n, h);
  sameBits('w', w2, w); sameBits('m', m2, m); sameBits('v', v2, v);
}]);

for (const n of [0, ...LENGTHS]) {
  cases.push([`sumSquares n ${n}`, (heap, B) => {
    const g = filled(heap, [n], random(n + 3), 1e3);
    const got = B.sumSquares(g), want = R.sumSquares(g);
    assert.ok(Object.is(got, want), `Σg² = ${got}, reference ${want}`);
  }]);
  cases.push([`sumSquares n ${n}, the four interleaved sums of very different sizes`, (heap, B) => {
    // Sizes 1e4, 1, 1e-2, 30 by index mod 4: how the four sums meet decides the last bits (random seeds, so a wrong
    // order shows up in some).
    const sizes = [1e4, 1, 1e-2, 30];
    for (let seed = 1; seed <= 16; seed++) {
      const g = filled(heap, [n], random(seed * 101 + n));
      f32(g).forEach((x, i, a) => { a[i] = x * sizes[i & 3]; });
      const got = B.sumSquares(g), want = R.sumSquares(g);
      assert.ok(Object.is(got, want), `seed ${seed}: Σg² = ${got}, reference ${want}`);
    }
  }]);
  cases.push([`scaleInPlace n ${n}`, (heap, B) => {
    const g = filled(heap, [n], random(n + 11), 5), g2 = copy(heap, g);
    R.scaleInPlace(g, 1 / 3);
    B.scaleInPlace(g2, 1 / 3);
    sameBits('g', g2, g);
  }]);
}

testWasmCases((flavour, threads) => `wasm ${flavour} optimizer kernels on ${threads} thread(s) equal the reference bit for bit`, cases);

test('the reference Σ g² keeps its documented order: four interleaved sums per chunk, (s0 + s1) + (s2 + s3)', () => {
  // 1, then ten squares of 2^-54 (half an ulp of 1 is 2^-53). Added in sequence each one vanishes against the 1: the
  // sum would be exactly 1. In the documented order s0 = 1 (indices 0, 4, 8: each small one vanishes), s1 = 3·2^-54,
  // s2 = 3·2^-54, s3 = 2·2^-54; 1 + s1 rounds to 1 + 2^-52, s2 + s3 = 5·2^-54 is exact, and their sum 1 + 2.25·2^-52
  // rounds to 1 + 2^-51.
  const heap = new Heap(1 << 16), g = empty(heap, [11]);
  f32(g).set([1, ...Array.from({ length: 10 }, () => 2 ** -27)]);
  assert.equal(R.sumSquares(g), 1 + 2 ** -51);
});
