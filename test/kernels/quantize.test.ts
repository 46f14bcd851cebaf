// The precision simulation's rounding (src/kernels/ref/quantize.ts) against hand-worked values: E4M3 and BF16 edge
// tables (ties, subnormals, 448, NaN) through the codecs and through fakeQuantize, and the exact FP8 scales of 1×128
// activation tiles, 128×1 column tiles and 128×128 weight blocks on shapes whose edge groups are partial.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Heap } from '../../src/tensor/heap.js';
import { empty, f32, fromF32 } from '../../src/tensor/tensor.js';
import { fakeQuantize, type QuantMode } from '../../src/kernels/ref/quantize.js';
import { e4m3ToF32, f32ToBf16, f32ToE4m3 } from '../../src/weights/dtypes.js';
import { dequantizeFp8Blocks, quantizeFp8Blocks } from '../../src/weights/fp8.js';
import { random } from './grad-check.js';

const heap = new Heap(8 << 20);

/** fakeQuantize of `values` laid out [rows, cols]; the output starts as a sentinel so an unwritten value shows. */
function quantize(values: ArrayLike<number>, rows: number, cols: number, mode: QuantMode) {
  const x = fromF32(heap, values, [rows, cols]), out = empty(heap, [rows, cols]);
  f32(out).fill(12345);
  const scales = fakeQuantize(out, x, rows, cols, mode);
  return { out: f32(out).slice(), scales: [...scales] };
}

// E4M3 (e4m3fn): normals (1 + m/8)·2^(e−7) for exponent field e = 1..15 (e = 15, m = 7 is NaN), subnormals m·2^-9.
// Code = sign·128 + e·8 + m, so along the positive values the code counts up, and "even mantissa" is "even code".
const E4M3_CASES: { x: number; code: number; value: number; why: string }[] = [
  { x: 0, code: 0x00, value: 0, why: 'zero' },
  { x: -0, code: 0x80, value: -0, why: 'negative zero keeps its sign' },
  { x: 2 ** -9, code: 0x01, value: 2 ** -9, why: 'smallest subnormal, 1·2^-9' },
  { x: 2 ** -10, code: 0x00, value: 0, why: 'half of 2^-9: tie between 0x00 (even) and 0x01' },
  { x: 2 ** -10 + 2 ** -20, code: 0x01, value: 2 ** -9, why: 'just above that tie' },
  { x: 3 * 2 ** -10, code: 0x02, value: 2 ** -8, why: '1.5 subnormal steps: tie between 0x01 and 0x02 (even)' },
  { x: -5 * 2 ** -10, code: 0x82, value: -(2 ** -8), why: '2.5 steps: tie between 0x02 (even) and 0x03, sign bit set' },
  { x: 7 * 2 ** -9, code: 0x07, value: 7 * 2 ** -9, why: 'largest subnormal' },
  { x: 15 * 2 ** -10, code: 0x08, value: 2 ** -6, why: '7.5 steps: tie between 0x07 and 0x08 = 2^-6, the smallest normal' },
  { x: 2 ** -6, code: 0x08, value: 2 ** -6, why: 'smallest normal: e = 1, m = 0' },
  { x: 1, code: 0x38, value: 1, why: 'e = 7 (0111), m = 0' },
  { x: 1 + 2 ** -4, code: 0x38, value: 1, why: 'half the ulp 2^-3 above 1: tie between m = 0 (even) and m = 1' },
  { x: 1 + 2 ** -4 + 2 ** -12, code: 0x39, value: 1.125, why: 'just above that tie' },
  { x: 1 + 3 * 2 ** -4, code: 0x3a, value: 1.25, why: 'tie between 1.125 (m = 1) and 1.25 (m = 2, even)' },
  { x: -(1 + 3 * 2 ** -4), code: 0xba, value: -1.25, why: 'the same tie, negative' },
  { x: 2 - 2 ** -4, code: 0x40, value: 2, why: 'tie between 1.875 (0x3F) and 2 (0x40, even): carries into the exponent' },
  { x: 416, code: 0x7d, value: 416, why: '1.625·2^8: e = 15, m = 5' },
  { x: 432, code: 0x7e, value: 448, why: 'tie between 416 (m = 5) and 448 (m = 6, even)' },
  { x: 448, code: 0x7e, value: 448, why: 'largest finite: 1.75·2^8, S.1111.110' },
  { x: -448, code: 0xfe, value: -448, why: 'its negative' },
];

