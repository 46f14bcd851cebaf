// The wasm training attention (src/kernels/wasm/backward-attention.as): mlaTrainAttention and its backward against
// the reference on seeded random inputs with odd sizes (head dims off the 4/8-wide SIMD steps, one head, more heads
// than threads), gradients holding values beforehand (the += contract), both builds, 1 and 2 threads (the heads are
// split, dkRope's per-thread partials summed). Tolerance: each entry within 2e-5·sqrt(T) of its gradient's largest
// contribution (f32 sums of T terms of the size of that contribution), plus its initial value's magnitude.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Heap } from '../../src/tensor/heap.js';
import { empty, f32, type Tensor } from '../../src/tensor/tensor.js';
import { refBackward as R } from '../../src/kernels/ref/backward.js';
import { relaxedSimdSupported, type WasmFlavour } from '../../src/kernels/wasm/loader.js';
import { createWasmBackend } from '../../src/kernels/wasm/backend.js';
import { createWasmBackward } from '../../src/kernels/wasm/backward.js';

import { random, filled, clone } from './grad-check.js';

const flavours: WasmFlavour[] = relaxedSimdSupported() ? ['simd', 'relaxed'] : ['simd'];

/** |got − want| ≤ tol·(max_i |want − init| + |init_i|) for every entry (init: the gradient's values before the call). */
function near(what: string, got: Tensor, want: Tensor, init: Float32Array, tol: number, mayBeZero = false): void {
  const g = f32(got), w = f32(want);
  let scale = 0;
  for (let i = 0; i < w.length; i++) scale = Math.max(scale, Math.abs(w[i] - init[i]));
  assert.ok(scale > 1e-4 || mayBeZero, `${what}: the gradient's contribution is (near) zero, the comparison would be vacuous`);
  for (let i = 0; i < g.length; i++) {
    const e = Math.abs(g[i] - w[i]);
    assert.ok(e <= tol * (scale + Math.abs(init[i])), `${what}: entry ${i} is ${g[i]}, reference ${w[i]} (error ${e}, scale ${scale})`);
  }
}

const SHAPES = [
  { T: 1, H: 1, dn: 1, dr: 1, dv: 1 },
  { T: 2, H: 1, dn: 1, dr: 1, dv: 1 },
  { T: 5, H: 3, dn: 7, dr: 5, dv: 6 },
  { T: 9, H: 2, dn: 16, dr: 8, dv: 12 },
  { T: 33, H: 5, dn: 13, dr: 9, dv: 11 },
];

for (const flavour of flavours) {
  for (const threads of [1, 2]) {
    test(`wasm ${flavour} mlaTrainAttention and its backward on ${threads} thread(s) agree with the reference`, async () => {
      const heap = new Heap(8 << 20);
      const backend = createWasmBackend(heap, { flavour, threads });
      const B = createWasmBackward(backend);
      try {
        SHAPES.forEach(({ T, H, dn, dr, dv }, si) => {
          const what = `T ${T} H ${H} dn ${dn} dr ${dr} dv ${dv}`;
          const r = random(300 + si), scale = 1.7 / Math.sqrt(dn + dr);
          const q = filled(heap, [T, H * (dn + dr)], r), kv = filled(heap, [T, H * (dn + dv)], r), kRope = filled(heap, [T, dr], r);
          const out = empty(heap, [T, H * dv]), out2 = filled(heap, [T, H * dv], r);
          R.mlaTrainAttention(out, q, kv, kRope, T, H, dn, dr, dv, scale);
          B.mlaTrainAttention(out2, q, kv, kRope, T, H, dn, dr, dv, scale);
          near(`${what}: out`, out2, out, new Float32Array(T * H * dv), 2e-5 * Math.sqrt(T));
          const dout = filled(heap, [T, H * dv], r);
          const dq = filled(heap, [T, H * (dn + dr)], r), dkv = filled(heap, [T, H * (dn + dv)], r), dkr = filled(heap, [T, dr], r);
          const init = [dq, dkv, dkr].map((t) => f32(t).slice());
          const dq2 = clone(heap, dq), dkv2 = clone(heap, dkv), dkr2 = clone(heap, dkr);
          R.mlaTrainAttentionBackward(dq, dkv, dkr, dout, q, kv, kRope, T, H, dn, dr, dv, scale);
          B.mlaTrainAttentionBackward(dq2, dkv2, dkr2, dout, q, kv, kRope, T, H, dn, dr, dv, scale);
          const tol = 2e-5 * Math.sqrt(T * H);
          // one token attends only to itself (p = 1): the score gradients, so dq, dk_nope and dkRope, are exactly 0
          near(`${what}: dq`, dq2, dq, init[0], tol, T === 1);
          near(`${what}: dkv`, dkv2, dkv, init[1], tol);
          near(`${what}: dkRope`, dkr2, dkr, init[2], tol, T === 1);
        });
      } finally {
        await backend.close();
      }
    });
  }
}
