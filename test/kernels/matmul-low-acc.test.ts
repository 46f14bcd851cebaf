// matmulLowAcc, the 14-bit-accumulator GEMM of the FP8 negative control: the reference against an arithmetic
// definition written here (table-driven edge cases, then random sums, bit for bit), its error calibrated to the
// "nearly 2%" DeepSeek-V3 §3.3.2 measured on H800 at K = 4096, and the wasm twin against the reference bit for bit: shapes with K not a multiple of 4 and across 256-k blocks, M and N off the 4 × 4 tile and
// across 64-column chunks, both builds, 1 and 2 threads. Leaves out speed (bench/train-low-acc.ts).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Heap } from '../../src/tensor/heap.js';
import { empty, f32, fromF32 } from '../../src/tensor/tensor.js';
import { matmulLowAcc } from '../../src/kernels/ref/matmul-low-acc.js';
import { relaxedSimdSupported, compileKernels, instantiateKernels, type WasmFlavour } from '../../src/kernels/wasm/loader.js';
import { createWasmBackend } from '../../src/kernels/wasm/backend.js';
import { createWasmBackward, BACKWARD_SCRATCH_BYTES } from '../../src/kernels/wasm/backward.js';
import { random } from './grad-check.js';
import { lowAccSum } from './low-acc-definition.js';

const flavours: WasmFlavour[] = relaxedSimdSupported() ? ['simd', 'relaxed'] : ['simd'];

const bits = (a: Float32Array) => Array.from(new Uint32Array(a.buffer, a.byteOffset, a.length));

/** The reference's one output for the terms a (b all ones: each product is the term itself). */
function refSum(heap: Heap, terms: number[]): number {
  const K = terms.length, Kx = Math.max(K, 1), out = empty(heap, [1, 1]); // K = 0 still needs a tensor
  const a = fromF32(heap, Float32Array.from({ length: Kx }, (_, k) => terms[k] ?? 5), [1, Kx]);
  matmulLowAcc(out, a, fromF32(heap, new Float32Array(Kx).fill(1), [1, Kx]), 1, 1, K);
  return f32(out)[0];
}

const CASES: { what: string; terms: number[]; want: number }[] = [
  { what: 'terms below the grid step after 1, in groups of their own, are lost group by group',
    terms: [1, 0, 0, 0, 2 ** -14, 0, 0, 0, 2 ** -14, 0, 0, 0, 2 ** -14], want: 1 },
  { what: 'small terms in one group of 4 add up before the truncation', terms: [1, 2 ** -14, 2 ** -14, 2 ** -14], want: 1 + 2 ** -13 },
  { what: 'the groups are 4 k long, not 8', terms: [1, 2 ** -14, 0, 0, 2 ** -14, 0, 0, 0], want: 1 },
  { what: 'a short last group adds up first too', terms: [1, 0, 0, 0, 2 ** -14, 2 ** -14], want: 1 + 2 ** -13 },
  { what: 'the same terms summed first survive', terms: [2 ** -14, 2 ** -14, 1], want: 1 + 2 ** -13 },
  { what: 'a 14th significant bit is kept', terms: [1, 2 ** -13], want: 1 + 2 ** -13 },
  { what: 'negative sums truncate toward zero', terms: [-1, -(2 ** -14), -(2 ** -13)], want: -(1 + 2 ** -13) },
  { what: 'toward zero, not to nearest', terms: [-1, -3 * 2 ** -14], want: -(1 + 2 ** -13) },
  { what: 'subnormals keep multiples of 2^-139', terms: [3 * 2 ** -140], want: 2 ** -139 },
  { what: 'a subnormal below 2^-139 flushes to +0', terms: [2 ** -140], want: 0 },
  { what: 'a negative one flushes to -0', terms: [-(2 ** -140)], want: -0 },
  { what: 'an empty sum is +0', terms: [], want: 0 },
  { what: 'infinity passes', terms: [Infinity, 1], want: Infinity },
  { what: 'NaN stays NaN', terms: [Infinity, -Infinity, 1], want: NaN },
];

test('ref matmulLowAcc: table of edge cases', () => {
  const heap = new Heap(1 << 20);
  for (const { what, terms, want } of CASES) {
    assert.ok(Object.is(refSum(heap, terms), want), `${what}: [${terms.join(', ')}] gave ${refSum(heap, terms)}, want ${want}`);
    assert.ok(Object.is(lowAccSum(terms, terms.map(() => 1)), want), `the test's definition agrees on: ${what}`);
  }
});

/** Random f32 values over a spread of magnitudes (2^-8 .. 2^8), some exact zeros. */
function values(n: number, r: () => number): Float32Array {
  return Float32Array.from({ length: n }, () => (r() > 0.95 ? 0 : Math.fround(r() * 2 ** Math.round(r() * 8))));
}

