// The backward of the dense ops (matmul, RMSNorm, RoPE, SiLU·mul, embedding, concat) and of the loss, each checked
// against central finite differences of L = Σ dout ⊙ forward(...) through the ref FORWARD kernels, for every input
// that has a gradient, on tiny odd shapes; plus the += contract and the clear errors. Leaves out attention and MoE
// (backward-attention.test.ts, backward-moe.test.ts).
//
// Tolerance: the forward kernels store f32 (relative rounding u ≈ 6e-8) and the step h is taken as the difference
// actually stored in f32. Central differences then err by ≈ h²/6·|L'''| (≈ 2e-5 at h = 1e-2 for O(1) derivatives)
// plus the rounding of the outputs one input touches, ≈ n·u·|out|/(2h) ≲ 10·6e-8/2e-2 ≈ 3e-5. A bound of 2e-3 of the
// gradient's largest entry is ≥ 20× that, while a wrong factor of 2 or a dropped term (RMSNorm's −(r³/D)(g·x)x,
// the SiLU derivative's gate·(1−σ) term, the transposed rotation's sign) moves entries by ≳ 10% of that scale.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Heap } from '../../src/tensor/heap.js';
import type { Tensor } from '../../src/tensor/tensor.js';
import { empty, f32, fromF32, fromI32 } from '../../src/tensor/tensor.js';
import type { RopeSpec } from '../../src/model/rope.js';
import { matmul } from '../../src/kernels/ref/matmul.js';
import { rmsnorm, siluMul, embedding, concat } from '../../src/kernels/ref/elementwise.js';
import { rope } from '../../src/kernels/ref/rope.js';
import { refBackward as B } from '../../src/kernels/ref/backward.js';

import { random, tensorMakers, dot, checkGrad } from './grad-check.js';

const heap = new Heap(1 << 20);

const { rand, zeros } = tensorMakers(heap);



/** Runs `backward` a second time into the same gradients and asserts each doubled (the += contract). */
function checkAccumulates(what: string, grads: Tensor[], backward: () => void): void {
  const once = grads.map((t) => f32(t).slice());
  backward();
  grads.forEach((t, gi) => {
    const now = f32(t);
    for (let i = 0; i < now.length; i++) {
      assert.ok(Math.abs(now[i] - 2 * once[gi][i]) <= 1e-6 * (1 + Math.abs(once[gi][i])),
        `${what}: gradient ${gi} entry ${i} is ${now[i]} after two calls, expected 2 × ${once[gi][i]} (does it overwrite?)`);
    }
  });
}

for (const { T, C, OC, xStride } of [{ T: 3, C: 5, OC: 4, xStride: 5 }, { T: 2, C: 3, OC: 7, xStride: 6 }]) {
  test(`matmulBackward: dx and dw against finite differences (T ${T}, C ${C}, OC ${OC}, xStride ${xStride})`, () => {
    const r = random(11 + T);
    const x = rand(r, [T, xStride]), w = rand(r, [OC, C]), dout = rand(r, [T, OC]), out = zeros([T, OC]);
    const L = () => { matmul(out, x, w, T, C, OC, xStride); return dot(f32(out), f32(dout)); };
    const dx = zeros([T, xStride]), dw = zeros([OC, C]);
    const run = () => B.matmulBackward(dx, dw, dout, x, w, T, C, OC, xStride);
    run();
    checkGrad('dx', x, dx, L);
    checkGrad('dw', w, dw, L);
    // the padding columns of a strided x are not inputs: their gradient stays 0
    for (let t = 0; t < T; t++) for (let c = C; c < xStride; c++) assert.equal(f32(dx)[t * xStride + c], 0, `dx padding ${t},${c}`);
    checkAccumulates('matmulBackward', [dx, dw], run);
    // null skips a gradient
    const dw2 = zeros([OC, C]);
    B.matmulBackward(null, dw2, dout, x, w, T, C, OC, xStride);
    assert.deepEqual(f32(dw2).slice(), f32(dw).map((v) => v / 2), 'dw with dx = null equals the single-call dw');
  });
}

test('matmulBackward: bf16 gradients are refused with an error naming the kernel and argument', () => {
  const x = zeros([1, 2]), w = zeros([3, 2]), dout = zeros([1, 3]);
  assert.throws(() => B.matmulBackward(null, empty(heap, [3, 2], 'bf16'), dout, x, w, 1, 2, 3), /matmulBackward: gradient dw must be f32/);
});

