// matmulLowAcc A/B of two kernel builds in one process: each a folder holding kernels-<flavour>.wasm, instantiated on
// its own memory and called directly on one thread (the kernel alone, no backend or workers), timed in alternation
// round after round so the shared machine's drift touches both alike. Shape: the model's largest forward matmul as in
// bench/train-low-acc.ts (x [1024, 128]·W [384, 128]ᵀ). Prints each side's median ms and GFLOP/s and B's speed-up over
// A (the median of each round's ratio); writes bench/results/low-acc-ab.json.
//   node --import tsx bench/low-acc-ab.ts A_DIR B_DIR     (FLAVOUR=relaxed|simd, ROUNDS=15 by default)
// e.g. the wasm kept before a kernel change (`cp dist/kernels/wasm/*.wasm /tmp/base`) against dist/kernels/wasm.

import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { defaultFlavour, relaxedSimdSupported } from '../src/kernels/wasm/loader.js';
import { writeJsonAtomically } from '../src/weights/safetensors.js';

const [dirA, dirB] = process.argv.slice(2);
if (!dirB) throw new Error('usage: low-acc-ab.ts A_DIR B_DIR');
relaxedSimdSupported(); // turns on relaxed SIMD in Node 20 before a relaxed module is compiled
const flavour = process.env.FLAVOUR ?? defaultFlavour(), rounds = Number(process.env.ROUNDS ?? 15);
const T = 1024, C = 128, OC = 384, REPS = 10;

/** One build's kernel on its own memory, with x, W and out placed after its scratch. */
function side(dir: string) {
  const memory = new WebAssembly.Memory({ initial: 256, maximum: 256, shared: true }); // 16 MiB
  const mod = new WebAssembly.Module(fs.readFileSync(path.join(dir, `kernels-${flavour}.wasm`)));
  const k = new WebAssembly.Instance(mod, { env: { memory } }).exports as Record<string, (...a: number[]) => number>;
  const scratch = 1 << 20, scratchBytes = k.lowAccScratchBytes(), x = 4 << 20, w = x + T * C * 4, out = w + OC * C * 4;
  const f = new Float32Array(memory.buffer);
  for (let i = 0; i < T * C; i++) f[x / 4 + i] = Math.sin(i);
  for (let i = 0; i < OC * C; i++) f[w / 4 + i] = Math.cos(i);
  return () => k.matmulLowAcc(out, x, w, T, OC, C, scratch, scratchBytes, 0, OC, 0);
}

const sides = [side(dirA), side(dirB)], times: number[][] = [[], []];
const median = (xs: number[]) => [...xs].sort((p, q) => p - q)[xs.length >> 1];
for (let r = 0; r < rounds; r++) {
  sides.forEach((run, s) => {
    run(); // warm
    const t0 = performance.now();
    for (let q = 0; q < REPS; q++) run();
    times[s].push((performance.now() - t0) / REPS);
  });
}
const gflops = (ms: number) => (2 * T * C * OC) / ms / 1e6;
const [a, b] = times.map(median), speedup = median(times[0].map((t, i) => t / times[1][i]));
console.log(`${flavour}, 1 thread, ${T}×${C}·${OC}: A ${a.toFixed(2)} ms (${gflops(a).toFixed(1)} GFLOP/s), B ${b.toFixed(2)} ms (${gflops(b).toFixed(1)} GFLOP/s), B/A speed-up ${speedup.toFixed(2)}×`);
fs.mkdirSync('bench/results', { recursive: true });
writeJsonAtomically('bench/results/low-acc-ab.json', {
  machine: os.cpus()[0]?.model, cores: os.cpus().length, node: process.version, date: new Date().toISOString(),
  flavour, threads: 1, shape: { T, C, OC }, rounds, a: { dir: dirA, medianMs: a, gflops: gflops(a) },
  b: { dir: dirB, medianMs: b, gflops: gflops(b) }, speedupMedianOfRatios: speedup, loadAverage: os.loadavg(),
});