// Magnitudes past 448 happen only in raw casts (in the recipe x/scale ≤ 448·(1 + 2^-23)). The codec saturates, like
// CUDA's __NV_SATFINITE conversion; torch's CPU cast instead gives NaN (0x7F) from just above 464 on.
const E4M3_RAW_CASES: { x: number; code: number; why: string }[] = [
  { x: 464, code: 0x7e, why: 'halfway to 480, which would be S.1111.111 = NaN: m = 6 is even, so 448 either way' },
  { x: 465, code: 0x7e, why: 'nearer 480, which does not exist: saturates' },
  { x: 479, code: 0x7e, why: 'saturates' },
  { x: 480, code: 0x7e, why: 'saturates' },
  { x: 1e9, code: 0x7e, why: 'saturates' },
  { x: -1e9, code: 0xfe, why: 'saturates, negative' },
  { x: Infinity, code: 0x7e, why: 'no infinity in e4m3fn: saturates' },
  { x: -Infinity, code: 0xfe, why: 'saturates, negative' },
  { x: NaN, code: 0x7f, why: 'NaN is S.1111.111' },
];

test('e4m3 codec: the edge table, codes and values', () => {
  for (const { x, code, value, why } of E4M3_CASES) {
    assert.equal(f32ToE4m3(x), code, `f32ToE4m3(${x}): ${why}`);
    assert.ok(Object.is(e4m3ToF32(code), value), `e4m3ToF32(0x${code.toString(16)}) = ${value}: ${why}`);
  }
  for (const { x, code, why } of E4M3_RAW_CASES) assert.equal(f32ToE4m3(x), code, `f32ToE4m3(${x}): ${why}`);
  assert.ok(Number.isNaN(e4m3ToF32(0x7f)) && Number.isNaN(e4m3ToF32(0xff)), 'S.1111.111 decodes to NaN');
});

test('fp8 simulation: a tile whose largest magnitude is 448·s rounds the edge table on the grid times s', () => {
  // The tile holds 448·s and every in-range table value times s, so its scale is exactly s and x/s is the table's x.
  for (const s of [1, 2 ** -20, 3]) {
    const tile = [448 * s, ...E4M3_CASES.map((c) => c.x * s)];
    const { out, scales } = quantize(tile, 1, tile.length, 'fp8-tiles');
    assert.deepEqual(scales, [s], `scale of a tile with max |x| = ${448 * s}`);
    assert.equal(out[0], 448 * s);
    E4M3_CASES.forEach(({ x, value, why }, i) => {
      assert.ok(Object.is(out[i + 1], value * s), `s = ${s}: ${x}·s → ${out[i + 1]}, want ${value * s} (${why})`);
    });
  }
});

test('fp8 simulation: a tile holding NaN or ±Inf is left as it is, so the loss turns non-finite', () => {
  for (const bad of [NaN, Infinity, -Infinity]) {
    const { out } = quantize([448, bad, 1 + 2 ** -4, -3], 1, 4, 'fp8-tiles');
    assert.ok(Object.is(out[1], bad), `${bad} stays ${bad}, got ${out[1]}`);
    assert.deepEqual([out[0], out[2], out[3]], [448, 1 + 2 ** -4, -3], `the rest of a ${bad} tile is untouched`);
  }
});

