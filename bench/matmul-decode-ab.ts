// Decode matmul (T = 1) A/B of two builds in one process: each a dist/ folder, its own heap and wasm backend, timed in
// alternation round after round on the same shapes as matmul-decode.ts (2048 × 1408·3 in cache, 2048 × 57344 from
// memory), so the shared machine's drift touches both alike. Prints GB/s of weight bytes per side (median over the
// rounds) and B's speed-up over A, the median of each round's ratio (the robust figure).
//   node --import tsx bench/matmul-decode-ab.ts A_DIST B_DIST     (THREADS=2, ROUNDS=9, DTYPES=q8_0,q4_0 by default)
// e.g. a build kept before a kernel change (`cp -r dist /tmp/base`) against the current one: `... /tmp/base dist`.

import * as path from 'node:path';
import { pathToFileURL } from 'node:url';

const [distA, distB] = process.argv.slice(2);
if (!distB) throw new Error('usage: matmul-decode-ab.ts A_DIST B_DIST');
const threads = Number(process.env.THREADS ?? 2), rounds = Number(process.env.ROUNDS ?? 9);
const dtypes = (process.env.DTYPES ?? 'q8_0,q4_0').split(',');

/** One build's modules (their types are the build's own, so `any` here). */
async function build(dist: string): Promise<any> {
  const from = (m: string) => import(pathToFileURL(path.resolve(dist, m)).href);
  const mods = await Promise.all(['tensor/heap.js', 'tensor/tensor.js', 'kernels/wasm/backend.js', 'bench/matmul.js', 'util/random.js'].map(from));
  return Object.assign({}, ...mods);
}

const builds = [await build(distA), await build(distB)];
const median = (xs: number[]) => [...xs].sort((p, q) => p - q)[xs.length >> 1];
for (const [C, OC] of [[2048, 1408 * 3], [2048, 57344]]) {
  const sides = builds.map((M) => {
    const heap = new M.Heap(dtypes.reduce((a, d) => a + M.weightBytes(d, OC, C), 0) + (C + OC) * 4 + (64 << 20));
    const k = M.createWasmBackend(heap, { threads });
    const rng = new M.Rng(7);
    const x = M.empty(heap, [1, C]), out = M.empty(heap, [1, OC]);
    M.f32(x).forEach((_: number, i: number, a: Float32Array) => { a[i] = rng.uniform() * 2 - 1; });
    return { k, x, out, ws: dtypes.map((d) => M.randomWeight(heap, d, OC, C, rng)) };
  });
  const times = sides.map(() => dtypes.map((): number[] => []));
  for (let r = 0; r < rounds; r++) {
    dtypes.forEach((dtype, i) => sides.forEach(({ k, x, out, ws }, s) => {
      for (let t0 = performance.now(); performance.now() - t0 < 100;) k.matmul(out, x, ws[i], 1, C, OC); // warm, settle caches
      const reps = Math.max(3, Math.ceil(2e8 / builds[0].weightBytes(dtype, OC, C)));
      const t0 = performance.now();
      for (let q = 0; q < reps; q++) k.matmul(out, x, ws[i], 1, C, OC);
      times[s][i].push((performance.now() - t0) / reps);
    }));
  }
  dtypes.forEach((dtype, i) => {
    const bytes = builds[0].weightBytes(dtype, OC, C), gbs = (ms: number) => (bytes / ms / 1e6).toFixed(2);
    const ratio = median(times[0][i].map((t, r) => t / times[1][i][r]));
    console.log(`${dtype.padEnd(5)} C=${C} OC=${OC} ${sides[0].k.name}: A ${gbs(median(times[0][i]))} GB/s, B ${gbs(median(times[1][i]))} GB/s, B over A ${ratio.toFixed(3)}`);
  });
  for (const s of sides) await s.k.close();
}