test('ref matmulLowAcc equals the definition bit for bit on random sums, and differs from f32 accumulation', () => {
  const heap = new Heap(4 << 20), r = random(11);
  const M = 5, N = 6, K = 300;
  const a = values(M * K, r), b = values(N * K, r), out = empty(heap, [M, N]);
  matmulLowAcc(out, fromF32(heap, a, [M, K]), fromF32(heap, b, [N, K]), M, N, K);
  const want = new Float32Array(M * N), plain = new Float32Array(M * N);
  for (let m = 0; m < M; m++) {
    for (let n = 0; n < N; n++) {
      const am = a.subarray(m * K, m * K + K), bn = b.subarray(n * K, n * K + K);
      want[m * N + n] = lowAccSum(am, bn);
      let s = 0;
      for (let k = 0; k < K; k++) s = Math.fround(s + Math.fround(am[k] * bn[k]));
      plain[m * N + n] = s;
    }
  }
  assert.deepEqual(bits(f32(out)), bits(want));
  const wantBits = bits(want), differ = bits(plain).filter((v, i) => v !== wantBits[i]).length;
  assert.ok(differ >= (M * N) / 2, `the 14-bit accumulator changes most sums (${differ} of ${M * N})`);
});

/** The mean relative error of the reference's sums against the exact (float64) sums of K products of uniform [0, 1) values. */
function meanRelativeError(K: number, seed: number): number {
  const heap = new Heap(4 << 20), r = random(seed), M = 8, N = 8;
  const uniform = (n: number) => Float32Array.from({ length: n }, () => Math.fround((r() + 1) / 2));
  const a = uniform(M * K), b = uniform(N * K), out = empty(heap, [M, N]);
  matmulLowAcc(out, fromF32(heap, a, [M, K]), fromF32(heap, b, [N, K]), M, N, K);
  let sum = 0;
  for (let m = 0; m < M; m++) {
    for (let n = 0; n < N; n++) {
      let exact = 0; // each f32·f32 product is exact in float64, and so is their sum to far below these tolerances
      for (let k = 0; k < K; k++) exact += a[m * K + k] * b[n * K + k];
      sum += Math.abs(f32(out)[m * N + n] - exact) / exact;
    }
  }
  return sum / (M * N);
}

test('ref matmulLowAcc loses "nearly 2%" of a K = 4096 sum of positive products (DeepSeek-V3 §3.3.2, H800) and little at K = 128', () => {
  const long = meanRelativeError(4096, 31), short = meanRelativeError(128, 32);
  assert.ok(long >= 0.015 && long <= 0.025, `K = 4096: mean relative error ${(long * 100).toFixed(2)}%, want 1.5–2.5%`);
  assert.ok(short < 0.002, `K = 128: mean relative error ${(short * 100).toFixed(3)}%, want < 0.2%`);
});

const SHAPES: { M: number; N: number; K: number }[] = [
  { M: 1, N: 1, K: 1 }, { M: 3, N: 5, K: 7 }, { M: 4, N: 4, K: 4 }, { M: 5, N: 3, K: 13 }, { M: 2, N: 2, K: 0 },
  { M: 7, N: 9, K: 257 },     // two k blocks: accumulators rest in out between them
  { M: 9, N: 70, K: 33 },     // a 64-column chunk, then 6 columns (a panel and a half)
  { M: 17, N: 130, K: 515 },  // three k blocks, three chunks, a 1-row tail
  { M: 2, N: 1, K: 600 },
  { M: 6, N: 67, K: 130 },
];

test('the wasm module needs no more scratch for matmulLowAcc than the backward kernels reserve', () => {
  const k = instantiateKernels(compileKernels('simd'), new WebAssembly.Memory({ initial: 1, maximum: 16, shared: true }));
  assert.ok((k.exports.lowAccScratchBytes() as number) <= BACKWARD_SCRATCH_BYTES);
});

for (const flavour of flavours) {
  for (const threads of [1, 2]) {
    test(`wasm ${flavour} matmulLowAcc on ${threads} thread(s) equals the reference bit for bit`, async () => {
      const heap = new Heap(16 << 20);
      const backend = createWasmBackend(heap, { flavour, threads, minWork: 1 });
      const bw = createWasmBackward(backend);
      try {
        SHAPES.forEach(({ M, N, K }, si) => {
          const r = random(200 + si), Kx = Math.max(K, 1);
          const a = fromF32(heap, values(M * Kx, r), [M, Kx]), b = fromF32(heap, values(N * Kx, r), [N, Kx]);
          const want = empty(heap, [M, N]), got = fromF32(heap, new Float32Array(M * N).fill(7), [M, N]); // written, not added
          matmulLowAcc(want, a, b, M, N, K);
          bw.matmulLowAcc(got, a, b, M, N, K);
          assert.deepEqual(bits(f32(got)), bits(f32(want)), `M=${M} N=${N} K=${K}`);
        });
        // non-finite inputs: the same Inf and NaN positions
        const a = fromF32(heap, Float32Array.from([Infinity, 1, 2, 3, 1, 1, -Infinity, 0]), [2, 4]);
        const b = fromF32(heap, Float32Array.from([1, 1, 1, 1, 1, -1, 1, 1, 0, 1, 1, 1]), [3, 4]);
        const want = empty(heap, [2, 3]), got = empty(heap, [2, 3]);
        matmulLowAcc(want, a, b, 2, 3, 4);
        bw.matmulLowAcc(got, a, b, 2, 3, 4);
        assert.deepEqual(Array.from(f32(got)), Array.from(f32(want)));
        assert.ok(f32(want).some(Number.isNaN) && f32(want).some((v) => v === Infinity), 'the case has both NaN and Inf');
      } finally {
        await backend.close();
      }
    });
  }
}
