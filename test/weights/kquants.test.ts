// Q4_K / Q6_K: blocks packed here from the layout description (ggml-common.h) with chosen scales, mins and codes,
// decoded to the values the formulas give; the reference quantizers' blocks decode within the formats' error, zero
// blocks are zero bytes, and bad rows are refused.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { dequantizeQ4_K, dequantizeQ6_K, quantizeRowQ4_K, quantizeRowQ6_K, QK_K, Q4_K_BYTES, Q6_K_BYTES } from '../../src/weights/kquants.js';
import { f16ToF32, f32ToF16 } from '../../src/weights/dtypes.js';

function putF16(b: Uint8Array, at: number, v: number): void { const h = f32ToF16(v); b[at] = h & 0xff; b[at + 1] = h >> 8; }

/** A Q4_K block: sub-block j (values 32j ..) has 6-bit scale sc[j] and min m[j]; q[i] the 4-bit code of value i. */
function q4kBlock(d: number, dmin: number, sc: number[], m: number[], q: number[]): Uint8Array {
  const b = new Uint8Array(Q4_K_BYTES);
  putF16(b, 0, d);
  putF16(b, 2, dmin);
  for (let j = 0; j < 4; j++) {
    // bytes 0..3: scales 0..3, top 2 bits the high bits of scale j+4; bytes 4..7 likewise for the mins;
    // bytes 8..11: low nibble the low 4 bits of scale j+4, high nibble those of min j+4.
    b[4 + j] = sc[j] | ((sc[j + 4] >> 4) << 6);
    b[4 + j + 4] = m[j] | ((m[j + 4] >> 4) << 6);
    b[4 + j + 8] = (sc[j + 4] & 15) | ((m[j + 4] & 15) << 4);
  }
  for (let i = 0; i < QK_K; i++) {
    const g = i >> 6, high = (i >> 5) & 1, l = i & 31; // sub-blocks 2g, 2g+1 share qs[32g ..]: low, high nibbles
    b[16 + 32 * g + l] |= q[i] << (4 * high);
  }
  return b;
}

/** A Q6_K block: value i has the 6-bit code q[i] and scale sc[i >> 4] (signed 8-bit). */
function q6kBlock(d: number, sc: number[], q: number[]): Uint8Array {
  const b = new Uint8Array(Q6_K_BYTES);
  for (let i = 0; i < QK_K; i++) {
    const h = i >> 7, p = i & 127, k = p >> 5, l = p & 31;
    // Within a half, rows k = 0..3 of 32: low 4 bits in ql[l] (k 0, 2) or ql[l+32] (k 1, 3), low then high nibble;
    // high 2 bits in qh[l] at bit 2k.
    b[64 * h + l + 32 * (k & 1)] |= (q[i] & 15) << (4 * (k >> 1));
    b[128 + 32 * h + l] |= (q[i] >> 4) << (2 * k);
  }
  for (let s = 0; s < 16; s++) b[192 + s] = sc[s] & 0xff;
  putF16(b, 208, d);
  return b;
}

const codes = (n: number, mul: number, add: number, mod: number): number[] => Array.from({ length: n }, (_, i) => (i * mul + add) % mod);

test('Q4_K: value = d·sc·q − dmin·m with the 6-bit scales and mins of all eight sub-blocks (high bits included)', () => {
  const d = 0.5, dmin = 0.25;
  const sc = [1, 2, 3, 63, 17, 33, 49, 62], m = [5, 6, 7, 60, 18, 34, 50, 19];
  const q = codes(QK_K, 7, 3, 16);
  const y = new Float32Array(QK_K);
  dequantizeQ4_K(q4kBlock(d, dmin, sc, m, q), 0, y);
  for (let i = 0; i < QK_K; i++) {
    const j = i >> 5;
    assert.equal(y[i], Math.fround(d * sc[j] * q[i] - dmin * m[j]), `value ${i} (sub-block ${j}, q ${q[i]})`);
  }
});

