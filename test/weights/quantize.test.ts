// Weight conversion: q8_0 / q4_0 blocks byte for byte as ggml's reference quantizers make them (hand-computed blocks:
// ties, an all-zero block, a negative largest value), bad rows refused, and convertWeight from every stored dtype to
// every target against the slow definitions (dtypes.ts codecs, fp8.ts's block quantiser).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { convertWeight, convertedBytes, dequantizeRows, e4m3ScaleShape, quantizeRowQ8_0, quantizeRowQ4_0, type ConvertTarget, type SourceWeight } from '../../src/weights/quantize.js';
import { decodeArray, encodeArray, E4M3_TABLE, f32ToF16, storedBytes, type BlockDType } from '../../src/weights/dtypes.js';
import { quantizeRowQ4_K, quantizeRowQ6_K } from '../../src/weights/kquants.js';
import { quantizeFp8Blocks, dequantizeFp8Blocks } from '../../src/weights/fp8.js';

function block(values: Record<number, number>): Float32Array {
  const x = new Float32Array(32);
  for (const [i, v] of Object.entries(values)) x[Number(i)] = v;
  return x;
}

function q8(x: Float32Array): number[] { const d = new Uint8Array((x.length / 32) * 34); quantizeRowQ8_0(x, d, 0); return [...d]; }
function q4(x: Float32Array): number[] { const d = new Uint8Array((x.length / 32) * 18); quantizeRowQ4_0(x, d, 0); return [...d]; }

test('q8_0: d = amax/127 as f16, codes rounded half away from zero (C roundf), int8 two\'s complement', () => {
  // amax 127 gives d = 1 (f16 0x3C00) and id = 1, so each code is roundf(x).
  const x = block({ 0: 127, 1: -63.5, 2: 0.5, 3: -0.5, 4: 2.5, 5: -2.5, 6: Math.fround(1.4999999), 7: -126.4 });
  const want = [0x00, 0x3c, 127, 0xc0, 1, 0xff, 3, 0xfd, 1, 0x82, ...new Array(24).fill(0)];
  assert.deepEqual(q8(x), want);
  // 1/127 = 2^-7 · 1.00787…: f16 exponent field 8, mantissa round(0.00787·1024) = 8, so d = 0x2008; 1 → 127.
  assert.deepEqual(q8(block({ 3: 1 })).slice(0, 6), [0x08, 0x20, 0, 0, 0, 127]);
  assert.deepEqual(q8(new Float32Array(32)), new Array(34).fill(0), 'all-zero block: d = 0, codes 0');
});

test('q4_0: the first value of largest magnitude keeps its sign, d = max/−8, codes min(15, trunc(x/d + 8.5)), nibbles j | j+16', () => {
  // max = −8 (x[2] = 8 comes later and does not replace it): d = 1 (0x3C00), id = 1.
  // codes: 3→11, −8→0, 8→16→15, −4→4, zeros→8; 1→9, 0.5→9, −0.5→8, 3.5→12, −7.5→1.
  const x = block({ 0: 3, 1: -8, 2: 8, 3: -4, 16: 1, 17: 0.5, 18: -0.5, 19: 3.5, 20: -7.5 });
  assert.deepEqual(q4(x), [0x00, 0x3c, 0x9b, 0x90, 0x8f, 0xc4, 0x18, ...new Array(11).fill(0x88)]);
  // A positive largest value: d = −1 (0xBC00); 8 → code 0.
  assert.deepEqual(q4(block({ 0: 8 })), [0x00, 0xbc, 0x80, ...new Array(15).fill(0x88)]);
  // All zero (or −0): max stays +0, d = 0/−8 = −0 (0x8000), id = 0, every code 8.
  const zeros = [0x00, 0x80, ...new Array(16).fill(0x88)];
  assert.deepEqual(q4(new Float32Array(32)), zeros);
  assert.deepEqual(q4(new Float32Array(32).fill(-0)), zeros);
});

test('rows that are not whole 32-value blocks and non-finite values are refused with the shape or column named', () => {
  const src: SourceWeight = { dtype: 'F32', bytes: new Uint8Array(2 * 40 * 4), shape: [2, 40] };
  for (const target of ['q8_0', 'q4_0'] as const) {
    assert.throws(() => convertedBytes(target, [2, 40]), /multiple of 32, got shape \[2, 40\]/);
    assert.throws(() => convertWeight(src, target, new Uint8Array(200)), /multiple of 32, got shape \[2, 40\]/);
  }
  assert.throws(() => quantizeRowQ8_0(new Float32Array(40), new Uint8Array(100), 0), /40 values is not a whole number/);
  assert.throws(() => q4(block({ 5: Number.NaN })), /non-finite value NaN at column 5/);
  assert.throws(() => q8(block({ 9: -Infinity })), /non-finite value -Infinity at column 9/);
  assert.throws(() => q8(block({ 0: 1e10 })), /beyond f16's range/);
});

function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => { s = (Math.imul(s, 1664525) + 1013904223) >>> 0; return s / 2 ** 32; };
}

