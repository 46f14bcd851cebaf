// Two-thread scaling of a whole forward pass on the `small` preset: a 256-token prefill (with its logits) and a
// decode step, each timed on a 1-thread and a 2-thread model loaded side by side in ONE process and run alternately,
// round after round (which goes first alternates). This VM switches between fast and slow phases lasting seconds,
// so separate runs — or each configuration's best time over a run — compare different phases; a round is far
// shorter (BENCHMARKS.md gives its length), so its ratio compares like with like, and the median of the rounds'
// ratios is the figure. Writes bench/results/scaling.json.

import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { initCheckpoint } from '../src/model/init.js';
import { DeepSeekModel } from '../src/model/transformer.js';
import { Scope } from '../src/tensor/tensor.js';
import { stealMeter } from './steal.js';

const PROMPT = 256, DECODE_STEPS = 32, ROUNDS = 15, REPS = 1;

interface Round { prefillMs: [number, number]; decodeMs: [number, number]; prefillRatio: number; decodeRatio: number; stealPercent: number | null }

/** Best prefill time and best mean decode-step time of `model` over REPS repetitions. */
function measure(model: DeepSeekModel, prompt: number[]): [number, number] {
  let prefill = Infinity, decode = Infinity;
  for (let r = 0; r < REPS; r++) {
    const cache = model.newCache(1, PROMPT + DECODE_STEPS);
    const slot = cache.acquire();
    const s = new Scope(model.ctx.heap);
    let t0 = performance.now();
    model.logits(s, model.prefill(s, prompt, cache, slot), PROMPT);
    prefill = Math.min(prefill, performance.now() - t0);
    s.release();
    t0 = performance.now();
    for (let i = 0; i < DECODE_STEPS; i++) {
      const d = new Scope(model.ctx.heap);
      model.logits(d, model.decode(d, [prompt[i]], cache, [slot]), 1);
      d.release();
    }
    decode = Math.min(decode, (performance.now() - t0) / DECODE_STEPS);
    cache.dispose();
  }
  return [prefill, decode];
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[(xs.length - 1) >> 1];

export async function runScalingBench(): Promise<{ rounds: Round[]; stealPercent: number | null }> {
  const steal = stealMeter();
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'qiusuo-bench-scaling-'));
  try {
    const dir = path.join(tmp, 'small');
    const cfg = initCheckpoint({ preset: 'small', out: dir, dtype: 'f32', seed: 0 });
    const prompt = Array.from({ length: PROMPT }, (_, i) => (i * 37) % cfg.vocabSize);
    const models = [1, 2].map((threads) => DeepSeekModel.load(dir, { kernels: 'wasm', threads }));
    try {
      for (const m of models) measure(m, prompt); // warm-up: JIT, workers
      const rounds: Round[] = [];
      for (let r = 0; r < ROUNDS; r++) {
        const times: [number, number][] = [];
        const steal = stealMeter();
        for (const m of r % 2 === 0 ? [0, 1] : [1, 0]) times[m] = measure(models[m], prompt);
        const [one, two] = times;
        const stealPercent = steal();
        rounds.push({ prefillMs: [one[0], two[0]], decodeMs: [one[1], two[1]], prefillRatio: one[0] / two[0], decodeRatio: one[1] / two[1], stealPercent });
        console.log(`round ${r + 1}: prefill ${one[0].toFixed(1)} / ${two[0].toFixed(1)} ms = ${(one[0] / two[0]).toFixed(2)}×, `
          + `decode step ${one[1].toFixed(2)} / ${two[1].toFixed(2)} ms = ${(one[1] / two[1]).toFixed(2)}×, host steal ${stealPercent?.toFixed(1) ?? '?'}%`);
      }
      return { rounds, stealPercent: steal() };
    } finally {
      for (const m of models) await m.dispose();
    }
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { rounds, stealPercent } = await runScalingBench();
  const prefill = median(rounds.map((r) => r.prefillRatio)), decode = median(rounds.map((r) => r.decodeRatio));
  const spread = (f: (r: Round) => number): [number, number] => [Math.min(...rounds.map(f)), Math.max(...rounds.map(f))];
  console.log(`two-thread speedup, median of ${rounds.length} rounds: prefill ${prefill.toFixed(2)}×, decode ${decode.toFixed(2)}× (target ≥ 1.7×); host steal ${stealPercent?.toFixed(1) ?? '?'}%`);
  fs.mkdirSync('bench/results', { recursive: true });
  fs.writeFileSync('bench/results/scaling.json', JSON.stringify({
    machine: os.cpus()[0]?.model, cores: os.cpus().length, node: process.version, date: new Date().toISOString(),
    preset: 'small', promptTokens: PROMPT, decodeSteps: DECODE_STEPS, stealPercent, rounds,
    speedupPrefill: prefill, speedupDecode: decode, rangePrefill: spread((r) => r.prefillRatio), rangeDecode: spread((r) => r.decodeRatio),
  }, null, 2) + '\n');
}
