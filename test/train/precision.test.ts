// The low-precision matmuls of training (src/train/precision.ts) against an independent float64 implementation of
// the same recipe, written here from the paper's rule: forward, input gradient and weight gradient, FP8 and BF16, on
// the reference and wasm backends, with shapes whose tiles and blocks are partial at the edges. Also the wiring:
// other weights stay f32, refresh() re-rounds the weights, strided inputs are gathered first.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Heap } from '../../src/tensor/heap.js';
import { empty, f32, fromF32, type Tensor } from '../../src/tensor/tensor.js';
import type { Backend, BackwardKernels } from '../../src/kernels/backend.js';
import { refBackend } from '../../src/kernels/ref/index.js';
import { refBackward } from '../../src/kernels/ref/backward.js';
import { relaxedSimdSupported } from '../../src/kernels/wasm/loader.js';
import { createWasmBackend } from '../../src/kernels/wasm/backend.js';
import { createWasmBackward } from '../../src/kernels/wasm/backward.js';
import type { ModelWeights } from '../../src/model/weights.js';
import { withPrecision } from '../../src/train/precision.js';
import { random } from '../kernels/grad-check.js';

// ---- The recipe, from its definition (nothing from src/ below this line until the tests).

// E4M3 (e4m3fn) magnitudes indexed by code: subnormals m·2^-9 (codes 0..7), normals (1 + m/8)·2^(e−7) at code 8e + m,
// up to 0x7E = 448 (0x7F is NaN). Codes count up with the value, so "ties to even" is "ties to the even code".
const E4M3_GRID = Array.from({ length: 0x7f }, (_, c) => (c < 8 ? c * 2 ** -9 : (1 + (c & 7) / 8) * 2 ** ((c >> 3) - 7)));

/** The nearest E4M3 value, ties to the even code, beyond 448 saturating (the recipe only gets there by rounding). */
function e4m3(v: number): number {
  const a = Math.abs(v);
  let best = 0;
  for (let c = 1; c < E4M3_GRID.length; c++) {
    const d = Math.abs(E4M3_GRID[c] - a), bestD = Math.abs(E4M3_GRID[best] - a);
    if (d < bestD || (d === bestD && c % 2 === 0)) best = c;
  }
  return v < 0 ? -E4M3_GRID[best] : E4M3_GRID[best];
}

/** The nearest bf16 value (8 significant bits), ties to even; normal f32 range only, where the test data stays. */
function bf16(v: number): number {
  if (v === 0) return v;
  const a = Math.abs(v);
  let e = Math.floor(Math.log2(a));
  if (2 ** e > a) e--;
  if (2 ** (e + 1) <= a) e++;
  const q = a / 2 ** (e - 7), low = Math.floor(q), frac = q - low; // 128 ≤ q < 256: 8 bits kept
  const kept = frac > 0.5 || (frac === 0.5 && low % 2 === 1) ? low + 1 : low;
  return Math.sign(v) * kept * 2 ** (e - 7);
}

/**
 * x [rows, cols] rounded as the paper's FP8 recipe does it, in groups of gr×gc (1×128 activation tiles, 128×1 column
 * tiles, 128×128 weight blocks; edge groups partial): s = f32(max|x| / 448), value = f32(e4m3(f32(x / s))·s).
 */
function recipeFp8(x: Float32Array, rows: number, cols: number, gr: number, gc: number): Float64Array {
  const out = new Float64Array(rows * cols);
  for (let r0 = 0; r0 < rows; r0 += gr) {
    for (let c0 = 0; c0 < cols; c0 += gc) {
      const r1 = Math.min(r0 + gr, rows), c1 = Math.min(c0 + gc, cols);
      let amax = 0;
      for (let r = r0; r < r1; r++) for (let c = c0; c < c1; c++) amax = Math.max(amax, Math.abs(x[r * cols + c]));
      assert.ok(amax > 0, 'the test data has no all-zero group');
      const s = Math.fround(amax / 448);
      for (let r = r0; r < r1; r++) for (let c = c0; c < c1; c++) out[r * cols + c] = Math.fround(e4m3(Math.fround(x[r * cols + c] / s)) * s);
    }
  }
  return out;
}