/** [R, C] values of varied magnitude per 32-block, sometimes negative largest values, a few exact zeros. */
function matrix(R: number, C: number, seed: number): Float32Array {
  const r = rng(seed), w = new Float32Array(R * C);
  for (let i = 0; i < w.length; i++) w[i] = r() < 0.02 ? 0 : (r() - 0.5) * 2 ** (((i >> 5) % 7) - 4);
  return w;
}

/** The source's values as float32 (the slow definitions). */
function decodeSource(s: SourceWeight, R: number, C: number): Float32Array {
  if (s.dtype === 'F8_E4M3' && s.scaleInv) return dequantizeFp8Blocks(s.bytes, s.scaleInv, R, C, [s.block![0], s.block![1]]);
  return decodeArray(s.bytes, s.dtype);
}

function expected(values: Float32Array, R: number, C: number, target: ConvertTarget): { bytes: Uint8Array; scales?: Float32Array } {
  if (target === 'bf16') return { bytes: encodeArray(values, 'BF16') };
  if (target === 'e4m3') { const q = quantizeFp8Blocks(values, R, C, [128, 128]); return { bytes: q.codes, scales: q.scaleInv }; }
  const rowBytes = (C / 32) * (target === 'q8_0' ? 34 : 18), out = new Uint8Array(R * rowBytes);
  for (let r = 0; r < R; r++) (target === 'q8_0' ? quantizeRowQ8_0 : quantizeRowQ4_0)(values.subarray(r * C, (r + 1) * C), out, r * rowBytes);
  return { bytes: out };
}

/** Equal arrays, or a failure naming the first difference (a full diff of thousands of bytes is unreadable). */
function sameArray(got: ArrayLike<number>, want: ArrayLike<number>, what: string): void {
  assert.equal(got.length, want.length, `${what}: length`);
  for (let i = 0; i < got.length; i++) if (!Object.is(got[i], want[i])) assert.fail(`${what}: index ${i} is ${got[i]}, want ${want[i]}`);
}

/** bytes placed at an odd offset of a larger buffer, so no typed view of them is aligned. */
function misaligned(b: Uint8Array): Uint8Array { const big = new Uint8Array(b.length + 1); big.set(b, 1); return big.subarray(1); }

test('convertWeight from F32, BF16, F16 and F8_E4M3 (two block shapes, and none) to bf16, e4m3, q8_0, q4_0 equals the slow definitions', () => {
  const R = 130, C = 96; // two 128-row bands of e4m3 scales, the second partial
  const w = matrix(R, C, 5);
  const fp8 = quantizeFp8Blocks(w, R, C, [128, 128]), fp8Small = quantizeFp8Blocks(w, R, C, [64, 32]);
  const sources: [string, SourceWeight][] = [
    ['F32', { dtype: 'F32', bytes: encodeArray(w, 'F32'), shape: [R, C] }],
    ['BF16', { dtype: 'BF16', bytes: encodeArray(w, 'BF16'), shape: [R, C] }],
    ['F16', { dtype: 'F16', bytes: encodeArray(w, 'F16'), shape: [R, C] }],
    ['F8_E4M3 128×128', { dtype: 'F8_E4M3', bytes: fp8.codes, shape: [R, C], scaleInv: fp8.scaleInv, block: [128, 128] }],
    ['F8_E4M3 64×32', { dtype: 'F8_E4M3', bytes: fp8Small.codes, shape: [R, C], scaleInv: fp8Small.scaleInv, block: [64, 32] }],
    ['F8_E4M3 unscaled', { dtype: 'F8_E4M3', bytes: fp8.codes, shape: [R, C] }],
  ];
  for (const [name, src] of sources) {
    const values = decodeSource(src, R, C);
    for (const target of ['bf16', 'e4m3', 'q8_0', 'q4_0'] as const) {
      const want = expected(values, R, C, target);
      for (const place of ['aligned', 'misaligned']) {
        const s = place === 'aligned' ? src : { ...src, bytes: misaligned(src.bytes) };
        const dst = new Uint8Array(convertedBytes(target, [R, C]));
        const [sm, sn] = e4m3ScaleShape([R, C]);
        const scales = new Float32Array(sm * sn);
        convertWeight(s, target, dst, scales);
        sameArray(dst, want.bytes, `${name} (${place}) → ${target}: bytes`);
        if (want.scales) sameArray(scales, want.scales, `${name} (${place}) → e4m3: scales`);
      }
    }
  }
});

