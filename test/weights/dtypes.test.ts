// Codec tests: exhaustive round trips over every bf16/f16/e4m3 bit pattern, hand-worked rounding ties,
// named e4m3 codes, saturation, and whole-array encode/decode for every stored dtype.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  DTYPE_BYTES,
  E4M3_TABLE,
  bf16ToF32,
  decodeArray,
  e4m3ToF32,
  encodeArray,
  f16ToF32,
  f32ToBf16,
  f32ToE4m3,
  f32ToF16,
  parseDType,
  storedBytes,
  type ElementDType,
} from '../../src/weights/dtypes.js';

const ALL: ElementDType[] = ['F32', 'BF16', 'F16', 'F8_E4M3'];

test('DTYPE_BYTES and parseDType', () => {
  assert.deepEqual(DTYPE_BYTES, { F32: 4, BF16: 2, F16: 2, F8_E4M3: 1 });
  for (const d of ALL) assert.equal(parseDType(d, 'x'), d);
  assert.throws(() => parseDType('I64', 'a.safetensors: tensor "w"'), (e: Error) => {
    assert.match(e.message, /a\.safetensors: tensor "w"/);
    assert.match(e.message, /"I64"/);
    assert.match(e.message, /F32, BF16, F16, F8_E4M3/);
    return true;
  });
  // GGUF's block types are not safetensors dtypes.
  for (const d of ['Q8_0', 'Q4_0', 'Q4_K', 'Q6_K']) assert.throws(() => parseDType(d, 'a.safetensors: tensor "w"'), new RegExp(`"${d}"`));
});

test('storedBytes: rows × bytes of a row; block types need rows of whole blocks', () => {
  assert.equal(storedBytes('F32', [3, 5]), 60);
  assert.equal(storedBytes('BF16', []), 2);
  assert.equal(storedBytes('Q8_0', [3, 64]), 3 * 2 * 34);
  assert.equal(storedBytes('Q4_0', [2, 2, 32]), 4 * 18);
  assert.equal(storedBytes('Q4_K', [2, 512]), 2 * 2 * 144);
  assert.equal(storedBytes('Q6_K', [256]), 210);
  assert.equal(storedBytes('Q6_K', [0, 256]), 0);
  const cases: [Parameters<typeof storedBytes>[0], number[], number][] = [['Q8_0', [4, 48], 32], ['Q4_0', [16], 32], ['Q4_K', [2, 128], 256], ['Q6_K', [1, 288], 256], ['Q4_K', [], 256]];
  for (const [d, shape, per] of cases) {
    assert.throws(() => storedBytes(d, shape, 'f.gguf: tensor "blk.0.w"'), (e: Error) => {
      assert.match(e.message, /^f\.gguf: tensor "blk\.0\.w": /);
      assert.ok(e.message.includes(`${d} needs rows (the last dim) that are a multiple of ${per}, got shape [${shape.join(', ')}]`), e.message);
      return true;
    });
  }
});

test('bf16: all 65536 bit patterns round-trip (NaNs stay NaN)', () => {
  for (let b = 0; b < 0x10000; b++) {
    const x = bf16ToF32(b);
    const back = f32ToBf16(x);
    if (Number.isNaN(x)) {
      assert.ok(Number.isNaN(bf16ToF32(back)), `bf16 0x${b.toString(16)} NaN lost`);
      assert.equal(back & 0x0040, 0x0040, 'NaN comes back quiet');
    } else {
      assert.equal(back, b, `bf16 0x${b.toString(16)}`);
    }
  }
});

test('bf16: hand-worked round-to-nearest-even cases', () => {
  const cases: [number, number][] = [
    [1, 0x3f80],
    [1 + 2 ** -8, 0x3f80], // tie between 0x3F80 (even) and 0x3F81: down to 1.0
    [1 + 3 * 2 ** -8, 0x3f82], // tie between 0x3F81 (odd) and 0x3F82: up to 1 + 2^-6
    [1 + 2 ** -8 + 2 ** -20, 0x3f81], // just above the tie: up
    [1 + 2 ** -8 - 2 ** -20, 0x3f80], // just below: down
    [-(1 + 3 * 2 ** -8), 0xbf82],
    [-0, 0x8000],
    [Infinity, 0x7f80],
    [-Infinity, 0xff80],
    [3.4028234663852886e38, 0x7f80], // float32 max lies past bf16 max + half ulp: Inf
    [(2 - 2 ** -7) * 2 ** 127, 0x7f7f], // bf16 max stays
  ];
  for (const [x, bits] of cases) assert.equal(f32ToBf16(x), bits, `f32ToBf16(${x})`);
  const nan = f32ToBf16(NaN);
  assert.equal(nan & 0x7f80, 0x7f80);
  assert.notEqual(nan & 0x7f, 0);
  assert.equal(bf16ToF32(0x3f82), 1.015625);
});

