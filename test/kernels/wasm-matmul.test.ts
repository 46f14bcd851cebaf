// The AssemblyScript matmul kernels (src/kernels/wasm/matmul.as, in the kernels module) against the reference matmul on seeded random
// inputs, odd shapes and both builds (SIMD; relaxed SIMD where the engine has it); every e4m3 code decoded; and the
// modules' memory layout (nothing of theirs in the heap); through the backend with 1 and 2 threads (the pool splits
// the output columns). Leaves out speed (bench/matmul.ts).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { Heap } from '../../src/tensor/heap.js';
import { empty, f32, u16, bytes, withScale, type Tensor } from '../../src/tensor/tensor.js';
import { matmul } from '../../src/kernels/ref/matmul.js';
import { f32ToBf16, E4M3_TABLE } from '../../src/weights/dtypes.js';
import { relaxedSimdSupported, wasmPath, type WasmFlavour } from '../../src/kernels/wasm/loader.js';
import { createWasmBackend, type WasmBackend } from '../../src/kernels/wasm/backend.js';

const flavours: WasmFlavour[] = relaxedSimdSupported() ? ['simd', 'relaxed'] : ['simd'];

function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let z = s;
    z = Math.imul(z ^ (z >>> 15), z | 1);
    z ^= z + Math.imul(z ^ (z >>> 7), z | 61);
    return ((z ^ (z >>> 14)) >>> 0) / 4294967296;
  };
}

type WKind = 'f32' | 'bf16' | 'e4m3/128' | 'e4m3/16';

/** A random weight [OC, C] of the given kind; e4m3 codes avoid the two NaN codes, scales are positive. */
function randomWeight(heap: Heap, kind: WKind, OC: number, C: number, r: () => number): Tensor {
  if (kind === 'f32') {
    const w = empty(heap, [OC, C]);
    f32(w).forEach((_, i, a) => { a[i] = r() * 2 - 1; });
    return w;
  }
  if (kind === 'bf16') {
    const w = empty(heap, [OC, C], 'bf16');
    u16(w).forEach((_, i, a) => { a[i] = f32ToBf16(r() * 2 - 1); });
    return w;
  }
  const b = kind === 'e4m3/128' ? 128 : 16;
  const w = empty(heap, [OC, C], 'e4m3');
  bytes(w).forEach((_, i, a) => { const c = Math.floor(r() * 254); a[i] = c >= 0x7f ? c + 1 : c; });
  const s = empty(heap, [Math.ceil(OC / b), Math.ceil(C / b)]);
  f32(s).forEach((_, i, a) => { a[i] = (0.5 + r()) / 448; });
  return withScale(w, { scaleInv: s, block: [b, b] });
}

/** Largest |wasm − ref| / (1e-5·sqrt(C)·Σ_c |x·w|): ≤ 1 passes. Σ|x·w| is the scale a float dot product's error has. */
function worstError(heap: Heap, k: WasmBackend, kind: WKind, T: number, C: number, OC: number, xStride: number, seed: number): number {
  const r = rng(seed);
  const x = empty(heap, [T, xStride]);
  f32(x).forEach((_, i, a) => { a[i] = r() * 2 - 1; });
  const w = randomWeight(heap, kind, OC, C, r);
  const want = empty(heap, [T, OC]), got = empty(heap, [T, OC]), absW = empty(heap, [OC, C]);
  f32(got).fill(Number.NaN); // every output must be written
  matmul(want, x, w, T, C, OC, xStride);
  k.matmul(got, x, w, T, C, OC, xStride);
  // |W| as f32, and |x|·|W|^T by the reference, gives Σ_c |x_c·w_c| per output.
  const xa = empty(heap, [T, xStride]);
  f32(xa).set(f32(x).map(Math.abs));
  const eye = empty(heap, [C, C]);
  for (let c = 0; c < C; c++) f32(eye)[c * C + c] = 1;
  matmul(absW, eye, w, C, C, OC); // absW[c, o] = w[o, c] (dequantised), transposed
  const wt = f32(absW).slice(), aw = f32(absW);
  for (let o = 0; o < OC; o++) for (let c = 0; c < C; c++) aw[o * C + c] = Math.abs(wt[c * OC + o]);
  const mag = empty(heap, [T, OC]);
  matmul(mag, xa, absW, T, C, OC, xStride);
  let worst = 0;
  const g = f32(got), e = f32(want), m = f32(mag);
  for (let i = 0; i < T * OC; i++) worst = Math.max(worst, Math.abs(g[i] - e[i]) / (1e-5 * Math.sqrt(C) * m[i] + 1e-30));
  return worst; // NaN (an unwritten output) fails the caller's `<= 1`
}