for (const { T, D, xStride, outStride } of [{ T: 3, D: 5, xStride: 5, outStride: 5 }, { T: 2, D: 7, xStride: 9, outStride: 8 }]) {
  test(`rmsnormBackward: dx and dw against finite differences (T ${T}, D ${D}, strides ${xStride}/${outStride})`, () => {
    const r = random(23 + D);
    const eps = 1e-6;
    const x = rand(r, [T, xStride], 1.5), w = rand(r, [D]), dout = rand(r, [T, outStride]), out = zeros([T, outStride]);
    const L = () => { rmsnorm(out, x, w, T, D, eps, xStride, outStride); return dot(f32(out), f32(dout)); };
    const dx = zeros([T, xStride]), dw = zeros([D]);
    const run = () => B.rmsnormBackward(dx, dw, dout, x, w, T, D, eps, xStride, outStride);
    run();
    checkGrad('dx', x, dx, L);
    checkGrad('dw', w, dw, L);
    checkAccumulates('rmsnormBackward', [dx, dw], run);
  });
}

test('siluMulBackward: dgate and dup against finite differences (n 9, gates over [-4, 4])', () => {
  const r = random(5);
  const n = 9;
  const gate = rand(r, [n], 4), up = rand(r, [n]), dout = rand(r, [n]), out = zeros([n]);
  const L = () => { siluMul(out, gate, up, n); return dot(f32(out), f32(dout)); };
  const dg = zeros([n]), du = zeros([n]);
  const run = () => B.siluMulBackward(dg, du, dout, gate, up, n);
  run();
  checkGrad('dgate', gate, dg, L);
  checkGrad('dup', up, du, L);
  checkAccumulates('siluMulBackward', [dg, du], run);
});

test('embeddingBackward: repeated ids accumulate, unused rows stay zero, against finite differences', () => {
  const r = random(7);
  const V = 5, D = 3, T = 6;
  const ids = fromI32(heap, [2, 0, 2, 4, 2, 0]);
  const table = rand(r, [V, D]), dout = rand(r, [T, D]), out = zeros([T, D]);
  const L = () => { embedding(out, ids, table, T, D); return dot(f32(out), f32(dout)); };
  const dt = zeros([V, D]);
  const run = () => B.embeddingBackward(dt, dout, ids, T, D);
  run();
  checkGrad('dtable', table, dt, L);
  const g = f32(dout), d = f32(dt);
  for (let j = 0; j < D; j++) {
    assert.ok(Math.abs(d[2 * D + j] - (g[0 * D + j] + g[2 * D + j] + g[4 * D + j])) < 1e-6, `row 2 col ${j}: sum of three positions`);
    assert.equal(d[1 * D + j], 0, `unused row 1 col ${j}`);
    assert.equal(d[3 * D + j], 0, `unused row 3 col ${j}`);
  }
  checkAccumulates('embeddingBackward', [dt], run);
  assert.throws(() => B.embeddingBackward(dt, dout, fromI32(heap, [0, 5, 0, 0, 0, 0]), T, D), /token id 5 at position 1/);
});

test('concatBackward: da and db against finite differences (A 3, B 2)', () => {
  const r = random(9);
  const T = 3, A = 3, Bw = 2;
  const a = rand(r, [T, A]), b = rand(r, [T, Bw]), dout = rand(r, [T, A + Bw]), out = zeros([T, A + Bw]);
  const L = () => { concat(out, a, b, T, A, Bw); return dot(f32(out), f32(dout)); };
  const da = zeros([T, A]), db = zeros([T, Bw]);
  const run = () => B.concatBackward(da, db, dout, T, A, Bw);
  run();
  checkGrad('da', a, da, L);
  checkGrad('db', b, db, L);
  checkAccumulates('concatBackward', [da, db], run);
});