test('f16: all 65536 bit patterns round-trip (NaNs stay NaN)', () => {
  for (let b = 0; b < 0x10000; b++) {
    const x = f16ToF32(b);
    const back = f32ToF16(x);
    if (Number.isNaN(x)) assert.ok(Number.isNaN(f16ToF32(back)), `f16 0x${b.toString(16)} NaN lost`);
    else assert.equal(back, b, `f16 0x${b.toString(16)}`);
  }
});

test('f16: hand-worked round-to-nearest-even cases incl. subnormals and overflow', () => {
  const cases: [number, number][] = [
    [1, 0x3c00],
    [1 + 2 ** -11, 0x3c00], // tie: to even 1.0
    [1 + 3 * 2 ** -11, 0x3c02], // tie between 0x3C01 and 0x3C02: to even
    [65504, 0x7bff], // max finite
    [65519, 0x7bff], // below the tie at 65520
    [65520, 0x7c00], // tie between 0x7BFF (odd) and the next step: overflows to Inf
    [1e6, 0x7c00],
    [-1e6, 0xfc00],
    [2 ** -24, 0x0001], // smallest subnormal
    [2 ** -25, 0x0000], // half of it: tie to even 0
    [2 ** -25 + 2 ** -30, 0x0001],
    [3 * 2 ** -25, 0x0002], // tie between 1 and 2 subnormal steps: to even 2
    [2 ** -14 - 2 ** -25, 0x0400], // tie between 0x03FF and 0x0400 (smallest normal): to even
    [2 ** -14, 0x0400],
    [-(2 ** -24), 0x8001],
    [2 ** -40, 0x0000],
    [-0, 0x8000],
  ];
  for (const [x, bits] of cases) assert.equal(f32ToF16(x), bits, `f32ToF16(${x})`);
  assert.equal(f16ToF32(0x0001), 2 ** -24);
  assert.equal(f16ToF32(0x7bff), 65504);
  assert.equal(f16ToF32(0xfc00), -Infinity);
  assert.ok(Number.isNaN(f16ToF32(f32ToF16(NaN))));
});

test('e4m3: all 256 codes round-trip except the two NaNs', () => {
  for (let c = 0; c < 256; c++) {
    const x = e4m3ToF32(c);
    if (c === 0x7f || c === 0xff) {
      assert.ok(Number.isNaN(x));
      continue;
    }
    assert.equal(f32ToE4m3(x), c, `code 0x${c.toString(16)} (${x})`);
    assert.ok(Object.is(E4M3_TABLE[c], x), `table 0x${c.toString(16)}`);
  }
  assert.equal(E4M3_TABLE.length, 256);
});

test('e4m3: named codes', () => {
  const codes: [number, number][] = [
    [0x00, 0],
    [0x01, 2 ** -9],
    [0x07, 7 * 2 ** -9],
    [0x08, 2 ** -6],
    [0x38, 1],
    [0x39, 1.125],
    [0x7e, 448],
    [0xfe, -448],
    [0xb8, -1],
  ];
  for (const [c, v] of codes) assert.equal(e4m3ToF32(c), v, `code 0x${c.toString(16)}`);
  assert.ok(Object.is(e4m3ToF32(0x80), -0));
  assert.ok(Number.isNaN(e4m3ToF32(0x7f)));
  assert.ok(Number.isNaN(e4m3ToF32(0xff)));
});

