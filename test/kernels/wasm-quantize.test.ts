// The wasm fake quantisation (src/kernels/wasm/quantize.as) against the reference (src/kernels/ref/quantize.ts), bit
// for bit: every mode, both builds, 1 and 2 threads, out apart from x and aliasing it, on seeded data that reaches the
// edges — partial edge tiles and blocks, all-zero groups and −0, groups whose scale underflows to 2^-149, values on
// E4M3 rounding ties (groups whose scale is a power of two, so x/s is exact), f32 subnormals, NaN and ±Inf, and for
// bf16 arbitrary bit patterns (ties, NaN payloads, overflow to Inf).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Heap } from '../../src/tensor/heap.js';
import { dispose, empty, f32, fromF32, type Tensor } from '../../src/tensor/tensor.js';
import { fakeQuantize, type QuantMode } from '../../src/kernels/ref/quantize.js';
import { relaxedSimdSupported, type WasmFlavour } from '../../src/kernels/wasm/loader.js';
import { createWasmBackend } from '../../src/kernels/wasm/backend.js';
import { createWasmBackward } from '../../src/kernels/wasm/backward.js';
import { random } from './grad-check.js';

const FLAVOURS: WasmFlavour[] = relaxedSimdSupported() ? ['simd', 'relaxed'] : ['simd'];
const MODES: QuantMode[] = ['bf16', 'fp8-tiles', 'fp8-col-tiles', 'fp8-blocks', 'fp8-tensor'];

/**
 * Values on the E4M3 ties of a group of scale 2^k: (1 + j/16)·2^e (odd j: halfway between two 3-bit mantissas) and
 * m·2^-10 (odd m: halfway between subnormal steps), times 2^k; every 128th value along a diagonal is ±448·2^k, so
 * each full tile, column tile and block has amax 448·2^k and x/s exact.
 */
function tieData(rows: number, cols: number, k: number, seed: number): Float32Array {
  const r = random(seed), x = new Float32Array(rows * cols);
  for (let i = 0; i < rows; i++) {
    for (let c = 0; c < cols; c++) {
      const sign = r() < 0 ? -1 : 1, u = (r() + 1) / 2;
      const m = (i + c) % 128 === 0 ? 448
        : u < 0.2 ? Math.floor(u * 80) * 2 ** -10
        : (1 + Math.floor(((u * 997) % 1) * 16) / 16) * 2 ** (Math.floor(((u * 7919) % 1) * 22) - 13);
      x[i * cols + c] = sign * m * 2 ** k;
    }
  }
  return x;
}

/** Random magnitudes over a wide range with zero rows, a tiny (subnormal-scale) band, f32 subnormals and −0. */
function wideData(rows: number, cols: number, seed: number): Float32Array {
  const r = random(seed), x = new Float32Array(rows * cols);
  for (let i = 0; i < rows; i++) {
    const band = i % 11 === 3 ? 0 : i % 7 === 5 ? 2 ** -142 : 2 ** (Math.floor((r() + 1) * 20) - 20);
    for (let c = 0; c < cols; c++) {
      const v = r();
      x[i * cols + c] = c % 13 === 7 ? -0 : c % 29 === 11 ? v * 2 ** -130 : v * band * 2 ** (c >> 7);
    }
  }
  return x;
}

/** wideData with NaN and ±Inf planted in a few places (some groups non-finite, the rest not). */
function nonFiniteData(rows: number, cols: number, seed: number): Float32Array {
  const x = wideData(rows, cols, seed);
  [[0, 0, NaN], [rows - 1, cols - 1, Infinity], [rows >> 1, 3 % cols, -Infinity], [2 % rows, cols >> 1, NaN]]
    .forEach(([i, c, v]) => { x[i * cols + c] = v; });
  return x;
}

