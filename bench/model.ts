// Model benchmark: prefill and decode tokens/s of random `tiny` and `small` checkpoints at each storage width, on
// the wasm backend with 1 and 2 threads (and the reference kernels once for scale), batch 1 and batched decode,
// plus resident weight bytes per parameter. Writes bench/results/model.json.
// Leaves out: training-step speed (the training milestone adds it).

import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { initCheckpoint } from '../src/model/init.js';
import type { InitDType } from '../src/model/init.js';
import { DeepSeekModel } from '../src/model/transformer.js';
import { modelInfo } from '../src/model/info.js';
import { benchGenerate, benchGenerateMedian } from '../src/bench/generate.js';
import { byteLength } from '../src/tensor/tensor.js';
import type { BackendOptions } from '../src/kernels/select.js';
import { stealMeter } from './steal.js';

interface Row {
  preset: string; dtype: string; backend: string; threads: number; promptTokens: number; batch: number;
  prefillTokS: number; decodeTokS: number; weightMiB: number; bytesPerParam: number;
}

const P = 64, N = 16;
/** Each figure is the median of REPEATS runs (benchGenerateMedian: single runs were up to 10× off here). */
const REPEATS = 7;
const runs: { label: string; opts: BackendOptions; threads: number }[] = [
  { label: 'ref', opts: { kernels: 'ref' }, threads: 1 },
  { label: 'wasm', opts: { kernels: 'wasm', threads: 1 }, threads: 1 },
  { label: 'wasm', opts: { kernels: 'wasm', threads: 2 }, threads: 2 },
];

export async function runModelBench(): Promise<{ rows: Row[]; stealPercent: number | null }> {
  const steal = stealMeter();
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'qiusuo-bench-'));
  const rows: Row[] = [];
  try {
    for (const preset of ['tiny', 'small']) {
      for (const dtype of ['f32', 'bf16', 'fp8'] as InitDType[]) {
        const dir = path.join(tmp, `${preset}-${dtype}`);
        const cfg = initCheckpoint({ preset, out: dir, dtype, seed: 0 });
        const info = modelInfo(cfg, null);
        const params = info.totalParams + info.mtpParams;
        for (const run of runs) {
          if (run.label === 'ref' && dtype !== 'f32') continue; // the reference path once per preset, for scale
          const model = DeepSeekModel.load(dir, run.opts);
          const heapBytes = model.weights.all.reduce((n, t) => n + byteLength(t), 0); // weights and FP8 scales
          benchGenerate(model, 8, 2, 1); // warm-up: JIT, worker start
          for (const B of [1, 4]) {
            const r = benchGenerateMedian(model, P, N, B, REPEATS);
            rows.push({
              preset, dtype, backend: model.ctx.backend.name, threads: run.threads, promptTokens: P, batch: B,
              prefillTokS: r.prefill_tok_s, decodeTokS: r.decode_tok_s, weightMiB: heapBytes / 2 ** 20, bytesPerParam: heapBytes / params,
            });
            console.log(`${preset.padEnd(6)} ${dtype.padEnd(5)} ${model.ctx.backend.name.padEnd(16)} B=${B}  prefill ${r.prefill_tok_s.toFixed(1).padStart(8)} tok/s  decode ${r.decode_tok_s.toFixed(1).padStart(8)} tok/s  ${(heapBytes / params).toFixed(2)} B/param`);
          }
          await model.dispose();
        }
      }
    }
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
  return { rows, stealPercent: steal() };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { rows: results, stealPercent } = await runModelBench();
  fs.mkdirSync('bench/results', { recursive: true });
  fs.writeFileSync('bench/results/model.json', JSON.stringify({
    machine: os.cpus()[0]?.model, cores: os.cpus().length, node: process.version, date: new Date().toISOString(),
    promptTokens: P, newTokens: N, repeats: REPEATS, stealPercent, results,
  }, null, 2) + '\n');
}
