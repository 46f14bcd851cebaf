// The multiply-add ceiling (src/kernels/wasm/peak.as, src/bench/fma-peak.ts): the kernel runs exactly `n`
// iterations per item on every thread (the flop count the ceiling divides by), in both builds; the bench reports its
// best round with the threads and build asked for; and no f32 matmul outruns the ceiling. Leaves out the figure
// itself (bench/fma-peak.ts).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Heap } from '../../src/tensor/heap.js';
import { createWasmBackend } from '../../src/kernels/wasm/backend.js';
import { relaxedSimdSupported, type WasmFlavour } from '../../src/kernels/wasm/loader.js';
import { benchFmaPeak } from '../../src/bench/fma-peak.js';
import { benchMatmul } from '../../src/bench/matmul.js';

const flavours: WasmFlavour[] = relaxedSimdSupported() ? ['simd', 'relaxed'] : ['simd'];
const f = Math.fround;

/** What one thread leaves in its scratch after `iterations` steps of x ← x·m + c on the ten chains (f32; fused or not). */
function expectedSum(seed: number, iterations: number, fused: boolean): number {
  const m = f(0.999999), c = f(0.000001);
  const a = Array.from({ length: 10 }, (_, k) => f(seed + k));
  for (let i = 0; i < iterations; i++) for (let k = 0; k < 10; k++) a[k] = fused ? f(a[k] * m + c) : f(f(a[k] * m) + c);
  const s = f(f(f(a[0] + a[1]) + f(a[2] + a[3])) + f(f(a[4] + a[5]) + f(a[6] + a[7])));
  return f(s + f(a[8] + a[9]));
}

for (const flavour of flavours) {
  for (const threads of [1, 2]) {
    test(`fmaChains (${flavour}, ${threads} thread${threads > 1 ? 's' : ''}) runs n iterations per item on every thread`, async () => {
      const heap = new Heap(1 << 20);
      const backend = createWasmBackend(heap, { threads, flavour });
      try {
        const n = 3000, seed = 0.5, itemsPerThread = 2;
        const view = () => new Float32Array(heap.memory.buffer);
        view().fill(Number.NaN, backend.scratch / 4, (backend.scratch + threads * backend.scratchBytes) / 4);
        backend.run('fmaChains', [n, seed, backend.scratch, backend.scratchBytes], threads * itemsPerThread, itemsPerThread);
        const fused = expectedSum(seed, n * itemsPerThread, true), unfused = expectedSum(seed, n * itemsPerThread, false);
        const short = expectedSum(seed, n, true);
        assert.ok(Math.abs(fused - short) > 1e-3 * Math.abs(fused), 'the check tells n from 2n iterations');
        for (let t = 0; t < threads; t++) {
          const lanes = Array.from(view().subarray((backend.scratch + t * backend.scratchBytes) / 4, (backend.scratch + t * backend.scratchBytes) / 4 + 4));
          for (const got of lanes) {
            const close = (want: number) => Math.abs(got - want) <= 1e-6 * Math.abs(want);
            assert.ok(close(fused) || close(unfused), `thread ${t}: ${got}, want ${fused} (fused) or ${unfused}`);
          }
        }
      } finally {
        await backend.close();
      }
    });
  }
}

test('benchFmaPeak reports its best round with the threads and build asked for', async () => {
  for (const flavour of flavours) {
    const r = await benchFmaPeak({ threads: 2, flavour, minMs: 0, minRounds: 3 });
    assert.equal(r.threads, 2);
    assert.equal(r.flavour, flavour);
    assert.ok(r.rounds.length >= 3, `${r.rounds.length} rounds`);
    assert.ok(r.rounds.every((g) => Number.isFinite(g) && g > 0), `rounds ${r.rounds}`);
    assert.equal(r.gflops, Math.max(...r.rounds));
  }
});

test('no f32 matmul outruns the ceiling (one thread; a fifth of slack for a noisy host)', async () => {
  const flavour = flavours[flavours.length - 1];
  const mm = await benchMatmul({ T: 256, C: 256, OC: 256, dtype: 'f32', kernels: 'wasm', flavour, threads: 1 });
  const peak = await benchFmaPeak({ threads: 1, flavour });
  assert.ok(mm.gflops <= 1.2 * peak.gflops, `matmul ${mm.gflops.toFixed(1)} GFLOP/s vs ceiling ${peak.gflops.toFixed(1)}`);
});