// BF16 is the top half of an f32; the dropped low 16 bits decide: above 0x8000 up, below down, 0x8000 to even.
const BF16_CASES: { bits: number; out: number; why: string }[] = [
  { bits: 0x3f800000, out: 0x3f80, why: '1' },
  { bits: 0x3f808000, out: 0x3f80, why: '1 + 2^-8: tie, kept half 0x3F80 is even' },
  { bits: 0x3f818000, out: 0x3f82, why: '1 + 3·2^-8: tie, kept half 0x3F81 is odd: up' },
  { bits: 0x3f808001, out: 0x3f81, why: 'just above a tie' },
  { bits: 0x3f807fff, out: 0x3f80, why: 'just below a tie' },
  { bits: 0xbf818000, out: 0xbf82, why: 'negative tie: rounds the magnitude the same way' },
  { bits: 0x00010000, out: 0x0001, why: '2^-133, the smallest bf16 subnormal' },
  { bits: 0x00008000, out: 0x0000, why: '2^-134, half of it: tie to even 0' },
  { bits: 0x00018000, out: 0x0002, why: '3·2^-134: tie between 0x0001 and 0x0002 (even)' },
  { bits: 0x00000001, out: 0x0000, why: '2^-149, the smallest f32 subnormal' },
  { bits: 0x007fffff, out: 0x0080, why: 'the largest f32 subnormal rounds up to the smallest normal 2^-126' },
  { bits: 0x80000000, out: 0x8000, why: '-0' },
  { bits: 0x7f7f7fff, out: 0x7f7f, why: 'just below the tie above the bf16 maximum' },
  { bits: 0x7f7f8000, out: 0x7f80, why: 'tie between the bf16 maximum 0x7F7F (odd) and the next step: overflows to Inf' },
  { bits: 0x7f7fffff, out: 0x7f80, why: 'the f32 maximum: Inf' },
  { bits: 0x7f800000, out: 0x7f80, why: 'Inf' },
  { bits: 0xff800000, out: 0xff80, why: '-Inf' },
  { bits: 0x7fc00000, out: 0x7fc0, why: 'quiet NaN' },
  { bits: 0xffc00000, out: 0xffc0, why: 'negative quiet NaN keeps its sign' },
  { bits: 0x7fc00001, out: 0x7fc0, why: 'a NaN whose payload is all in the dropped half stays NaN' },
];

test('bf16 codec and simulation: the edge table, bit for bit', () => {
  const input = new Float32Array(new Uint32Array(BF16_CASES.map((c) => c.bits)).buffer);
  const { out, scales } = quantize(input, 1, input.length, 'bf16');
  assert.deepEqual(scales, [], 'bf16 has no scales');
  const outBits = new Uint32Array(out.buffer);
  BF16_CASES.forEach(({ bits, out: want, why }, i) => {
    const hex = (v: number) => `0x${v.toString(16)}`;
    assert.equal(f32ToBf16(input[i]), want, `f32ToBf16(bits ${hex(bits)}): ${why}`);
    assert.equal(outBits[i], want * 0x10000, `fakeQuantize bf16 of bits ${hex(bits)} gave ${hex(outBits[i])}: ${why}`);
  });
});

// Activations [2, 200]: tiles 0..127 and 128..199 (72 wide) in each row. Each tile's largest magnitude is placed
// at a boundary (first or last column of the tile), and its scale amax/448 is exact in f32 except where noted.
const ACT_ROWS = 2, ACT_COLS = 200;
const ACT_MAX: { r: number; c: number; v: number }[] = [
  { r: 0, c: 127, v: -896 },     // tile (0,0): 896/448 = 2
  { r: 0, c: 199, v: 3.5 },      // tile (0,1), the partial one, at its last column: 3.5/448 = 2^-7
  { r: 1, c: 0, v: 1344 },       // tile (1,0): 1344/448 = 3
  { r: 1, c: 128, v: 0.296875 }, // tile (1,1) at its first column: 19/64/448 = 6.6266741…e-4 is not an f32
];
// f32(19/64/448) = 0.0006626673857681453 lies below 19/64/448, so amax/s = 448.00003 rounds to 448 and back to amax.
const ACT_SCALES = [2, 2 ** -7, 3, 0.0006626673857681453]; // [2 rows, 2 tiles]

/** Two probes [x, rounded] for a group of scale s: x = 1.0625·s (a tie: → s), x = 3·2^-10·s (a subnormal tie: → 2^-8·s). */
function tieProbes(s: number): [number, number][] {
  return [[(1 + 2 ** -4) * s, s], [3 * 2 ** -10 * s, 2 ** -8 * s]];
}

// Tile (1,1)'s scale s = 0.0006626673857681453 has a full 24-bit significand (448 = 7·2^6), so its probes are worked
// in f32, as a kernel computes them: x = 0.0007040841155685484 (the f32 nearest 1.0625·s) gives x/s = 1.06250002745…,
// which f32 rounds to 1.0625, a tie → 1 → value s (casting the unrounded quotient would give 1.125·s);
// x = 0.0007455007871612906 = f32(1.125·s) gives x/s = 1.12499996706… → f32 1.125 → value f32(1.125·s) = x (a float64
// scale 19/64/448 would give f32(1.125·19/64/448) = 0.0007455008453689516).
const F32_ROUNDING_PROBES: [number, number][] = [[0.0007040841155685484, 0.0006626673857681453], [0.0007455007871612906, 0.0007455007871612906]];