test('e4m3: rounding ties, saturation, NaN, signed zero', () => {
  const cases: [number, number][] = [
    [1 + 2 ** -4, 0x38], // tie between 1 (0x38) and 1.125 (0x39): to even
    [1 + 3 * 2 ** -4, 0x3a], // tie between 1.125 (0x39) and 1.25 (0x3A): to even
    [1 + 2 ** -4 + 2 ** -12, 0x39],
    [2 ** -10, 0x00], // half the smallest subnormal: to even 0
    [3 * 2 ** -10, 0x02], // tie between 0x01 and 0x02
    [2 ** -6 - 2 ** -10, 0x08], // tie between 0x07 and 0x08 (smallest normal)
    [440, 0x7e], // between 416 and 448, nearer 448
    [432, 0x7e], // tie between 416 (0x7D) and 448 (0x7E): to even
    [449, 0x7e],
    [464, 0x7e],
    [1000, 0x7e], // saturates
    [-1000, 0xfe],
    [Infinity, 0x7e],
    [-Infinity, 0xfe],
    [NaN, 0x7f],
    [-0, 0x80],
    [0, 0x00],
  ];
  for (const [x, code] of cases) assert.equal(f32ToE4m3(x), code, `f32ToE4m3(${x})`);
});

function randomValues(n: number, seed: number): Float32Array {
  let s = seed >>> 0;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    const u = s / 2 ** 32;
    out[i] = (u - 0.5) * 2 ** ((i % 40) - 20); // spans many binades
  }
  return out;
}

test('encodeArray/decodeArray round-trip every dtype like the scalar codecs', () => {
  const x = randomValues(1001, 7);
  x[0] = 0;
  x[1] = -0;
  x[2] = 1e6;
  x[3] = -3;
  const scalar: Record<ElementDType, (v: number) => number> = {
    F32: (v) => v,
    BF16: (v) => bf16ToF32(f32ToBf16(v)),
    F16: (v) => f16ToF32(f32ToF16(v)),
    F8_E4M3: (v) => e4m3ToF32(f32ToE4m3(v)),
  };
  for (const d of ALL) {
    const bytes = encodeArray(x, d);
    assert.equal(bytes.length, x.length * DTYPE_BYTES[d], d);
    const y = decodeArray(bytes, d);
    assert.equal(y.length, x.length);
    for (let i = 0; i < x.length; i++) assert.ok(Object.is(y[i], Math.fround(scalar[d](x[i]!))), `${d}[${i}]`);
    // a second encode of the decoded values is a fixed point
    assert.deepEqual(encodeArray(y, d), bytes, `${d} re-encode`);
  }
});

test('encodeArray writes little-endian bytes; decodeArray accepts unaligned input', () => {
  assert.deepEqual([...encodeArray(new Float32Array([1]), 'BF16')], [0x80, 0x3f]);
  assert.deepEqual([...encodeArray(new Float32Array([1]), 'F16')], [0x00, 0x3c]);
  assert.deepEqual([...encodeArray(new Float32Array([1]), 'F32')], [0x00, 0x00, 0x80, 0x3f]);
  assert.deepEqual([...encodeArray(new Float32Array([-448, 1000]), 'F8_E4M3')], [0xfe, 0x7e]);
  const backing = new Uint8Array(9);
  backing.set([0x00, 0x00, 0x80, 0x3f, 0x00, 0x00, 0x00, 0xc0], 1); // 1.0f, -2.0f at an odd offset
  assert.deepEqual([...decodeArray(backing.subarray(1), 'F32')], [1, -2]);
  assert.deepEqual([...decodeArray(backing.subarray(1, 5), 'BF16')], [0, 1]);
  assert.throws(() => decodeArray(new Uint8Array(3), 'F32'), /3 bytes.*F32/);
});

test('f32ToE4m3 agrees with a brute-force nearest-code search (ties to the even code)', () => {
  const positive = Array.from({ length: 0x7f }, (_, c) => c); // 0x00..0x7E, increasing values
  function nearest(x: number): number {
    const a = Math.abs(x);
    const sign = x < 0 || Object.is(x, -0) ? 0x80 : 0;
    if (a > 448) return sign | 0x7e;
    let best = 0;
    for (const c of positive) {
      const d = Math.abs(e4m3ToF32(c) - a);
      const bestD = Math.abs(e4m3ToF32(best) - a);
      if (d < bestD || (d === bestD && (c & 1) === 0 && (best & 1) === 1)) best = c;
    }
    return sign | best;
  }
  const values = [...randomValues(4000, 3)].map((v) => v * 64);
  for (let c = 0; c < 0x7e; c++) values.push((e4m3ToF32(c) + e4m3ToF32(c + 1)) / 2, -(e4m3ToF32(c) + e4m3ToF32(c + 1)) / 2);
  for (const x of values) assert.equal(f32ToE4m3(x), nearest(x), `f32ToE4m3(${x})`);
});
