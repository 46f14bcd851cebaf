// The ceiling every f32 kernel here is measured against: the f32x4 multiply-add peak of one thread and of two, from
// peak.as's ten register-only chains (no memory traffic) in the shipped kernel module — the same measurement the
// trainer makes at start-up for its MFU. Writes bench/results/fma-peak.json. Without relaxed SIMD the module's
// multiply-add is a mul and an add, and the figure says so (flavour simd).

import * as fs from 'node:fs';
import * as os from 'node:os';
import { benchFmaPeak } from '../src/bench/fma-peak.js';
import { stealMeter } from './steal.js';

const MIN_MS = 1000;
const steal = stealMeter();
const results = [];
for (const threads of [1, 2]) {
  const r = await benchFmaPeak({ threads, minMs: MIN_MS });
  const sorted = [...r.rounds].sort((a, b) => a - b);
  const median = sorted[(sorted.length - 1) >> 1];
  results.push({ threads, flavour: r.flavour, gflops: r.gflops, medianGflops: median, rounds: r.rounds.length });
  console.log(`${threads} thread${threads > 1 ? 's' : ''}, ${r.flavour}: f32x4 multiply-add ceiling ${r.gflops.toFixed(1)} GFLOP/s (best of ${r.rounds.length} rounds; median ${median.toFixed(1)})`);
}
fs.mkdirSync('bench/results', { recursive: true });
fs.writeFileSync('bench/results/fma-peak.json', JSON.stringify({
  machine: os.cpus()[0]?.model, cores: os.cpus().length, node: process.version, date: new Date().toISOString(), chains: 10, results, stealPercent: steal(),
}, null, 2) + '\n');