const SHAPES: { T: number; C: number; OC: number; xStride?: number }[] = [];
for (const T of [1, 3, 7, 17]) for (const C of [1, 5, 64, 130]) for (const OC of [1, 3, 33, 257]) SHAPES.push({ T, C, OC });
SHAPES.push(
  { T: 4, C: 515, OC: 20, xStride: 530 },  // two K blocks plus a tail, rows wider than C
  { T: 7, C: 130, OC: 33, xStride: 131 },  // an odd stride (rows not 16-byte aligned)
  { T: 6, C: 300, OC: 18 },                // the dot form in token pairs, K block boundary not on a scale block of 128
  { T: 2, C: 515, OC: 37, xStride: 520 },  // the dot (decode) form with two tokens, K blocks and a row tail
  { T: 5, C: 257, OC: 200 },               // the dot form: two token pairs and a single token
  { T: 34, C: 257, OC: 200 },              // the packed form: a 192-row chunk and a partial one, 3-token tiles and a single token
);

for (const flavour of flavours) {
  for (const threads of [1, 2]) {
    test(`wasm ${flavour} matmul on ${threads} thread(s), f32/bf16/e4m3 weights, agrees with the reference on ${SHAPES.length} shapes`, async () => {
      const heap = new Heap(8 << 20);
      const k = createWasmBackend(heap, { flavour, threads, minWork: 1 }); // split even the smallest shapes
      try {
        for (const kind of ['f32', 'bf16', 'e4m3/128', 'e4m3/16'] as const) {
          SHAPES.forEach(({ T, C, OC, xStride }, i) => {
            const worst = worstError(heap, k, kind, T, C, OC, xStride ?? C, 1000 + i);
            assert.ok(worst <= 1, `${kind} T=${T} C=${C} OC=${OC} xStride=${xStride ?? C}: error ${worst} × tolerance`);
          });
        }
      } finally {
        await k.close();
      }
    });
  }

  test(`wasm ${flavour} matmul: each token's row is bit for bit the same alone as among up to 31 tokens (the dot form)`, async () => {
    // Speculative decoding's verify pass computes several tokens at once; greedy output equals plain decoding's only
    // if a token's logits do not depend on its company. Shapes: a row tail (OC % 4), a column tail (C % 4), two K
    // blocks, weights split between two threads.
    const heap = new Heap(16 << 20);
    const k = createWasmBackend(heap, { flavour, threads: 2, minWork: 1 });
    try {
      for (const kind of ['f32', 'bf16', 'e4m3/128'] as const) {
        for (const [C, OC] of [[130, 37], [515, 70]]) {
          const r = rng(C + OC);
          const w = randomWeight(heap, kind, OC, C, r);
          const x = empty(heap, [31, C]);
          f32(x).forEach((_, i, a) => { a[i] = r() * 2 - 1; });
          const alone = empty(heap, [31, OC]), one = empty(heap, [1, OC]);
          for (let t = 0; t < 31; t++) {
            k.matmul(one, { ...x, ptr: x.ptr + t * C * 4, shape: [1, C], owner: false }, w, 1, C, OC);
            f32(alone).set(f32(one), t * OC);
          }
          for (const T of [2, 3, 4, 7, 16, 31]) {
            const out = empty(heap, [T, OC]);
            k.matmul(out, x, w, T, C, OC);
            const got = f32(out), want = f32(alone);
            for (let i = 0; i < T * OC; i++) {
              assert.ok(Object.is(got[i], want[i]), `${kind} C=${C} OC=${OC} T=${T}: token ${Math.floor(i / OC)} output ${i % OC}: ${got[i]} among ${T}, ${want[i]} alone`);
            }
          }
        }
      }
    } finally {
      await k.close();
    }
  });

  test(`wasm ${flavour} e4m3 decoding matches E4M3_TABLE for all 256 codes (SIMD and scalar paths, NaN included)`, async () => {
    const heap = new Heap(1 << 20);
    const k = createWasmBackend(heap, { flavour, threads: 1 });
    // Row o holds code o in all 12 columns: columns 0..7 decode in the 8-wide SIMD loop, 8..11 in the scalar tail.
    // One token and two take different tiles of the dot form.
    const C = 12, OC = 256;
    const w = empty(heap, [OC, C], 'e4m3');
    bytes(w).forEach((_, i, a) => { a[i] = Math.floor(i / C); });
    for (const T of [1, 2]) {
      const x = empty(heap, [T, C]);
      f32(x)[0] = 1;                   // token 0 picks column 0 (SIMD decode)
      if (T === 2) f32(x)[C + 8] = 1;  // token 1 picks column 8 (scalar decode)
      // 0·NaN is NaN, so only NaN codes may give NaN; every other output is exactly 1·value.
      const out = empty(heap, [T, OC]);
      k.matmul(out, x, w, T, C, OC, C);
      const o = f32(out);
      for (let code = 0; code < 256; code++) {
        for (let t = 0; t < T; t++) {
          assert.ok(Object.is(o[t * OC + code], E4M3_TABLE[code]) || (Number.isNaN(E4M3_TABLE[code]) && Number.isNaN(o[t * OC + code])) ||
            (o[t * OC + code] === 0 && E4M3_TABLE[code] === 0),
          `code 0x${code.toString(16)} T=${T} token ${t}: got ${o[t * OC + code]}, want ${E4M3_TABLE[code]}`);
        }
      }
    }
    await k.close();
  });
}

