// The wasm row and elementwise ops (src/kernels/wasm/ops.as through the backend) against the reference kernels on
// seeded random inputs with sizes that are not multiples of 4: rmsnorm (strided, every weight kind), add, siluMul,
// copy, concat, embedding, rope (interleaved and half-split), latentCacheWrite, softmax, cross-entropy and the MoE
// dispatch; on both builds, 1 thread and 2 threads with every call split. And the forward pass uses no reference
// kernel but route. Leaves out attention (wasm-ops-attention.test.ts) and speed (bench/model.ts).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { empty, f32, fromF32, fromI32, type Tensor } from '../../src/tensor/tensor.js';
import { Rng } from '../../src/util/random.js';
import { refBackend } from '../../src/kernels/ref/index.js';
import { softmaxForward, crossEntropyForward } from '../../src/kernels/ref/loss.js';
import type { RopeSpec } from '../../src/model/rope.js';
import type { Backend, ExpertBank } from '../../src/kernels/backend.js';
import { Heap } from '../../src/tensor/heap.js';
import { createWasmBackend } from '../../src/kernels/wasm/backend.js';
import { initCheckpoint } from '../../src/model/init.js';
import { DeepSeekModel } from '../../src/model/transformer.js';
import { scoreTokens } from '../../src/generate/score.js';
import { rand, randWeight, assertClose, eachBackend, WEIGHT_KINDS } from './wasm-ops-fixtures.js';

const TOL = 2e-6;
const copyOf = (t: Tensor) => f32(t).slice();

test('rmsnorm agrees with the reference: strided rows, odd widths, f32/bf16/e4m3 weights', async () => {
  await eachBackend((heap, k, label) => {
    const r = new Rng(1);
    for (const D of [1, 5, 8, 67, 130]) for (const T of [1, 3, 9]) for (const kind of WEIGHT_KINDS) {
      const xStride = D + (T % 2) * 3, outStride = D + 1;
      const x = rand(heap, [T, xStride], r, 3), w = randWeight(heap, kind, 1, D, r);
      const want = rand(heap, [T, outStride], r), got = empty(heap, [T, outStride]);
      f32(got).set(f32(want)); // columns past D must stay as they were
      refBackend.rmsnorm(want, x, w, T, D, 1e-6, xStride, outStride);
      k.rmsnorm(got, x, w, T, D, 1e-6, xStride, outStride);
      assertClose(f32(got), f32(want), TOL, `${label} rmsnorm ${kind} T=${T} D=${D}`);
      // In place (out = x), as q_a_layernorm runs.
      const y = rand(heap, [T, D], r), yRef = empty(heap, [T, D]);
      refBackend.rmsnorm(yRef, y, w, T, D, 1e-6);
      k.rmsnorm(y, y, w, T, D, 1e-6);
      assertClose(f32(y), f32(yRef), TOL, `${label} rmsnorm in place ${kind} T=${T} D=${D}`);
    }
  });
});

test('add, siluMul, copy and concat agree with the reference on odd lengths (large |gate| included)', async () => {
  await eachBackend((heap, k, label) => {
    const r = new Rng(2);
    for (const n of [1, 3, 4, 7, 33, 1001]) {
      const a = rand(heap, [n], r, 120), b = rand(heap, [n], r), want = empty(heap, [n]), got = empty(heap, [n]);
      refBackend.add(want, a, b, n); k.add(got, a, b, n);
      assertClose(f32(got), f32(want), 0, `${label} add n=${n}`);
      refBackend.siluMul(want, a, b, n); k.siluMul(got, a, b, n);
      assertClose(f32(got), f32(want), TOL, `${label} siluMul n=${n}`);
      const aliased = empty(heap, [n]);
      f32(aliased).set(f32(a));
      k.siluMul(aliased, aliased, b, n); // out = gate, as swigluForward calls it
      assertClose(f32(aliased), f32(want), TOL, `${label} siluMul in place n=${n}`);
      k.copy(got, a, n);
      assertClose(f32(got), f32(a), 0, `${label} copy n=${n}`);
    }
    // Overlapping copy (a memmove): src and out shifted by 3 elements within one buffer.
    const buf = rand(heap, [100], r), ref = f32(buf).slice();
    k.copy({ ...buf, ptr: buf.ptr + 12, shape: [97], owner: false }, { ...buf, shape: [97], owner: false }, 97);
    assertClose(f32(buf).subarray(3), ref.subarray(0, 97), 0, `${label} overlapping copy`);
    for (const [T, A, B] of [[1, 1, 1], [5, 3, 7], [4, 64, 64]]) {
      const a = rand(heap, [T, A], r), b = rand(heap, [T, B], r), want = empty(heap, [T, A + B]), got = empty(heap, [T, A + B]);
      refBackend.concat(want, a, b, T, A, B); k.concat(got, a, b, T, A, B);
      assertClose(f32(got), f32(want), 0, `${label} concat ${T}×(${A}+${B})`);
    }
  });
});