for (const interleaved of [true, false]) {
  test(`ropeBackward: the transposed rotation against finite differences (${interleaved ? 'interleaved' : 'half-split'}, mscale 1.3)`, () => {
    const r = random(interleaved ? 31 : 37);
    // q-like layout: H heads of stride 7 = nope 3 + rope 4; the gradient outside the rope range passes through.
    const T = 3, H = 2, stride = 7, offset = 3, dr = 4;
    const spec: RopeSpec = { invFreq: Float64Array.from([1, 0.37]), mscale: 1.3, interleaved };
    const positions = fromI32(heap, [0, 5, 17]);
    const x = rand(r, [T, H * stride]), dout = rand(r, [T, H * stride]), y = zeros([T, H * stride]);
    const L = () => { f32(y).set(f32(x)); rope(y, positions, spec, T, H, stride, offset, dr); return dot(f32(y), f32(dout)); };
    const dx = zeros([T, H * stride]);
    f32(dx).set(f32(dout));
    B.ropeBackward(dx, positions, spec, T, H, stride, offset, dr);
    checkGrad('dx', x, dx, L);
    // position 0 is the identity times mscale on the rope range, the identity elsewhere
    for (let i = 0; i < H * stride; i++) {
      const inRope = i % stride >= offset;
      assert.ok(Math.abs(f32(dx)[i] - f32(dout)[i] * (inRope ? 1.3 : 1)) < 1e-6, `position 0 element ${i}`);
    }
  });
}

// ---- Loss

/** Float64 cross-entropy of one row, the plain definition (max subtracted). */
function ce64(z: ArrayLike<number>, target: number): number {
  const m = Math.max(...Array.from(z));
  let s = 0;
  for (let i = 0; i < z.length; i++) s += Math.exp(z[i] - m);
  return m + Math.log(s) - z[target];
}

test('crossEntropyForward and softmaxForward: stable at large logits, ignored targets give 0', () => {
  const T = 3, V = 5;
  // row 1 is shifted by 1000: exp would overflow without the max subtraction
  const rowsIn = [[0.5, -1, 2, 0, 0.25], [1000.5, 999, 1002, 1000, 1000.25], [3, 1, -2, 0.5, 0]];
  const logits = fromF32(heap, rowsIn.flat(), [T, V]);
  const targets = fromI32(heap, [2, 4, -1]);
  const losses = zeros([T]);
  B.crossEntropyForward(losses, logits, targets, T, V);
  const l = f32(losses);
  assert.ok(Math.abs(l[0] - ce64(rowsIn[0], 2)) < 1e-6, `row 0: ${l[0]} vs ${ce64(rowsIn[0], 2)}`);
  // row 1 equals row 0 + 1000 (all f32-exact), and cross-entropy is shift-invariant
  assert.ok(Math.abs(l[1] - ce64(rowsIn[0], 4)) < 1e-5, `row 1 (shifted): ${l[1]} vs ${ce64(rowsIn[0], 4)}`);
  assert.equal(l[2], 0, 'ignored row has loss 0');
  const p = zeros([T, V]);
  B.softmaxForward(p, logits, T, V);
  const pa = f32(p);
  for (let t = 0; t < T; t++) {
    let sum = 0;
    for (let v = 0; v < V; v++) { sum += pa[t * V + v]; assert.ok(Number.isFinite(pa[t * V + v]), `softmax ${t},${v} finite`); }
    assert.ok(Math.abs(sum - 1) < 1e-6, `softmax row ${t} sums to ${sum}`);
  }
  for (let v = 0; v < V; v++) assert.ok(Math.abs(pa[v] - pa[V + v]) < 1e-6, `softmax is shift-invariant at ${v}`);
  // -log p[target] is the loss
  assert.ok(Math.abs(-Math.log(pa[2]) - l[0]) < 1e-6, 'loss = -log softmax[target]');
  assert.throws(() => B.crossEntropyForward(losses, logits, fromI32(heap, [0, 5, 0]), T, V), /target 5 at position 1/);
});

test('crossEntropyBackward: (softmax − onehot)·dlossScale against finite differences, ignored rows untouched', () => {
  const r = random(41);
  const T = 4, V = 7, scale = 0.37;
  const logits = rand(r, [T, V], 3), targets = fromI32(heap, [6, -1, 0, 3]), losses = zeros([T]);
  const L = () => { B.crossEntropyForward(losses, logits, targets, T, V); let s = 0; for (const v of f32(losses)) s += v; return scale * s; };
  const dz = zeros([T, V]);
  const run = () => B.crossEntropyBackward(dz, logits, targets, scale, T, V);
  run();
  checkGrad('dlogits', logits, dz, L);
  for (let v = 0; v < V; v++) assert.equal(f32(dz)[V + v], 0, `ignored row 1 col ${v}`);
  // each row sums to 0 (Σ softmax = 1 = Σ onehot)
  for (const t of [0, 2, 3]) {
    let s = 0;
    for (let v = 0; v < V; v++) s += f32(dz)[t * V + v];
    assert.ok(Math.abs(s) < 1e-6, `row ${t} of dlogits sums to ${s}`);
  }
  checkAccumulates('crossEntropyBackward', [dz], run);
});
