// Training MLA attention: the cache-free causal forward agrees with the prefill kernel (past = 0), and its backward
// (dq, dkv, dkRope) agrees with central finite differences of L = Σ dout ⊙ mlaTrainAttention(...) on tiny odd shapes.
// Leaves out the projections around attention (matmul/rmsnorm/rope backwards, tested in backward-ops.test.ts).
//
// Tolerance: the forward stores f32 outputs (u ≈ 6e-8) and the step is the difference actually stored in f32.
// At h = 1e-2 the central difference errs by ≈ h²/6·|L'''| ≈ 2e-5 (softmax derivatives are O(1) at these scores)
// plus ≈ (outputs touched ≤ T·H·dv = 30)·u/(2h) ≈ 1e-4 of rounding; 2e-3 of the largest gradient entry is well
// above that, while dropping the softmax's −Σ p·dp term, the scale, or the sum over heads of dkRope moves entries
// by tens of percent.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Heap } from '../../src/tensor/heap.js';
import { f32 } from '../../src/tensor/tensor.js';
import { mlaAttention } from '../../src/kernels/ref/attention.js';
import { refBackward as B } from '../../src/kernels/ref/backward.js';

import { random, tensorMakers, dot, checkGrad } from './grad-check.js';

const heap = new Heap(1 << 20);

const { rand, zeros } = tensorMakers(heap);



const SHAPES = [
  { T: 5, H: 2, dn: 3, dr: 2, dv: 3, scale: 0.7 },
  { T: 4, H: 3, dn: 2, dr: 4, dv: 5, scale: 1.3 },
];

for (const { T, H, dn, dr, dv, scale } of SHAPES) {
  const name = `T ${T}, H ${H}, dn ${dn}, dr ${dr}, dv ${dv}`;

  test(`mlaTrainAttention equals the prefill mlaAttention with past = 0 (${name})`, () => {
    const r = random(3 + T);
    const q = rand(r, [T, H * (dn + dr)], 1.5), kv = rand(r, [T, H * (dn + dv)], 1.5), kRope = rand(r, [T, dr], 1.5);
    // the prefill kernel reads k_rope from pool rows [poolStart + s] at column R: lay kRope out that way
    const R = 3, poolStart = 2;
    const pool = zeros([poolStart + T, R + dr]);
    for (let s = 0; s < T; s++) {
      for (let c = 0; c < R; c++) f32(pool)[(poolStart + s) * (R + dr) + c] = 100; // latent columns: must be ignored
      f32(pool).set(f32(kRope).subarray(s * dr, s * dr + dr), (poolStart + s) * (R + dr) + R);
    }
    const a = zeros([T, H * dv]), b = zeros([T, H * dv]);
    B.mlaTrainAttention(a, q, kv, kRope, T, H, dn, dr, dv, scale);
    mlaAttention(b, q, kv, pool, poolStart, T, T, 0, H, dn, dr, dv, R, scale);
    f32(a).forEach((v, i) => assert.ok(Math.abs(v - f32(b)[i]) < 1e-6, `out ${i}: train ${v} vs prefill ${f32(b)[i]}`));
    // causality: the first token attends only to itself, so its output is its own v
    for (let h = 0; h < H; h++) {
      for (let d = 0; d < dv; d++) {
        assert.ok(Math.abs(f32(a)[h * dv + d] - f32(kv)[h * (dn + dv) + dn + d]) < 1e-6, `token 0 head ${h} is its own value ${d}`);
      }
    }
  });

  test(`mlaTrainAttentionBackward: dq, dkv, dkRope against finite differences (${name})`, () => {
    const r = random(17 + T);
    const q = rand(r, [T, H * (dn + dr)], 1.5), kv = rand(r, [T, H * (dn + dv)], 1.5), kRope = rand(r, [T, dr], 1.5);
    const dout = rand(r, [T, H * dv]), out = zeros([T, H * dv]);
    const L = () => { B.mlaTrainAttention(out, q, kv, kRope, T, H, dn, dr, dv, scale); return dot(f32(out), f32(dout)); };
    const dq = zeros([T, H * (dn + dr)]), dkv = zeros([T, H * (dn + dv)]), dkr = zeros([T, dr]);
    const run = () => B.mlaTrainAttentionBackward(dq, dkv, dkr, dout, q, kv, kRope, T, H, dn, dr, dv, scale);
    run();
    checkGrad('dq', q, dq, L);
    checkGrad('dkv', kv, dkv, L);
    checkGrad('dkRope', kRope, dkr, L);
    // the first query attends to a single key: its softmax is constant, so its q gets no gradient
    for (let i = 0; i < H * (dn + dr); i++) assert.ok(Math.abs(f32(dq)[i]) < 1e-7, `dq of token 0 entry ${i} is ${f32(dq)[i]}`);
    // += contract: a second call doubles every gradient
    const once = [dq, dkv, dkr].map((t) => f32(t).slice());
    run();
    [dq, dkv, dkr].forEach((t, gi) => f32(t).forEach((v, i) => assert.ok(Math.abs(v - 2 * once[gi][i]) <= 1e-6 * (1 + Math.abs(v)),
      `gradient ${gi} entry ${i}: ${v} after two calls, expected 2 × ${once[gi][i]}`)));
  });
}
