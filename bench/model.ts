// Model benchmark: prefill and decode tokens/s of random `tiny` and `small` checkpoints at each storage width,
// batch 1 and batched decode, on the current backend. Writes bench/results/model.json.
// Leaves out: peers (the fast-kernels issue adds them) and training speed.

import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { initCheckpoint } from '../src/model/init.js';
import type { InitDType } from '../src/model/init.js';
import { DeepSeekModel } from '../src/model/transformer.js';
import { benchGenerate } from '../src/bench/generate.js';

interface Row { preset: string; dtype: string; backend: string; promptTokens: number; batch: number; prefillTokS: number; decodeTokS: number; heapMiB: number }

function bench(model: DeepSeekModel, P: number, N: number, B: number): { prefill: number; decode: number } {
  const r = benchGenerate(model, P, N, B);
  return { prefill: r.prefill_tok_s, decode: r.decode_tok_s };
}

export function runModelBench(): Row[] {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'qiusuo-bench-'));
  const rows: Row[] = [];
  try {
    for (const preset of ['tiny', 'small']) {
      for (const dtype of ['f32', 'bf16', 'fp8'] as InitDType[]) {
        const dir = path.join(tmp, `${preset}-${dtype}`);
        initCheckpoint({ preset, out: dir, dtype, seed: 0 });
        const model = DeepSeekModel.load(dir);
        const heapMiB = model.ctx.heap.bytesInUse / 2 ** 20;
        bench(model, 8, 2, 1); // warm-up: let the JIT compile the kernels before timing
        for (const B of [1, 4]) {
          const P = 64, N = 16;
          const r = bench(model, P, N, B);
          rows.push({ preset, dtype, backend: model.ctx.backend.name, promptTokens: P, batch: B, prefillTokS: r.prefill, decodeTokS: r.decode, heapMiB });
          console.log(`${preset.padEnd(6)} ${dtype.padEnd(5)} B=${B}  prefill ${r.prefill.toFixed(1).padStart(8)} tok/s  decode ${r.decode.toFixed(1).padStart(8)} tok/s  weights ${heapMiB.toFixed(2)} MiB`);
        }
        model.dispose();
      }
    }
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
  return rows;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const results = runModelBench();
  fs.mkdirSync('bench/results', { recursive: true });
  fs.writeFileSync('bench/results/model.json', JSON.stringify({
    machine: os.cpus()[0]?.model, cores: os.cpus().length, node: process.version, date: new Date().toISOString(), results,
  }, null, 2) + '\n');
}