function activationCase(): { x: Float32Array; want: Float32Array } {
  const x = new Float32Array(ACT_ROWS * ACT_COLS), want = new Float32Array(ACT_ROWS * ACT_COLS);
  for (const { r, c, v } of ACT_MAX) { x[r * ACT_COLS + c] = v; want[r * ACT_COLS + c] = v; }
  // the probes sit next to the tile's largest value: columns 126, 125 / 198, 197 / 1, 2 / 129, 130
  const probeCols = [[126, 125], [198, 197], [1, 2], [129, 130]];
  ACT_SCALES.forEach((s, t) => {
    const r = t >> 1;
    (t === 3 ? F32_ROUNDING_PROBES : tieProbes(s)).forEach(([p, q], k) => { x[r * ACT_COLS + probeCols[t][k]] = p; want[r * ACT_COLS + probeCols[t][k]] = q; });
  });
  return { x, want };
}

test('fp8 activation tiles: [2, 200] with a partial 72-wide edge tile, exact scales and probes', () => {
  const { x, want } = activationCase();
  const { out, scales } = quantize(x, ACT_ROWS, ACT_COLS, 'fp8-tiles');
  assert.deepEqual(scales, ACT_SCALES, 'one scale per row per 128 columns');
  for (let i = 0; i < x.length; i++) {
    assert.equal(out[i], Math.fround(want[i]), `[${Math.floor(i / ACT_COLS)}, ${i % ACT_COLS}]: ${x[i]} → ${out[i]}`);
  }
});

test('fp8 column tiles: the same activations transposed to [200, 2] give the transposed scales and values', () => {
  const { x, want } = activationCase();
  const xT = new Float32Array(x.length);
  for (let r = 0; r < ACT_ROWS; r++) for (let c = 0; c < ACT_COLS; c++) xT[c * ACT_ROWS + r] = x[r * ACT_COLS + c];
  const { out, scales } = quantize(xT, ACT_COLS, ACT_ROWS, 'fp8-col-tiles');
  assert.deepEqual(scales, [ACT_SCALES[0], ACT_SCALES[2], ACT_SCALES[1], ACT_SCALES[3]], 'scales [2 tiles, 2 columns]');
  for (let r = 0; r < ACT_ROWS; r++) {
    for (let c = 0; c < ACT_COLS; c++) assert.equal(out[c * ACT_ROWS + r], Math.fround(want[r * ACT_COLS + c]), `[${c}, ${r}]`);
  }
});

// Weights [130, 260]: blocks of rows 0..127 / 128..129 (2 tall) by cols 0..127 / 128..255 / 256..259 (4 wide). Each
// block's largest magnitude sits on a block boundary, next to a neighbour block's, and the scales differ by factors
// that are not powers of two, so a value read into the wrong block changes.
const W_ROWS = 130, W_COLS = 260;
const W_MAX: { r: number; c: number; v: number }[] = [
  { r: 127, c: 127, v: 28 },    // block (0,0): 28/448 = 1/16
  { r: 127, c: 128, v: -336 },  // block (0,1): 336/448 = 3/4
  { r: 127, c: 259, v: 2.1875 },// block (0,2), 4 wide, at its corner: 2.1875/448 = 5/1024
  { r: 128, c: 127, v: 1344 },  // block (1,0), 2 tall: 1344/448 = 3
  { r: 129, c: 128, v: 7 },     // block (1,1): 7/448 = 1/64
  { r: 129, c: 259, v: -784 },  // block (1,2), 2×4, at the matrix corner: 784/448 = 7/4
];
const W_SCALES = [1 / 16, 3 / 4, 5 / 1024, 3, 1 / 64, 7 / 4]; // [2, 3]

