// Latent decode attention benchmark: one decode step's attention over the latent cache (scores against every cached
// row, softmax, the weighted sum of latent rows) for the `small` preset's shape and DeepSeek-V3's (128 heads, rank
// 512, rope 64), on 1 and 2 threads. For each, the backend's choice and the flash form (4 heads per pass over the
// cache) are timed alternately, 9 rounds, median: the GEMM form (12 heads per register tile, the cache read once per
// item) takes over from 12 heads up. Writes bench/results/attention.json.

import * as fs from 'node:fs';
import * as os from 'node:os';
import { Heap } from '../src/tensor/heap.js';
import { empty, f32, fromI32 } from '../src/tensor/tensor.js';
import { createWasmBackend } from '../src/kernels/wasm/backend.js';
import { Rng } from '../src/util/random.js';
import { stealMeter } from './steal.js';

interface Shape { name: string; B: number; H: number; R: number; dr: number; dn: number; L: number }
const SHAPES: Shape[] = [
  { name: 'small', B: 16, H: 8, R: 160, dr: 16, dn: 32, L: 256 },
  { name: 'deepseek-v3', B: 1, H: 128, R: 512, dr: 64, dn: 128, L: 4096 },
  { name: 'deepseek-v3', B: 8, H: 128, R: 512, dr: 64, dn: 128, L: 512 },
];
const ROUNDS = 9;

interface Row { shape: string; B: number; H: number; R: number; dr: number; cached: number; threads: number; msChosen: number; msFlash: number; gflopsChosen: number; gflopsFlash: number }

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[(xs.length - 1) >> 1];
const rows: Row[] = [];
const steal = stealMeter();
for (const threads of [1, 2]) {
  const heap = new Heap(256 << 20);
  const k = createWasmBackend(heap, { threads });
  try {
    for (const { name, B, H, R, dr, dn, L } of SHAPES) {
      const r = new Rng(5), W = R + dr;
      const fill = (t: ReturnType<typeof empty>) => { f32(t).forEach((_, i, a) => { a[i] = r.uniform() * 2 - 1; }); return t; };
      const pool = fill(empty(heap, [B * L, W])), qLat = fill(empty(heap, [B, H * R])), q = fill(empty(heap, [B, H * (dn + dr)]));
      const ctx = empty(heap, [B, H * R]);
      const cache = { start: fromI32(heap, Array.from({ length: B }, (_, b) => b * L)), length: fromI32(heap, Array(B).fill(L)) };
      const scale = 1 / Math.sqrt(dn + dr);
      const chosen = () => k.mlaLatentAttention(ctx, qLat, q, pool, cache, B, H, dn, dr, R, scale);
      const flash = () => k.run('mlaFlashDecode', [ctx.ptr, qLat.ptr, q.ptr, pool.ptr, cache.start.ptr, cache.length.ptr, H, dn, dr, R, scale,
        k.scratch, k.scratchBytes], B * Math.ceil(H / 4), 1);
      const flop = 2 * B * H * L * (W + R), reps = Math.max(1, Math.round(1e8 / flop));
      const time = (f: () => void) => { const t0 = performance.now(); for (let i = 0; i < reps; i++) f(); return (performance.now() - t0) / reps; };
      time(chosen); time(flash);
      const a: number[] = [], b: number[] = [];
      for (let i = 0; i < ROUNDS; i++) { a.push(time(chosen)); b.push(time(flash)); }
      const msChosen = median(a), msFlash = median(b);
      rows.push({ shape: name, B, H, R, dr, cached: L, threads, msChosen, msFlash, gflopsChosen: flop / msChosen / 1e6, gflopsFlash: flop / msFlash / 1e6 });
      console.log(`${name.padEnd(12)} B=${B} H=${H} cached ${L} ×${threads}: chosen ${msChosen.toFixed(3)} ms (${(flop / msChosen / 1e6).toFixed(1)} GFLOP/s), `
        + `flash form ${msFlash.toFixed(3)} ms (${(flop / msFlash / 1e6).toFixed(1)})`);
    }
  } finally {
    await k.close();
  }
}
fs.mkdirSync('bench/results', { recursive: true });
fs.writeFileSync('bench/results/attention.json', JSON.stringify({
  machine: os.cpus()[0]?.model, cores: os.cpus().length, node: process.version, date: new Date().toISOString(), rounds: ROUNDS,
  stealPercent: steal(), results: rows,
}, null, 2) + '\n');
