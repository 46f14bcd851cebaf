// The f32x4 multiply-add ceiling of this machine for a number of threads: every pool thread runs peak.as's ten
// register-only chains at once, timed round after round after a warm-up (the JIT's tier-up, worker start). Used by
// the trainer (MFU against the ceiling) and bench/fma-peak.ts. Leaves out memory traffic: that is bench/matmul.ts.

import { Heap } from '../tensor/heap.js';
import { createWasmBackend } from '../kernels/wasm/backend.js';
import type { WasmFlavour } from '../kernels/wasm/loader.js';

export interface FmaPeakOptions {
  threads?: number;        // default: all cores
  flavour?: WasmFlavour;   // default: relaxed where available (fused multiply-add); simd times a mul and an add
  minMs?: number;          // keep timing rounds until this much time has been spent (default 300)
  minRounds?: number;      // and at least this many rounds (default 5)
}

export interface FmaPeakResult {
  /** The best round: the ceiling (a busy or throttled host only ever lowers a round). */
  gflops: number;
  /** GFLOP/s of every timed round, in order. */
  rounds: number[];
  threads: number;
  flavour: WasmFlavour;
}

const CHAINS = 10, FLOPS_PER_MADD = 8;     // f32x4: four lanes, a multiply and an add each
// Per thread per round: 40 MFLOP. Short rounds, many of them: on a busy machine a short round is the likelier to run
// whole on an idle core, and the best round is the figure.
const ITERATIONS = 500_000;
const WARMUP_ITERATIONS = 100_000, WARMUP_MS = 100;

export async function benchFmaPeak(o: FmaPeakOptions = {}): Promise<FmaPeakResult> {
  const heap = new Heap(1 << 20);
  const backend = createWasmBackend(heap, { threads: o.threads, flavour: o.flavour });
  try {
    const threads = backend.threads;
    const round = (n: number, seed: number) => backend.run('fmaChains', [n, seed, backend.scratch, backend.scratchBytes], threads, 1);
    // Warm-up in short calls: wasm code tiers up between calls, never inside one.
    for (let t0 = performance.now(), i = 0; performance.now() - t0 < WARMUP_MS; i++) round(WARMUP_ITERATIONS, i);
    const rounds: number[] = [];
    const minMs = o.minMs ?? 300, minRounds = o.minRounds ?? 5;
    for (let total = 0; rounds.length < minRounds || total < minMs;) {
      const t0 = performance.now();
      round(ITERATIONS, rounds.length);
      const ms = performance.now() - t0;
      total += ms;
      rounds.push((threads * ITERATIONS * CHAINS * FLOPS_PER_MADD) / (ms * 1e6));
    }
    return { gflops: Math.max(...rounds), rounds, threads, flavour: backend.flavour };
  } finally {
    await backend.close();
  }
}
