// The wasm backward of the row/elementwise ops and the loss (src/kernels/wasm/backward-ops.as) against the reference
// backward on seeded random inputs with odd sizes (SIMD bodies plus scalar tails, strided rows, repeated ids, ignored
// targets), gradients holding values beforehand (the += contract), both builds, 1 and 2 threads; and the same errors.
// Tolerance: each entry's error over the magnitude of the terms that make it (|initial| + Σ|term|), times a factor
// of a few f32 ulps (exp4 is within ≈ 2 ulp); scatter-add and concat add the same f32 values in the same order, exactly.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Heap } from '../../src/tensor/heap.js';
import { empty, f32, fromI32, u16, type Tensor } from '../../src/tensor/tensor.js';
import type { RopeSpec } from '../../src/model/rope.js';
import { refBackward as R } from '../../src/kernels/ref/backward.js';
import { f32ToBf16 } from '../../src/weights/dtypes.js';
import { createWasmBackend } from '../../src/kernels/wasm/backend.js';
import { createWasmBackward } from '../../src/kernels/wasm/backward.js';

import { random, filled, clone } from './grad-check.js';
import { testWasmCases, type WasmCase } from './wasm-cases.js';

/** Asserts |got − want| ≤ tol·mag[i] (+ 1e-30) for every entry; mag = the magnitude of the entry's terms. */
function near(what: string, got: Tensor, want: Tensor, mag: ArrayLike<number>, tol: number): void {
  const g = f32(got), w = f32(want);
  for (let i = 0; i < g.length; i++) {
    const e = Math.abs(g[i] - w[i]);
    assert.ok(e <= tol * mag[i] + 1e-30, `${what}: entry ${i} is ${g[i]}, reference ${w[i]} (error ${e}, magnitude ${mag[i]})`);
  }
}

const abs = (t: Tensor): Float64Array => Float64Array.from(f32(t), Math.abs);


const cases: WasmCase[] = [];

for (const { T, D, xStride, outStride, wBf16 } of [
  { T: 1, D: 1, xStride: 1, outStride: 1, wBf16: false }, { T: 5, D: 7, xStride: 7, outStride: 7, wBf16: false },
  { T: 9, D: 67, xStride: 70, outStride: 69, wBf16: false }, { T: 4, D: 130, xStride: 130, outStride: 130, wBf16: true },
]) {
  cases.push([`rmsnormBackward T ${T} D ${D} strides ${xStride}/${outStride}${wBf16 ? ' bf16 w' : ''}`, (heap, B) => {
    const r = random(7 + D), eps = 1e-6;
    const x = filled(heap, [T, xStride], r, 2), dout = filled(heap, [T, outStride], r);
    let w = filled(heap, [D], r);
    if (wBf16) { const b = empty(heap, [D], 'bf16'); u16(b).forEach((_, i, a) => { a[i] = f32ToBf16(f32(w)[i]); }); w = b; }
    const dx = filled(heap, [T, xStride], r), dw = filled(heap, [D], r), dx2 = clone(heap, dx), dw2 = clone(heap, dw);
    R.rmsnormBackward(dx, dw, dout, x, w, T, D, eps, xStride, outStride);
    B.rmsnormBackward(dx2, dw2, dout, x, w, T, D, eps, xStride, outStride);
    // magnitudes: r·|g·w| + (r³/D)·Σ|g·w·x|·|x| for dx, Σ_t |g·x|·r for dw (w read back through a zero-gradient run)
    const xa = f32(x), ga = f32(dout), wv = new Float32Array(D);
    for (let d = 0; d < D; d++) wv[d] = wBf16 ? new Float32Array(new Uint32Array([u16(w)[d] << 16]).buffer)[0] : f32(w)[d];
    const mx = abs(dx), mw = abs(dw);
    for (let t = 0; t < T; t++) {
      let ss = 0, gx = 0;
      for (let d = 0; d < D; d++) { ss += xa[t * xStride + d] ** 2; gx += Math.abs(ga[t * outStride + d] * wv[d] * xa[t * xStride + d]); }
      const rr = 1 / Math.sqrt(ss / D + eps);
      for (let d = 0; d < D; d++) {
        const xi = xa[t * xStride + d], gi = ga[t * outStride + d];
        mx[t * xStride + d] += rr * Math.abs(gi * wv[d]) + (rr ** 3 / D) * gx * Math.abs(xi);
        mw[d] += Math.abs(gi * xi) * rr;
      }
    }
    near('dx', dx2, dx, mx, 4e-6 * Math.sqrt(D));
    near('dw', dw2, dw, mw, 4e-6 * Math.sqrt(T));
  }]);
}