/** want [I, J] = Σ_k a(i, k)·b(k, j) over k < n in float64, and mag = Σ_k |a(i, k)·b(k, j)| for the tolerance. */
function product(I: number, J: number, n: number, a: (i: number, k: number) => number, b: (k: number, j: number) => number) {
  const want = new Float64Array(I * J), mag = new Float64Array(I * J);
  for (let i = 0; i < I; i++) {
    for (let j = 0; j < J; j++) {
      let s = 0, m = 0;
      for (let k = 0; k < n; k++) { const p = a(i, k) * b(k, j); s += p; m += Math.abs(p); }
      want[i * J + j] = s; mag[i * J + j] = m;
    }
  }
  return { want, mag, n };
}

// Tolerance: a dot product of n terms evaluated in f32, in any order, with or without fused multiply-adds, is off its
// exact value by at most γ_n·Σ|terms|, γ_n = n·u / (1 − n·u), u = 2^-24 (Higham, Accuracy and Stability, §3.1). The
// reference backend sums in float64 and rounds once (error ≤ u·|sum|), inside the same bound. The operands themselves
// must match the recipe exactly: one value off by one E4M3 step moves a sum by ~2^-4 of a term, far outside γ_n.
function worstRatio(got: Float32Array, p: { want: Float64Array; mag: Float64Array; n: number }): number {
  const u = 2 ** -24, gamma = (p.n * u) / (1 - p.n * u);
  let worst = 0;
  for (let i = 0; i < got.length; i++) worst = Math.max(worst, Math.abs(got[i] - p.want[i]) / (gamma * p.mag[i] + 1e-300));
  return worst;
}

// ---- The data: T tokens × C inputs → OC outputs, none a multiple of 128, magnitudes that differ per tile and block.
const T = 130, C = 260, OC = 130;

function data(seed: number) {
  const r = random(seed);
  const x = Float32Array.from({ length: T * C }, (_, i) => {
    const t = Math.floor(i / C), c = i % C;
    return r() * 2 ** ((c >> 7) * 5 + (t % 3) * 2 - 4) * (i % 17 === 0 ? 2 ** -17 : 1); // every 17th: an E4M3 subnormal
  });
  const w = Float32Array.from({ length: OC * C }, (_, i) => r() * 2 ** ((Math.floor(i / C) >> 7) * 3 - ((i % C) >> 7) * 4 - 2));
  const dout = Float32Array.from({ length: T * OC }, (_, i) => r() * 2 ** (((i % OC) >> 7) * 4 + (Math.floor(i / OC) >> 7) * 3 + (i % 2) - 3));
  return { x, w, dout };
}

/** The recipe's operands for one mode: forward/dgrad (x, dout in 1×128 tiles) and wgrad (both in 128×1 tiles). */
function operands(mode: 'bf16' | 'fp8', d: ReturnType<typeof data>) {
  if (mode === 'bf16') {
    const round = (a: Float32Array) => Float64Array.from(a, bf16);
    const x = round(d.x), dout = round(d.dout);
    return { x, w: round(d.w), dout, xCol: x, doutCol: dout };
  }
  return {
    x: recipeFp8(d.x, T, C, 1, 128), w: recipeFp8(d.w, OC, C, 128, 128), dout: recipeFp8(d.dout, T, OC, 1, 128),
    xCol: recipeFp8(d.x, T, C, 128, 1), doutCol: recipeFp8(d.dout, T, OC, 128, 1),
  };
}

/** A model whose every low-precision slot holds the one weight `w` (withPrecision keeps one shadow per tensor). */
function holding(w: Tensor, other: Tensor): ModelWeights {
  const attn = { qA: null, qANorm: null, qB: null, q: w, kvA: w, kvANorm: other, kvB: w, o: w };
  const layer = { inputNorm: other, postNorm: other, attn, ffn: { kind: 'dense' as const, mlp: { gate: w, up: w, down: w } } };
  return { embed: other, layers: [layer], norm: other, head: other, mtp: [], all: [w, other] };
}

interface Kernels { heap: Heap; backend: Backend; bw: BackwardKernels; close(): Promise<void> }

const KERNEL_SETS: { name: string; make: () => Kernels }[] = [
  { name: 'ref', make: () => ({ heap: new Heap(32 << 20), backend: refBackend, bw: refBackward, async close() {} }) },
  ...(relaxedSimdSupported() ? ['simd', 'relaxed'] as const : ['simd'] as const).map((flavour) => ({
    name: `wasm ${flavour}`,
    make: (): Kernels => {
      const heap = new Heap(32 << 20), backend = createWasmBackend(heap, { flavour, threads: 2 });
      return { heap, backend, bw: createWasmBackward(backend), close: () => backend.close() };
    },
  })),
];