test('embedding gathers f32/bf16/e4m3 rows like the reference and rejects ids outside the vocabulary', async () => {
  await eachBackend((heap, k, label) => {
    const r = new Rng(3);
    for (const kind of WEIGHT_KINDS) for (const D of [1, 6, 37]) {
      const V = 23, T = 11, table = randWeight(heap, kind, V, D, r);
      const ids = fromI32(heap, Array.from({ length: T }, () => r.nextU32() % V));
      const want = empty(heap, [T, D]), got = empty(heap, [T, D]);
      refBackend.embedding(want, ids, table, T, D); k.embedding(got, ids, table, T, D);
      assertClose(f32(got), f32(want), 0, `${label} embedding ${kind} D=${D}`);
      assert.throws(() => k.embedding(got, fromI32(heap, [0, V]), table, 2, D), /token id 23 at position 1 is outside the vocabulary/, 'bad id');
    }
  });
});

function ropeSpecFor(dr: number, interleaved: boolean): RopeSpec {
  const invFreq = Float64Array.from({ length: dr / 2 }, (_, i) => 1 / Math.pow(10000, (2 * i) / dr) / (i % 3 === 2 ? 4 : 1));
  return { invFreq, mscale: 1.25, interleaved };
}

test('rope (interleaved and half-split) and latentCacheWrite agree with the reference, far positions included', async () => {
  await eachBackend((heap, k, label) => {
    const r = new Rng(4);
    for (const interleaved of [true, false]) for (const dr of [2, 6, 8, 10, 16, 64]) {
      const spec = ropeSpecFor(dr, interleaved);
      const T = 7, H = 3, dn = 5, stride = dn + dr;
      const positions = fromI32(heap, Array.from({ length: T }, (_, i) => (i === 0 ? 0 : r.nextU32() % 20000)));
      const x = rand(heap, [T, H * stride], r), want = copyOf(x);
      const xr = empty(heap, [T, H * stride]);
      f32(xr).set(want);
      refBackend.rope(xr, positions, spec, T, H, stride, dn, dr);
      k.rope(x, positions, spec, T, H, stride, dn, dr);
      assertClose(f32(x), f32(xr), 1e-5, `${label} rope ${interleaved ? 'interleaved' : 'half-split'} dr=${dr}`);
      // The cache append: rows scattered in a bigger pool, the other rows untouched.
      for (const kind of WEIGHT_KINDS) {
        const R = 13, W = R + dr, poolRows = 20;
        const kva = rand(heap, [T, W], r, 2), w = randWeight(heap, kind, 1, R, r);
        const rows = fromI32(heap, [4, 0, 19, 7, 8, 12, 1]);
        const pw = rand(heap, [poolRows, W], r), pg = empty(heap, [poolRows, W]);
        f32(pg).set(f32(pw));
        refBackend.latentCacheWrite(pw, rows, kva, positions, w, 1e-6, spec, T, R, dr);
        k.latentCacheWrite(pg, rows, kva, positions, w, 1e-6, spec, T, R, dr);
        assertClose(f32(pg), f32(pw), 1e-5, `${label} latentCacheWrite ${kind} dr=${dr} ${interleaved ? 'interleaved' : 'half-split'}`);
      }
    }
    const spec = ropeSpecFor(8, true), pool = empty(heap, [4, 16]), kva = empty(heap, [1, 16]);
    assert.throws(() => k.latentCacheWrite(pool, fromI32(heap, [4]), kva, fromI32(heap, [0]), randWeight(heap, 'f32', 1, 8, r), 1e-6, spec, 1, 8, 8),
      /latent cache: row 4 outside the pool of 4 rows/, 'bad cache row');
  });
});

test('softmax and cross-entropy (training forwards) agree with ref/loss.ts, large logits and ignored targets included', async () => {
  await eachBackend((heap, k, label) => {
    const r = new Rng(5);
    for (const V of [1, 5, 130, 1003]) {
      const T = 6, x = rand(heap, [T, V], r, 40);
      const want = empty(heap, [T, V]), got = empty(heap, [T, V]);
      softmaxForward(want, x, T, V); k.softmaxForward(got, x, T, V);
      assertClose(f32(got), f32(want), 1e-6, `${label} softmax V=${V}`);
      k.softmaxForward(x, x, T, V); // in place
      assertClose(f32(x), f32(want), 1e-6, `${label} softmax in place V=${V}`);
      const z = rand(heap, [T, V], r, 40);
      const targets = fromI32(heap, Array.from({ length: T }, (_, t) => (t === 2 ? -1 : r.nextU32() % V)));
      const lw = empty(heap, [T]), lg = empty(heap, [T]);
      f32(lg).fill(Number.NaN);
      crossEntropyForward(lw, z, targets, T, V); k.crossEntropyForward(lg, z, targets, T, V);
      assertClose(f32(lg), f32(lw), 2e-6, `${label} cross-entropy V=${V}`);
      assert.equal(f32(lg)[2], 0, 'ignored target gives 0');
    }
    const z = rand(heap, [1, 4], r);
    assert.throws(() => k.crossEntropyForward(empty(heap, [1]), z, fromI32(heap, [4]), 1, 4), /target 4 at position 0/, 'bad target');
  });
});