test('Q4_K: the one rounding (d·sc·q − dmin·m) is float32 round-to-nearest, and f16 d, dmin (subnormal too) are read exactly', () => {
  // d = 1 + 2^-10 (f16 0x3C01), sc = 63, q = 15: d·sc·q = 968625·2^-10, exact; dmin = 2^-20 (an f16 subnormal), m = 1:
  // the difference spans 2^9 .. 2^-20, 30 bits, and float32 keeps 24.
  const d = f16ToF32(0x3c01), dmin = 2 ** -20;
  const b = q4kBlock(d, dmin, new Array(8).fill(63), new Array(8).fill(1), new Array(QK_K).fill(15));
  const y = new Float32Array(QK_K);
  dequantizeQ4_K(b, 0, y);
  assert.equal(y[0], Math.fround(968625 / 1024 - 2 ** -20));
  assert.notEqual(y[0], 968625 / 1024 - 2 ** -20, 'the exact difference needs more than 24 bits');
  assert.equal(y[0], 968625 / 1024, 'rounds to the nearest float32');
});

test('Q6_K: value = d·scale·(q − 32), signed 8-bit scales, 6-bit codes split over ql nibbles and qh bit pairs', () => {
  const d = 0.25;
  const sc = [-128, 127, -1, 5, 1, 2, -3, 100, -50, 7, 9, -11, 13, 64, -64, 33];
  const q = codes(QK_K, 11, 5, 64);
  q[0] = 0; q[1] = 63; q[200] = 48; // extremes and a code with only the high bits set
  const y = new Float32Array(QK_K);
  dequantizeQ6_K(q6kBlock(d, sc, q), 0, y);
  for (let i = 0; i < QK_K; i++) assert.equal(y[i], Math.fround(Math.fround(d * sc[i >> 4]) * (q[i] - 32)), `value ${i} (q ${q[i]}, scale ${sc[i >> 4]})`);
});

test('K-quant rows of several blocks decode from any byte offset, each block on its own', () => {
  const a4 = q4kBlock(1, 0.5, codes(8, 5, 1, 64), codes(8, 3, 2, 64), codes(QK_K, 3, 1, 16));
  const b4 = q4kBlock(-2, 0.125, codes(8, 7, 4, 64), codes(8, 9, 0, 64), codes(QK_K, 5, 2, 16));
  const a6 = q6kBlock(0.5, codes(16, 13, 2, 200).map((v) => v - 100), codes(QK_K, 7, 1, 64));
  const b6 = q6kBlock(-1.5, codes(16, 17, 9, 200).map((v) => v - 100), codes(QK_K, 9, 3, 64));
  for (const [decode, a, b] of [[dequantizeQ4_K, a4, b4], [dequantizeQ6_K, a6, b6]] as const) {
    const buf = new Uint8Array(3 + a.length + b.length);
    buf.set(a, 3);
    buf.set(b, 3 + a.length);
    const both = new Float32Array(2 * QK_K), one = new Float32Array(QK_K), two = new Float32Array(QK_K);
    decode(buf, 3, both);
    decode(a, 0, one);
    decode(b, 0, two);
    assert.deepEqual(both, Float32Array.from([...one, ...two]));
  }
});

/** Deterministic values with a spread of magnitudes per block (a LCG; Box-Muller). */
function gaussian(n: number, seed: number, scale: number): Float32Array {
  let s = seed >>> 0;
  const u = (): number => { s = (Math.imul(s, 1664525) + 1013904223) >>> 0; return (s + 1) / 2 ** 32; };
  return Float32Array.from({ length: n }, () => scale * Math.sqrt(-2 * Math.log(u())) * Math.cos(2 * Math.PI * u()));
}

function relRms(x: Float32Array, y: Float32Array): number {
  let e = 0, s = 0;
  for (let i = 0; i < x.length; i++) { e += (x[i] - y[i]) ** 2; s += x[i] ** 2; }
  return Math.sqrt(e / s);
}

