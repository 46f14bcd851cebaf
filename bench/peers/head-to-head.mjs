#!/usr/bin/env node
// qiusuo against tfjs-backend-wasm (XNNPACK) on f32 matmul 1024³, one thread, in ONE process with the two
// measurements interleaved round by round. This VM's speed drifts over seconds (the rounds show by how much), so figures from separate
// runs (BENCHMARKS.md's matmul table) can pair a fast moment of one with a slow moment of the other; a round here
// times both within a second of each other, and the median ratio over the rounds is the honest comparison.
//
//   node bench/peers/head-to-head.mjs [--rounds N]     (after `npm run build` and `npm --prefix bench/peers ci`)
// Writes bench/results/head-to-head.json.

import { createRequire } from 'node:module';
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const require = createRequire(path.join(HERE, 'package.json'));
const { benchMatmul } = await import(path.join(HERE, '..', '..', 'dist', 'bench', 'matmul.js'));

const i = process.argv.indexOf('--rounds');
const ROUNDS = i > 0 ? Number(process.argv[i + 1]) : 9;
const N = 1024;
const FLOP = 2 * N * N * N;

const tf = require('@tensorflow/tfjs-core');
const wasm = require('@tensorflow/tfjs-backend-wasm');
wasm.setWasmPaths(path.join(path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm/package.json')), 'dist') + path.sep);
if (!(await tf.setBackend('wasm'))) throw new Error('tfjs: setBackend(wasm) failed');
await tf.ready();
const rand = (n) => Float32Array.from({ length: n }, (_, k) => Math.sin(k * 12.9898) % 1);
const a = tf.tensor2d(rand(N * N), [N, N]), b = tf.tensor2d(rand(N * N), [N, N]);

/** tfjs: best time of a ~300 ms burst of A·B (XNNPACK's path: no transpose), as GFLOP/s. */
function tfjsGflops() {
  for (let k = 0; k < 3; k++) tf.matMul(a, b).dispose();
  let best = Infinity;
  for (let total = 0, k = 0; k < 3 || total < 300; k++) {
    const t0 = performance.now();
    tf.matMul(a, b).dispose();
    const dt = performance.now() - t0;
    best = Math.min(best, dt);
    total += dt;
  }
  return FLOP / best / 1e6;
}

const rounds = [];
for (let r = 0; r < ROUNDS; r++) {
  const ours = (await benchMatmul({ T: N, C: N, OC: N, dtype: 'f32', kernels: 'wasm', threads: 1 })).gflops;
  const theirs = tfjsGflops();
  rounds.push({ qiusuo: +ours.toFixed(2), tfjs: +theirs.toFixed(2), ratio: +(ours / theirs).toFixed(3) });
  console.error(`round ${r + 1}: qiusuo ${ours.toFixed(1)}  tfjs-wasm ${theirs.toFixed(1)} GFLOP/s  ratio ${(ours / theirs).toFixed(2)}`);
}
const sorted = rounds.map((x) => x.ratio).sort((p, q) => p - q);
const median = sorted[(sorted.length - 1) >> 1];
console.error(`median ratio ${median.toFixed(2)} (min ${sorted[0].toFixed(2)}, max ${sorted.at(-1).toFixed(2)})`);
const out = path.join(HERE, '..', 'results', 'head-to-head.json');
mkdirSync(path.dirname(out), { recursive: true });
writeFileSync(out, JSON.stringify({
  machine: os.cpus()[0]?.model, cores: os.cpus().length, node: process.version, date: new Date().toISOString(),
  shape: `${N}³ f32, one thread`, peer: `tfjs-core ${tf.version_core}, backend-wasm ${wasm.version_wasm} (XNNPACK, A·B)`,
  rounds, medianRatio: median,
}, null, 2) + '\n');