test('convertWeight to e4m3 encodes every code, midpoint and subnormal as f32ToE4m3 does (quantizeFp8Blocks)', () => {
  // One 128×128 block whose largest value is 448 (scale 1): every finite code's value, the midpoints between
  // neighbours (ties to even), and points a quarter of the way, both signs.
  const finite = [...E4M3_TABLE].filter((v) => Number.isFinite(v) && v >= 0).sort((a, b) => a - b);
  const vals: number[] = [];
  for (let i = 0; i < finite.length; i++) {
    vals.push(finite[i]);
    if (i + 1 < finite.length) vals.push((finite[i] + finite[i + 1]) / 2, finite[i] + (finite[i + 1] - finite[i]) / 4);
  }
  const R = 128, C = 128, w = new Float32Array(R * C);
  vals.forEach((v, i) => { w[2 * i] = v; w[2 * i + 1] = -v; });
  const want = quantizeFp8Blocks(w, R, C, [128, 128]);
  assert.equal(want.scaleInv[0], 1);
  const dst = new Uint8Array(R * C), scales = new Float32Array(1);
  convertWeight({ dtype: 'F32', bytes: encodeArray(w, 'F32'), shape: [R, C] }, 'e4m3', dst, scales);
  for (let i = 0; i < R * C; i++) assert.equal(dst[i], want.codes[i], `value ${w[i]}`);
});

test('convertWeight checks its buffers: dst length, dstScaleInv for e4m3, source bytes and scales', () => {
  const src: SourceWeight = { dtype: 'BF16', bytes: new Uint8Array(4 * 64 * 2), shape: [4, 64] };
  assert.throws(() => convertWeight(src, 'q8_0', new Uint8Array(10)), /dst has 10 bytes, expected 272/);
  assert.throws(() => convertWeight(src, 'e4m3', new Uint8Array(256)), /dstScaleInv must hold \[1, 1\]/);
  assert.throws(() => convertWeight({ ...src, bytes: new Uint8Array(5) }, 'bf16', new Uint8Array(512)), /5 bytes, expected 512/);
  const fp8: SourceWeight = { dtype: 'F8_E4M3', bytes: new Uint8Array(256), shape: [4, 64], scaleInv: new Float32Array(3), block: [128, 128] };
  assert.throws(() => convertWeight(fp8, 'q4_0', new Uint8Array(144)), /scaleInv has 3 values, expected \[1, 1\]/);
  assert.throws(() => convertWeight({ ...src, scaleInv: new Float32Array(1), block: [128, 128] }, 'q4_0', new Uint8Array(144)), /F8_E4M3 sources only/);
  assert.deepEqual(e4m3ScaleShape([300, 7168]), [3, 56]);
});

// ---- GGUF's block types as sources.

/** R rows of `values` as `dtype` blocks, made by the row quantizers. */
function blocks(dtype: BlockDType, values: Float32Array, R: number, C: number): Uint8Array {
  const rowBytes = storedBytes(dtype, [C]), out = new Uint8Array(R * rowBytes);
  const quantize = { Q8_0: quantizeRowQ8_0, Q4_0: quantizeRowQ4_0, Q4_K: quantizeRowQ4_K, Q6_K: quantizeRowQ6_K }[dtype];
  for (let r = 0; r < R; r++) quantize(values.subarray(r * C, (r + 1) * C), out, r * rowBytes);
  return out;
}

test('Q8_0 and Q4_0 sources decode as ggml does: qs[j]·d, and (nibble − 8)·d with value j + 16 in the high nibble', () => {
  const h = f32ToF16(-0.375); // exact in f16
  const q8 = new Uint8Array(34), q4 = new Uint8Array(18);
  q8[0] = q4[0] = h & 0xff;
  q8[1] = q4[1] = h >> 8;
  const codes8 = Array.from({ length: 32 }, (_, j) => (j * 37 + 100) % 256 - 128); // −128 .. 127
  codes8[0] = -128; codes8[1] = 127;
  codes8.forEach((c, j) => { q8[2 + j] = c & 0xff; });
  for (let j = 0; j < 16; j++) q4[2 + j] = ((j * 5) % 16) | (((j * 3 + 15) % 16) << 4);
  const y8 = new Float32Array(32), y4 = new Float32Array(32);
  dequantizeRows('Q8_0', q8, 1, 32, y8);
  dequantizeRows('Q4_0', q4, 1, 32, y4);
  for (let j = 0; j < 32; j++) assert.equal(y8[j], codes8[j] * -0.375, `Q8_0 value ${j}`);
  for (let j = 0; j < 16; j++) {
    assert.equal(y4[j], ((j * 5) % 16 - 8) * -0.375, `Q4_0 value ${j}`);
    assert.equal(y4[16 + j], ((j * 3 + 15) % 16 - 8) * -0.375, `Q4_0 value ${16 + j}`);
  }
});