test('reference quantizers: blocks decode within each format\'s error (relative RMS), for several scales and shifted data', () => {
  for (const [scale, shift] of [[1, 0], [0.02, 0], [300, 0], [1, 2.5], [1, -4]]) {
    const x = gaussian(4 * QK_K, 11 + scale, scale).map((v) => v + shift * scale);
    const b4 = new Uint8Array(4 * Q4_K_BYTES + 5), b6 = new Uint8Array(4 * Q6_K_BYTES + 5);
    quantizeRowQ4_K(x, b4, 5);
    quantizeRowQ6_K(x, b6, 5);
    const y4 = new Float32Array(x.length), y6 = new Float32Array(x.length);
    dequantizeQ4_K(b4, 5, y4);
    dequantizeQ6_K(b6, 5, y6);
    // 4-bit codes over a sub-block's range: ~1/(15·√12·~1.5) of its spread; 6 bits: four times finer.
    assert.ok(relRms(x, y4) < 0.1, `Q4_K scale ${scale} shift ${shift}: ${relRms(x, y4)}`);
    assert.ok(relRms(x, y6) < 0.025, `Q6_K scale ${scale} shift ${shift}: ${relRms(x, y6)}`);
    // Every value within its sub-block's step of the original (Q6_K: one step d·|scale|; Q4_K: one step plus the
    // 6-bit min's rounding, bounded by the block's largest step).
    for (let i = 0; i < x.length; i++) {
      const blk = Math.floor(i / QK_K), o6 = 5 + blk * Q6_K_BYTES;
      const step6 = Math.abs(f16ToF32(b6[o6 + 208] | (b6[o6 + 209] << 8)) * ((b6[o6 + 192 + ((i % QK_K) >> 4)] << 24) >> 24));
      assert.ok(Math.abs(x[i] - y6[i]) <= step6 * 1.0001 + 1e-30, `Q6_K value ${i}: ${x[i]} → ${y6[i]} (step ${step6})`);
    }
  }
});

test('reference quantizers: an all-zero block is all zero bytes; a constant block decodes close to its value', () => {
  const z4 = new Uint8Array(Q4_K_BYTES).fill(0xaa), z6 = new Uint8Array(Q6_K_BYTES).fill(0xaa);
  quantizeRowQ4_K(new Float32Array(QK_K), z4, 0);
  quantizeRowQ6_K(new Float32Array(QK_K), z6, 0);
  assert.deepEqual([...z4], new Array(Q4_K_BYTES).fill(0));
  assert.deepEqual([...z6], new Array(Q6_K_BYTES).fill(0));
  for (const c of [1, -3, 0.25]) {
    const x = new Float32Array(QK_K).fill(c), b4 = new Uint8Array(Q4_K_BYTES), b6 = new Uint8Array(Q6_K_BYTES);
    quantizeRowQ4_K(x, b4, 0);
    quantizeRowQ6_K(x, b6, 0);
    const y4 = new Float32Array(QK_K), y6 = new Float32Array(QK_K);
    dequantizeQ4_K(b4, 0, y4);
    dequantizeQ6_K(b6, 0, y6);
    for (let i = 0; i < QK_K; i++) {
      assert.ok(Math.abs(y4[i] - c) <= Math.abs(c) * 2e-3, `Q4_K ${c} → ${y4[i]}`);
      assert.ok(Math.abs(y6[i] - c) <= Math.abs(c) * 2e-3, `Q6_K ${c} → ${y6[i]}`);
    }
  }
});

test('reference quantizers refuse rows that are not whole 256-value blocks and non-finite values, naming the column', () => {
  for (const quantize of [quantizeRowQ4_K, quantizeRowQ6_K]) {
    assert.throws(() => quantize(new Float32Array(300), new Uint8Array(1000), 0, 'w'), /^Error: w: a row of 300 values is not a whole number of 256-value blocks$/);
    const x = new Float32Array(2 * QK_K);
    x[300] = NaN;
    assert.throws(() => quantize(x, new Uint8Array(1000), 0, 'w'), /^Error: w: non-finite value NaN at column 300$/);
    x[300] = 0;
    x[3] = 1e10; // the block's scale d (about 1e10/15/63 for Q4_K, 1e10/31/128·… for Q6_K) is beyond f16
    assert.throws(() => quantize(x, new Uint8Array(1000), 0, 'w'), /beyond f16's range/);
  }
});