/** Uniformly random f32 bit patterns: every exponent, NaN payloads, subnormals. */
function bitsData(rows: number, cols: number, seed: number): Float32Array {
  const r = random(seed);
  return new Float32Array(Uint32Array.from({ length: rows * cols }, () => Math.floor((r() + 1) * 2 ** 31) >>> 0).buffer);
}

const SHAPES: { rows: number; cols: number; block?: number }[] = [
  { rows: 1, cols: 1 }, { rows: 3, cols: 5 }, { rows: 130, cols: 260 }, { rows: 257, cols: 131 }, { rows: 128, cols: 128 },
  { rows: 37, cols: 23, block: 5 },
];

const DATA: { name: string; make: (rows: number, cols: number, seed: number) => Float32Array }[] = [
  { name: 'ties, scale 2^-3', make: (rows, cols, seed) => tieData(rows, cols, -3, seed) },
  { name: 'ties, subnormal scale 2^-140', make: (rows, cols, seed) => tieData(rows, cols, -140, seed) },
  { name: 'wide magnitudes, zeros, tiny groups', make: wideData },
  { name: 'NaN and ±Inf', make: nonFiniteData },
  { name: 'random bit patterns', make: bitsData },
];

const bitsOf = (t: Tensor, n: number) => new Uint32Array(f32(t).buffer, f32(t).byteOffset, n);
const hex = (bits: number) => `0x${(bits >>> 0).toString(16).padStart(8, '0')}`;

for (const flavour of FLAVOURS) {
  for (const threads of [1, 2]) {
    test(`wasm fakeQuantize ${flavour} ×${threads}: every mode bit for bit the reference, out apart and aliasing x`, async () => {
      const heap = new Heap(16 << 20), backend = createWasmBackend(heap, { flavour, threads });
      try {
        const bw = createWasmBackward(backend);
        let seed = 1;
        for (const { rows, cols, block } of SHAPES) {
          for (const { name, make } of DATA) {
            const values = make(rows, cols, seed++);
            const x = fromF32(heap, values, [rows, cols]);
            for (const mode of MODES) {
              const want = empty(heap, [rows, cols]), got = empty(heap, [rows, cols]), inPlace = fromF32(heap, values, [rows, cols]);
              fakeQuantize(want, x, rows, cols, mode, block);
              f32(got).fill(12345);
              bw.fakeQuantize(got, x, rows, cols, mode, block);
              bw.fakeQuantize(inPlace, inPlace, rows, cols, mode, block);
              const w = bitsOf(want, rows * cols);
              for (const [how, t] of [['out', got], ['in place', inPlace]] as const) {
                const g = bitsOf(t, rows * cols);
                for (let i = 0; i < rows * cols; i++) {
                  if (g[i] !== w[i]) {
                    assert.fail(`${mode} [${rows}, ${cols}]${block ? ` block ${block}` : ''} ${name} (${how}): [${Math.floor(i / cols)}, ${i % cols}] `
                      + `x = ${values[i]} (${hex(new Uint32Array(values.buffer)[i])}) gave ${hex(g[i])}, the reference ${hex(w[i])}`);
                  }
                }
              }
              for (const t of [want, got, inPlace]) dispose(t);
            }
            dispose(x);
          }
        }
      } finally {
        await backend.close();
      }
    });
  }
}

test('wasm fakeQuantize: a non-f32 tensor and a bad block size are refused, naming the argument', async () => {
  const heap = new Heap(1 << 20), backend = createWasmBackend(heap, { threads: 1 });
  try {
    const bw = createWasmBackward(backend), x = empty(heap, [2, 2]);
    assert.throws(() => bw.fakeQuantize(empty(heap, [2, 2], 'bf16'), x, 2, 2, 'bf16'), /fakeQuantize: out must be f32 \(got bf16\)/);
    assert.throws(() => bw.fakeQuantize(x, x, 2, 2, 'fp8-tiles', 0), /fakeQuantize: block must be an integer ≥ 1, got 0/);
  } finally {
    await backend.close();
  }
});