for (const n of [1, 3, 4, 67, 1000]) {
  cases.push([`siluMulBackward n ${n}`, (heap, B) => {
    const r = random(31 + n);
    const gate = filled(heap, [n], r, 12), up = filled(heap, [n], r), dout = filled(heap, [n], r);
    const dg = filled(heap, [n], r), du = filled(heap, [n], r), dg2 = clone(heap, dg), du2 = clone(heap, du);
    R.siluMulBackward(dg, du, dout, gate, up, n);
    B.siluMulBackward(dg2, du2, dout, gate, up, n);
    const mg = abs(dg), mu = abs(du), z = f32(gate), go = f32(dout), u = f32(up);
    for (let i = 0; i < n; i++) {
      const s = 1 / (1 + Math.exp(-z[i]));
      mg[i] += Math.abs(go[i] * u[i]) * s * (1 + Math.abs(z[i]) * (1 - s));
      mu[i] += Math.abs(go[i] * z[i]) * s;
    }
    near('dgate', dg2, dg, mg, 4e-6);
    near('dup', du2, du, mu, 4e-6);
  }]);
}

for (const { T, D, V } of [{ T: 1, D: 1, V: 1 }, { T: 13, D: 37, V: 5 }, { T: 6, D: 64, V: 3 }]) {
  cases.push([`embeddingBackward T ${T} D ${D} V ${V} (repeated ids)`, (heap, B) => {
    const r = random(53 + D);
    const ids = fromI32(heap, Array.from({ length: T }, () => Math.floor((r() + 1) / 2 * V)));
    const dout = filled(heap, [T, D], r), dt = filled(heap, [V, D], r), dt2 = clone(heap, dt);
    R.embeddingBackward(dt, dout, ids, T, D);
    B.embeddingBackward(dt2, dout, ids, T, D);
    assert.deepEqual(f32(dt2), f32(dt), 'dtable equals the reference exactly (same f32 additions in the same order)');
  }]);
}

for (const { T, A, Bw } of [{ T: 1, A: 1, Bw: 1 }, { T: 5, A: 7, Bw: 12 }, { T: 3, A: 64, Bw: 3 }]) {
  cases.push([`concatBackward T ${T} A ${A} B ${Bw}`, (heap, B) => {
    const r = random(61 + A);
    const dout = filled(heap, [T, A + Bw], r), da = filled(heap, [T, A], r), db = filled(heap, [T, Bw], r);
    const da2 = clone(heap, da), db2 = clone(heap, db);
    R.concatBackward(da, db, dout, T, A, Bw);
    B.concatBackward(da2, db2, dout, T, A, Bw);
    assert.deepEqual(f32(da2), f32(da), 'da equals the reference exactly');
    assert.deepEqual(f32(db2), f32(db), 'db equals the reference exactly');
  }]);
}

for (const { T, H, stride, offset, dr, interleaved } of [
  { T: 3, H: 2, stride: 12, offset: 4, dr: 8, interleaved: false }, { T: 5, H: 3, stride: 13, offset: 2, dr: 10, interleaved: false },
  { T: 4, H: 2, stride: 11, offset: 1, dr: 10, interleaved: true }, { T: 2, H: 1, stride: 2, offset: 0, dr: 2, interleaved: true },
]) {
  cases.push([`ropeBackward T ${T} H ${H} stride ${stride} offset ${offset} dr ${dr} ${interleaved ? 'interleaved' : 'half-split'}`, (heap, B) => {
    const r = random(71 + dr + T);
    const half = dr / 2;
    const spec: RopeSpec = { invFreq: Float64Array.from({ length: half }, (_, i) => 10000 ** (-2 * i / dr)), mscale: 1.25, interleaved };
    const positions = fromI32(heap, Array.from({ length: T }, (_, t) => 3 * t + 100));
    const dx = filled(heap, [T, H * stride], r), dx2 = clone(heap, dx);
    const mag = abs(dx).map((_, i, a) => (a[i] + 1) * 2 * spec.mscale);
    R.ropeBackward(dx, positions, spec, T, H, stride, offset, dr);
    B.ropeBackward(dx2, positions, spec, T, H, stride, offset, dr);
    near('dx', dx2, dx, mag, 1e-6);
  }]);
}

