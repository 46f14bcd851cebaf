// The ceiling every f32 kernel here is measured against: one thread's WebAssembly 128-bit fused multiply-add peak on
// this machine, from a loop of ten independent relaxed_madd chains on registers (no memory traffic), compiled from
// the AssemblyScript below at run time. Writes bench/results/fma-peak.json. Needs relaxed SIMD (Node 20: behind a flag
// that loader.ts turns on); without it there is no FMA to measure and the figure is null.

import * as fs from 'node:fs';
import * as os from 'node:os';
import asc from 'assemblyscript/asc';
import { relaxedSimdSupported } from '../src/kernels/wasm/loader.js';
import { stealMeter } from './steal.js';

const SOURCE = `
export function fmaChains(n: i32, seed: f32): f32 {
  let a0 = f32x4.splat(seed), a1 = f32x4.splat(seed + 1), a2 = f32x4.splat(seed + 2), a3 = f32x4.splat(seed + 3);
  let a4 = f32x4.splat(seed + 4), a5 = f32x4.splat(seed + 5), a6 = f32x4.splat(seed + 6), a7 = f32x4.splat(seed + 7);
  let a8 = f32x4.splat(seed + 8), a9 = f32x4.splat(seed + 9);
  const m = f32x4.splat(0.999999), c = f32x4.splat(0.000001);
  for (let i = 0; i < n; i++) {
    a0 = f32x4.relaxed_madd(a0, m, c); a1 = f32x4.relaxed_madd(a1, m, c); a2 = f32x4.relaxed_madd(a2, m, c);
    a3 = f32x4.relaxed_madd(a3, m, c); a4 = f32x4.relaxed_madd(a4, m, c); a5 = f32x4.relaxed_madd(a5, m, c);
    a6 = f32x4.relaxed_madd(a6, m, c); a7 = f32x4.relaxed_madd(a7, m, c); a8 = f32x4.relaxed_madd(a8, m, c);
    a9 = f32x4.relaxed_madd(a9, m, c);
  }
  const s = f32x4.add(f32x4.add(f32x4.add(a0, a1), f32x4.add(a2, a3)), f32x4.add(f32x4.add(a4, a5), f32x4.add(a6, a7)));
  return f32x4.extract_lane(f32x4.add(s, f32x4.add(a8, a9)), 0);
}
`;
const CHAINS = 10, ITERATIONS = 20_000_000, ROUNDS = 9;

export async function fmaPeakGflops(): Promise<number[] | null> {
  if (!relaxedSimdSupported()) return null;
  const { binary, error, stderr } = await asc.compileString(SOURCE, { optimizeLevel: 3, runtime: 'stub', enable: ['simd', 'relaxed-simd'] });
  if (error || !binary) throw new Error(`fma-peak: AssemblyScript failed: ${error?.message ?? ''} ${stderr.toString()}`);
  const { fmaChains } = new WebAssembly.Instance(new WebAssembly.Module(binary), {}).exports as { fmaChains: (n: number, seed: number) => number };
  fmaChains(ITERATIONS / 20, 1); // tier up
  return Array.from({ length: ROUNDS }, (_, r) => {
    const t0 = performance.now();
    fmaChains(ITERATIONS, r);
    return (ITERATIONS * CHAINS * 8) / ((performance.now() - t0) * 1e6);
  });
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const steal = stealMeter();
  const rounds = await fmaPeakGflops();
  const sorted = rounds ? [...rounds].sort((a, b) => a - b) : null;
  const median = sorted ? sorted[(sorted.length - 1) >> 1] : null;
  console.log(rounds ? `one thread's f32x4 FMA peak: median ${median!.toFixed(1)} GFLOP/s (rounds ${rounds.map((g) => g.toFixed(1)).join(', ')})` : 'no relaxed SIMD: no FMA peak');
  fs.mkdirSync('bench/results', { recursive: true });
  fs.writeFileSync('bench/results/fma-peak.json', JSON.stringify({
    machine: os.cpus()[0]?.model, cores: os.cpus().length, node: process.version, date: new Date().toISOString(),
    chains: CHAINS, iterations: ITERATIONS, rounds, medianGflops: median, stealPercent: steal(),
  }, null, 2) + '\n');
}