for (const { name, make } of KERNEL_SETS) {
  for (const mode of ['fp8', 'bf16'] as const) {
    test(`${name}: ${mode} matmul, input and weight gradients equal the float64 recipe within f32 accumulation`, async () => {
      const k = make();
      try {
        const d = data(mode === 'fp8' ? 5 : 6), q = operands(mode, d);
        const x = fromF32(k.heap, d.x, [T, C]), w = fromF32(k.heap, d.w, [OC, C]), dout = fromF32(k.heap, d.dout, [T, OC]);
        const pk = withPrecision(k.backend, k.bw, k.heap, holding(w, empty(k.heap, [1, 1])), mode);
        const out = empty(k.heap, [T, OC]), dx = empty(k.heap, [T, C]), dw = empty(k.heap, [OC, C]);
        pk.backend.matmul(out, x, w, T, C, OC);
        pk.bw.matmulBackward(dx, null, dout, x, w, T, C, OC);
        pk.bw.matmulBackward(null, dw, dout, x, w, T, C, OC);

        const fwd = product(T, OC, C, (t, c) => q.x[t * C + c], (c, o) => q.w[o * C + c]);
        const dgrad = product(T, C, OC, (t, o) => q.dout[t * OC + o], (o, c) => q.w[o * C + c]);
        const wgrad = product(OC, C, T, (o, t) => q.doutCol[t * OC + o], (t, c) => q.xCol[t * C + c]);
        for (const [what, got, p] of [['forward', out, fwd], ['dgrad', dx, dgrad], ['wgrad', dw, wgrad]] as const) {
          const ratio = worstRatio(f32(got), p);
          assert.ok(ratio <= 1, `${name} ${mode} ${what}: worst error ${ratio.toFixed(2)} × γ_${p.n}·Σ|terms|`);
        }
        // The check can tell the recipe from plain f32: unrounded operands miss it by far more than the tolerance.
        const plain = product(T, OC, C, (t, c) => d.x[t * C + c], (c, o) => d.w[o * C + c]);
        assert.ok(worstRatio(Float32Array.from(plain.want), fwd) > 10, `${mode} rounding is visible to this check`);
        pk.dispose();
      } finally {
        await k.close();
      }
    });
  }

  test(`${name}: fp8 wiring — other weights stay f32, refresh() re-rounds, strided inputs are gathered`, async () => {
    const k = make();
    try {
      const d = data(7);
      const x = fromF32(k.heap, d.x, [T, C]), w = fromF32(k.heap, d.w, [OC, C]), head = fromF32(k.heap, d.w, [OC, C]);
      const pk = withPrecision(k.backend, k.bw, k.heap, holding(w, empty(k.heap, [1, 1])), 'fp8');
      const got = empty(k.heap, [T, OC]), plain = empty(k.heap, [T, OC]);
      pk.backend.matmul(got, x, head, T, C, OC);
      k.backend.matmul(plain, x, head, T, C, OC);
      assert.deepEqual(f32(got), f32(plain), 'a weight outside the low-precision set runs in f32');

      // a strided x (rows C + 3 apart) quantises the rows' first C values, exactly as the packed x does
      const wide = empty(k.heap, [T, C + 3]);
      for (let t = 0; t < T; t++) { f32(wide).set(d.x.subarray(t * C, t * C + C), t * (C + 3)); f32(wide).fill(1e4, t * (C + 3) + C, (t + 1) * (C + 3)); }
      const packed = empty(k.heap, [T, OC]), strided = empty(k.heap, [T, OC]);
      pk.backend.matmul(packed, x, w, T, C, OC);
      pk.backend.matmul(strided, wide, w, T, C, OC, C + 3);
      assert.deepEqual(f32(strided), f32(packed), 'strided input: same result as the packed one');

      // after an optimizer step changes the master weight, refresh() rounds the new values
      f32(w).forEach((v, i, a) => { a[i] = -2 * v; });
      pk.refresh();
      const after = empty(k.heap, [T, OC]);
      pk.backend.matmul(after, x, w, T, C, OC);
      const q = recipeFp8(d.x, T, C, 1, 128), qw = recipeFp8(f32(w), OC, C, 128, 128);
      const ratio = worstRatio(f32(after), product(T, OC, C, (t, c) => q[t * C + c], (c, o) => qw[o * C + c]));
      assert.ok(ratio <= 1, `after refresh: worst error ${ratio.toFixed(2)} × tolerance`);
      pk.dispose();
    } finally {
      await k.close();
    }
  });
}