for (const { T, V, amp } of [{ T: 1, V: 1, amp: 1 }, { T: 5, V: 7, amp: 3 }, { T: 4, V: 1037, amp: 20 }, { T: 3, V: 2053, amp: 0.5 }]) {
  cases.push([`softmax and cross-entropy T ${T} V ${V} (logits ×${amp}, one ignored target)`, (heap, B) => {
    const r = random(83 + V);
    const logits = filled(heap, [T, V], r, amp);
    const targets = fromI32(heap, Array.from({ length: T }, (_, t) => (t === 1 ? -1 : Math.floor((r() + 1) / 2 * V))));
    const sm = empty(heap, [T, V]), sm2 = empty(heap, [T, V]);
    R.softmaxForward(sm, logits, T, V);
    B.softmaxForward(sm2, logits, T, V);
    // p = exp(a), a = z − max rounded to f32: its relative error grows with |a| (u·|a|), so p's terms are p·(1 + |a|)
    const z = f32(logits), pm = new Float64Array(T * V);
    for (let t = 0; t < T; t++) {
      let m = -Infinity;
      for (let v = 0; v < V; v++) m = Math.max(m, z[t * V + v]);
      for (let v = 0; v < V; v++) pm[t * V + v] = f32(sm)[t * V + v] * (1 + Math.abs(z[t * V + v] - m));
    }
    near('softmax', sm2, sm, pm, 2e-6);
    const l = empty(heap, [T]), l2 = filled(heap, [T], r);
    R.crossEntropyForward(l, logits, targets, T, V);
    B.crossEntropyForward(l2, logits, targets, T, V);
    const ml = new Float64Array(T).map((_, t) => 2 * amp + Math.abs(f32(l)[t]) + Math.log(V) + 1);
    near('losses', l2, l, ml, 2e-6);
    const scale = 0.37;
    const dz = filled(heap, [T, V], r), dz2 = clone(heap, dz);
    R.crossEntropyBackward(dz, logits, targets, scale, T, V);
    B.crossEntropyBackward(dz2, logits, targets, scale, T, V);
    const mz = abs(dz).map((v, i) => v + (pm[i] + 1) * scale);
    near('dlogits', dz2, dz, mz, 2e-6);
  }]);
}

testWasmCases((flavour, threads) => `wasm ${flavour} backward ops on ${threads} thread(s) agree with the reference`, cases);

test('wasm backward ops refuse out-of-range ids and targets with the reference errors', async () => {
  const heap = new Heap(1 << 20);
  const backend = createWasmBackend(heap, { threads: 1 });
  try {
    const B = createWasmBackward(backend);
    const dt = empty(heap, [4, 2]), dout = empty(heap, [2, 2]);
    assert.throws(() => B.embeddingBackward(dt, dout, fromI32(heap, [1, 4]), 2, 2), /embeddingBackward: token id 4 at position 1 is outside the vocabulary \(0\.\.3\)/);
    const z = empty(heap, [2, 3]);
    assert.throws(() => B.crossEntropyBackward(empty(heap, [2, 3]), z, fromI32(heap, [0, -2]), 1, 2, 3), /crossEntropyBackward: target -2 at position 1/);
    assert.throws(() => B.crossEntropyForward(empty(heap, [2]), z, fromI32(heap, [3, 0]), 2, 3), /crossEntropyForward: target 3 at position 0/);
    assert.throws(() => B.siluMulBackward(empty(heap, [2], 'bf16'), empty(heap, [2]), dout, dout, dout, 2), /siluMulBackward: gradient dgate must be f32/);
  } finally {
    await backend.close();
  }
});
