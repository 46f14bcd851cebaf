// FP8 block quantisation: partial edge blocks, scale layout, per-element error bound, zero blocks.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { dequantizeFp8Blocks, quantizeFp8Blocks } from '../../src/weights/fp8.js';
import { e4m3ToF32 } from '../../src/weights/dtypes.js';

function randomMatrix(rows: number, cols: number, seed: number): Float32Array {
  let s = seed >>> 0;
  const w = new Float32Array(rows * cols);
  for (let i = 0; i < w.length; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    const blockScale = 2 ** (((i / cols) >> 7) * 3 - ((i % cols) >> 7) * 2); // blocks of different magnitude
    w[i] = (s / 2 ** 32 - 0.5) * blockScale;
  }
  return w;
}

test('300×200 with [128,128] blocks: scale shape, scale values, error within e4m3 precision', () => {
  const rows = 300;
  const cols = 200;
  const w = randomMatrix(rows, cols, 11);
  const { codes, scaleInv, scaleShape } = quantizeFp8Blocks(w, rows, cols, [128, 128]);
  assert.deepEqual(scaleShape, [3, 2]);
  assert.equal(scaleInv.length, 6);
  assert.equal(codes.length, rows * cols);

  // scale_inv = amax(block)/448, including the partial blocks (rows 256..299, cols 128..199)
  for (let bi = 0; bi < 3; bi++) {
    for (let bj = 0; bj < 2; bj++) {
      let amax = 0;
      for (let i = bi * 128; i < Math.min(rows, bi * 128 + 128); i++) {
        for (let j = bj * 128; j < Math.min(cols, bj * 128 + 128); j++) amax = Math.max(amax, Math.abs(w[i * cols + j]!));
      }
      assert.equal(scaleInv[bi * 2 + bj], Math.fround(amax / 448), `block ${bi},${bj}`);
    }
  }

  const back = dequantizeFp8Blocks(codes, scaleInv, rows, cols, [128, 128]);
  let checkedNormal = 0;
  for (let i = 0; i < rows; i++) {
    for (let j = 0; j < cols; j++) {
      const k = i * cols + j;
      const s = scaleInv[(i >> 7) * 2 + (j >> 7)]!;
      const x = w[k]!;
      const err = Math.abs(back[k]! - x);
      assert.equal(back[k], Math.fround(e4m3ToF32(codes[k]!) * s), `formula at ${i},${j}`);
      if (Math.abs(x) / s >= 2 ** -6) {
        // normal e4m3 range: half an ulp of a 3-bit mantissa, plus float32 rounding of the product
        assert.ok(err <= 2 ** -4 * Math.abs(x) * (1 + 1e-6), `relative error ${err / Math.abs(x)} at ${i},${j}`);
        checkedNormal++;
      } else {
        // subnormal range: half the subnormal step 2^-9
        assert.ok(err <= 2 ** -10 * s * (1 + 1e-6), `absolute error ${err} at ${i},${j}`);
      }
    }
  }
  assert.ok(checkedNormal > rows * cols * 0.9);
});

test('the largest magnitude of each block maps to ±448', () => {
  const w = new Float32Array([0.5, -2, 1, 0.25]);
  const { codes, scaleInv } = quantizeFp8Blocks(w, 2, 2, [2, 2]);
  assert.equal(scaleInv[0], Math.fround(2 / 448));
  assert.equal(codes[1], 0xfe);
  const back = dequantizeFp8Blocks(codes, scaleInv, 2, 2, [2, 2]);
  assert.ok(Math.abs(back[1]! + 2) < 1e-6);
});

test('an all-zero block gets scale 1 and zero codes', () => {
  const w = new Float32Array(4 * 4);
  w[0] = 3; // only block [0,0] of [2,2]-blocks is non-zero
  const { codes, scaleInv, scaleShape } = quantizeFp8Blocks(w, 4, 4, [2, 2]);
  assert.deepEqual(scaleShape, [2, 2]);
  assert.deepEqual([...scaleInv], [Math.fround(3 / 448), 1, 1, 1]);
  assert.deepEqual([...codes].slice(1), new Array(15).fill(0));
  assert.deepEqual([...dequantizeFp8Blocks(codes, scaleInv, 4, 4, [2, 2])].slice(1), new Array(15).fill(0));
});

test('bad sizes and non-finite values are errors', () => {
  assert.throws(() => quantizeFp8Blocks(new Float32Array(5), 2, 3, [128, 128]), /5 values, expected 2×3/);
  assert.throws(() => quantizeFp8Blocks(new Float32Array([1, NaN]), 1, 2, [1, 1]), /non-finite value NaN at \[0, 1\]/);
  assert.throws(() => quantizeFp8Blocks(new Float32Array(4), 2, 2, [0, 2]), /block must be two positive integers/);
  assert.throws(() => dequantizeFp8Blocks(new Uint8Array(6), new Float32Array(2), 2, 3, [128, 128]), /2 scales, expected \[1, 1\]/);
  assert.throws(() => dequantizeFp8Blocks(new Uint8Array(5), new Float32Array(1), 2, 3, [128, 128]), /5 codes/);
});