test('moe dispatch (gather, grouped experts, weighted combine) agrees with the reference; idle experts included', async () => {
  await eachBackend((heap, k, label) => {
    const r = new Rng(6);
    for (const kind of ['f32', 'bf16', 'e4m3/16'] as const) for (const [T, K] of [[1, 2], [5, 3], [13, 2]]) {
      const E = 6, D = 19, I = 10;
      const bank: ExpertBank = {
        gate: Array.from({ length: E }, () => randWeight(heap, kind, I, D, r)),
        up: Array.from({ length: E }, () => randWeight(heap, kind, I, D, r)),
        down: Array.from({ length: E }, () => randWeight(heap, kind, D, I, r)),
      };
      // Distinct experts per token, never expert 5 (an idle one).
      const ex: number[] = [];
      for (let t = 0; t < T; t++) { const first = r.nextU32() % 5; for (let j = 0; j < K; j++) ex.push((first + j) % 5); }
      const experts = fromI32(heap, ex), weights = rand(heap, [T, K], r);
      const x = rand(heap, [T, D], r), want = empty(heap, [T, D]), got = empty(heap, [T, D]);
      refBackend.moe(want, x, experts, weights, bank, T, D, I, K);
      k.moe(got, x, experts, weights, bank, T, D, I, K);
      assertClose(f32(got), f32(want), 1e-5, `${label} moe ${kind} T=${T} K=${K}`);
    }
  });
});

test('moe of one token (the decode path, no gather) gives that token\'s row of a grouped call bit for bit', async () => {
  await eachBackend((heap, k, label) => {
    const r = new Rng(9);
    for (const kind of ['f32', 'bf16', 'e4m3/16'] as const) {
      const E = 6, D = 21, I = 11, K = 3, T = 4;
      const bank: ExpertBank = {
        gate: Array.from({ length: E }, () => randWeight(heap, kind, I, D, r)),
        up: Array.from({ length: E }, () => randWeight(heap, kind, I, D, r)),
        down: Array.from({ length: E }, () => randWeight(heap, kind, D, I, r)),
      };
      // Tokens share experts, so the grouped call runs some experts on several rows.
      const ex = [4, 1, 2, 1, 2, 0, 2, 5, 1, 3, 1, 4];
      const experts = fromI32(heap, ex), weights = rand(heap, [T, K], r), x = rand(heap, [T, D], r);
      const grouped = empty(heap, [T, D]);
      k.moe(grouped, x, experts, weights, bank, T, D, I, K);
      for (let t = 0; t < T; t++) {
        const one = empty(heap, [1, D]);
        const xt = fromF32(heap, f32(x).slice(t * D, (t + 1) * D), [1, D]), wt = fromF32(heap, f32(weights).slice(t * K, (t + 1) * K), [1, K]);
        k.moe(one, xt, fromI32(heap, ex.slice(t * K, (t + 1) * K)), wt, bank, 1, D, I, K);
        assert.deepEqual(Array.from(f32(one)), Array.from(f32(grouped).slice(t * D, (t + 1) * D)), `${label} ${kind} token ${t}`);
      }
    }
  });
});

test('the wasm forward pass (prefill, decode, MTP) calls no reference kernel', async () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'qiusuo-wasm-ops-'));
  const calls = new Map<string, number>();
  const saved = { ...refBackend };
  const ref = refBackend as unknown as Record<string, unknown>;
  for (const [name, fn] of Object.entries(saved)) {
    if (typeof fn !== 'function') continue;
    ref[name] = (...args: unknown[]) => { calls.set(name, (calls.get(name) ?? 0) + 1); return (fn as (...a: unknown[]) => unknown)(...args); };
  }
  try {
    const h = new Heap(1 << 16), one = fromF32(h, [1], [1]);
    refBackend.add(one, one, one, 1);
    assert.deepEqual([...calls], [['add', 1]], 'the counter works');
    calls.clear();
    for (const dtype of ['f32', 'bf16', 'fp8'] as const) {
      const dir = path.join(tmp, dtype);
      initCheckpoint({ preset: 'tiny', seed: 1, dtype, out: dir });
      const heap = new Heap();
      const backend: Backend = createWasmBackend(heap, { threads: 2 });
      const model = DeepSeekModel.load(dir, { backend, heap });
      try {
        scoreTokens(model, [1, 2, 3, 4, 5, 6], { mtp: true });
        scoreTokens(model, [1, 2, 3, 4, 5, 6], { mtp: true, decode: true });
      } finally {
        await model.dispose();
        await backend.close?.();
      }
      assert.deepEqual([...calls.keys()], [], `${dtype}: reference kernels called: ${[...calls.entries()].map(([n, c]) => `${n}×${c}`).join(', ')}`);
    }
  } finally {
    Object.assign(ref, saved);
    fs.rmSync(tmp, { recursive: true, force: true });
  }
});