test('convertWeight from Q8_0, Q4_0, Q4_K and Q6_K to bf16, e4m3, q8_0, q4_0 equals the targets made from dequantizeRows', () => {
  const R = 130, C = 512;
  const w = matrix(R, C, 9);
  for (const dtype of ['Q8_0', 'Q4_0', 'Q4_K', 'Q6_K'] as const) {
    const bytes = blocks(dtype, w, R, C), values = new Float32Array(R * C);
    dequantizeRows(dtype, bytes, R, C, values);
    for (const target of ['bf16', 'e4m3', 'q8_0', 'q4_0'] as const) {
      const want = expected(values, R, C, target);
      for (const place of ['aligned', 'misaligned']) {
        const src: SourceWeight = { dtype, bytes: place === 'aligned' ? bytes : misaligned(bytes), shape: [R, C] };
        const dst = new Uint8Array(convertedBytes(target, [R, C]));
        const [sm, sn] = e4m3ScaleShape([R, C]);
        const scales = new Float32Array(sm * sn);
        convertWeight(src, target, dst, scales);
        sameArray(dst, want.bytes, `${dtype} (${place}) → ${target}: bytes`);
        if (want.scales) sameArray(scales, want.scales, `${dtype} (${place}) → e4m3: scales`);
      }
    }
    // A slab of rows (as the loader converts) is the same rows of the whole.
    const rowBytes = storedBytes(dtype, [C]), slab = new Uint8Array(convertedBytes('bf16', [3, C]));
    convertWeight({ dtype, bytes: bytes.subarray(7 * rowBytes, 10 * rowBytes), shape: [3, C] }, 'bf16', slab);
    sameArray(slab, encodeArray(values.subarray(7 * C, 10 * C), 'BF16'), `${dtype} rows 7..9 → bf16`);
  }
});

test('Q8_0 → q8_0 and Q4_0 → q4_0 through convertWeight are byte-identical copies', () => {
  const R = 4, C = 64, w = matrix(R, C, 3);
  for (const [dtype, target] of [['Q8_0', 'q8_0'], ['Q4_0', 'q4_0']] as const) {
    // Blocks no quantizer makes (d = 3·2^-10 for every block, arbitrary codes) must survive too.
    const made = blocks(dtype, w, R, C), odd = made.map((_, i) => (i * 7919) & 0xff);
    for (const src of [made, misaligned(odd)]) {
      const dst = new Uint8Array(convertedBytes(target, [R, C]));
      convertWeight({ dtype, bytes: src, shape: [R, C] }, target, dst);
      sameArray(dst, src, `${dtype} → ${target}`);
    }
  }
});

test('block-typed sources with rows not whole blocks, or the wrong byte count, are refused with the shape named', () => {
  assert.throws(() => convertWeight({ dtype: 'Q4_K', bytes: new Uint8Array(144), shape: [2, 128] }, 'bf16', new Uint8Array(512)),
    /^Error: convertWeight\(Q4_K \[2, 128\] → bf16\): Q4_K needs rows \(the last dim\) that are a multiple of 256, got shape \[2, 128\]$/);
  assert.throws(() => convertWeight({ dtype: 'Q6_K', bytes: new Uint8Array(209), shape: [256] }, 'bf16', new Uint8Array(512)), /209 bytes, expected 210/);
  assert.throws(() => dequantizeRows('Q8_0', new Uint8Array(34), 1, 48, new Float32Array(48)), /dequantizeRows\(Q8_0 \[1, 48\]\): Q8_0 needs rows .* multiple of 32/);
  assert.throws(() => dequantizeRows('Q4_0', new Uint8Array(36), 1, 32, new Float32Array(32)), /36 bytes, expected 18/);
  assert.throws(() => dequantizeRows('Q4_K', new Uint8Array(144), 1, 256, new Float32Array(255)), /dst holds 255 values, expected 256/);
});