test('fp8 weight blocks: [130, 260] with partial edge blocks, exact scales and probes', () => {
  const x = new Float32Array(W_ROWS * W_COLS), want = new Float32Array(W_ROWS * W_COLS);
  for (const { r, c, v } of W_MAX) { x[r * W_COLS + c] = v; want[r * W_COLS + c] = v; }
  // probes at the blocks' other corners: the partial blocks' last row / column included
  const probeAt = [[[0, 0], [126, 126]], [[0, 255], [126, 129]], [[0, 256], [126, 258]], [[129, 0], [128, 126]], [[128, 255], [128, 129]], [[128, 256], [129, 258]]];
  W_SCALES.forEach((s, b) => {
    tieProbes(s).forEach(([p, q], k) => { const [r, c] = probeAt[b][k]; x[r * W_COLS + c] = p; want[r * W_COLS + c] = q; });
  });
  const { out, scales } = quantize(x, W_ROWS, W_COLS, 'fp8-blocks');
  assert.deepEqual(scales, W_SCALES, 'one scale per 128×128 block, partial ones included');
  for (let i = 0; i < x.length; i++) {
    assert.equal(out[i], Math.fround(want[i]), `[${Math.floor(i / W_COLS)}, ${i % W_COLS}]: ${x[i]} → ${out[i]}`);
  }
});

test('fp8: an all-zero group gets scale 1 and stays zero; a group whose amax/448 underflows f32 uses 2^-149', () => {
  const { out, scales } = quantize([0, -0, 0, 2 ** -142, -(2 ** -145), 2 ** -149], 2, 3, 'fp8-tiles');
  // 2^-142/448 = 2^-150/1.75 ≈ 0.29·2^-149 rounds to 0 in f32, so s = 2^-149 and x/s = 128, −16, 1: on the grid.
  assert.deepEqual(scales, [1, 2 ** -149]);
  assert.ok(Object.is(out[1], -0), '-0 stays -0');
  assert.deepEqual([out[0], out[2], out[3], out[4], out[5]], [0, 0, 2 ** -142, -(2 ** -145), 2 ** -149]);
});

test('fp8-blocks agrees bit for bit with the checkpoint quantiser (weights/fp8.ts): scales and values', () => {
  const rows = 130, cols = 260, r = random(9);
  const w = Float32Array.from({ length: rows * cols }, (_, i) => r() * 2 ** ((Math.floor(i / cols) >> 7) * 3 - ((i % cols) >> 7) * 4));
  for (let i = 0; i < 128; i++) for (let j = 0; j < 128; j++) w[i * cols + j] *= 0.25; // block (0,0): |w| < 0.25 …
  w[5 * cols + 7] = 0.296875; // … but for 19/64, the scale of tile (1,1) above, and a probe whose x/s needs f32 rounding
  w[6 * cols + 8] = F32_ROUNDING_PROBES[0][0];
  const { codes, scaleInv } = quantizeFp8Blocks(w, rows, cols, [128, 128]);
  const { out, scales } = quantize(w, rows, cols, 'fp8-blocks');
  assert.deepEqual(scales, [...scaleInv], 'scales');
  assert.equal(out[6 * cols + 8], F32_ROUNDING_PROBES[0][1], 'the probe rounds as worked above');
  assert.deepEqual(out, dequantizeFp8Blocks(codes, scaleInv, rows, cols, [128, 128]), 'values');
});

test('fp8-tensor: one scale for the whole tensor, so a small row next to a large one loses its low values', () => {
  // [2, 200]: amax 896 in row 1 gives s = 2 for every value, also row 0's, whose own tile scale would be 3.5/448 = 2^-7.
  const x = new Float32Array(400);
  x[0] = 3.5; x[1] = 0.1; x[2] = 2 * 2 ** -10; x[3] = 2 * 3 * 2 ** -10; x[399] = -896;
  const { out, scales } = quantize(x, 2, 200, 'fp8-tensor');
  assert.deepEqual(scales, [2]);
  // 0.1/2 = 0.05 → e4m3: 0.05 = 1.6·2^-5 → mantissa 1.625 → 0.05078125; 2^-10 (a subnormal tie) → 0; 3·2^-10 → 2^-8.
  assert.deepEqual([out[0], out[1], out[2], out[3], out[399]], [3.5, Math.fround(2 * 0.05078125), 0, 2 * 2 ** -8, -896]);
  const tiles = quantize(x, 2, 200, 'fp8-tiles');
  assert.equal(tiles.out[2], 2 * 2 ** -10, 'per-tile scaling keeps 2^-9 (2^-9/2^-7 = 0.25 is on the grid), one scale loses it');
});