// The e4m3 dot form (T < 3 tokens) copies x into scratch times 2^60 in chunks of columns, or times 1 when |x| ≥ 2^64.
for (const flavour of flavours) {
  test(`wasm ${flavour} e4m3 decode form: huge and non-finite x, and rows longer than one scratch chunk, agree with the reference`, async () => {
    const heap = new Heap(16 << 20);
    const k = createWasmBackend(heap, { flavour, threads: 1 });
    try {
      const r = rng(7);
      // [T, C, block, what x holds]: C past 49152 (T = 1) or 24576 (T = 2) columns spans two chunks; block 5 puts a
      // scale block across the chunk boundary.
      const cases: [number, number, number, string][] = [
        [1, 49160, 128, 'plain'], [2, 24600, 5, 'plain'], [2, 300, 128, 'huge'], [1, 37, 16, 'huge'], [2, 40, 16, 'nonfinite'],
      ];
      for (const [T, C, b, what] of cases) {
        const OC = 6;
        const w = empty(heap, [OC, C], 'e4m3');
        bytes(w).forEach((_, i, a) => { const c = Math.floor(r() * 254); a[i] = c >= 0x7f ? c + 1 : c; });
        const sc = empty(heap, [Math.ceil(OC / b), Math.ceil(C / b)]);
        f32(sc).forEach((_, i, a) => { a[i] = (0.5 + r()) / 448; });
        const ws = withScale(w, { scaleInv: sc, block: [b, b] });
        const x = empty(heap, [T, C]), xs = f32(x);
        xs.forEach((_, i, a) => { a[i] = r() * 2 - 1; });
        if (what === 'huge') xs[3] = 3e20;                                  // above 2^64: factor 1 for this chunk
        if (what === 'nonfinite') { xs[5] = Number.POSITIVE_INFINITY; xs[C + 9] = Number.NaN; }
        const want = empty(heap, [T, OC]), got = empty(heap, [T, OC]);
        matmul(want, x, ws, T, C, OC, C);
        k.matmul(got, x, ws, T, C, OC, C);
        const g = f32(got), e = f32(want);
        for (let i = 0; i < T * OC; i++) {
          const ok = Object.is(g[i], e[i]) || Math.abs(g[i] - e[i]) <= 1e-5 * Math.sqrt(C) * Math.max(1, Math.abs(e[i]));
          assert.ok(ok, `T=${T} C=${C} block ${b} ${what}: output ${i} is ${g[i]}, reference ${e[i]}`);
        }
        if (what === 'huge') assert.ok(Math.abs(e[0]) > 1e15, `T=${T} C=${C}: the huge input reaches the output (${e[0]})`);
      }
    } finally {
      await k.close();
    }
  });
}

/** Section ids of a wasm binary, in order. */
function sections(bin: Uint8Array): number[] {
  const ids: number[] = [];
  let p = 8;
  while (p < bin.length) {
    const id = bin[p++];
    let size = 0, shift = 0, b: number;
    do { b = bin[p++]; size |= (b & 0x7f) << shift; shift += 7; } while (b & 0x80);
    ids.push(id);
    p += size;
  }
  return ids;
}

test('the kernel modules import shared memory and own no part of it: no data segments, no globals, no start', () => {
  for (const flavour of ['simd', 'relaxed'] as const) {
    const bin = new Uint8Array(readFileSync(wasmPath(flavour)));
    const ids = sections(bin);
    assert.ok(ids.includes(2), `${flavour}: has an import section`);
    for (const [id, what] of [[5, 'memory'], [6, 'global'], [8, 'start'], [11, 'data'], [12, 'data count']] as const) {
      assert.ok(!ids.includes(id), `${flavour}: unexpected ${what} section`);
    }
    // The import is env.memory, shared, 1..65536 pages: limits flag 0x03 (max present, shared).
    const text = Buffer.from(bin).toString('latin1');
    assert.ok(text.includes('\x03env\x06memory\x02\x03\x01\x80\x80\x04'), `${flavour}: imports env.memory shared, max 65536`);
  }
  // So the heap's first allocation (byte 64, address 0 kept null) and everything after it are the heap's alone.
  const heap = new Heap(1 << 16);
  assert.equal(heap.alloc(1), 64, 'first allocation at 64');
});
