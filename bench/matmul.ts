// Matmul benchmark: GFLOP/s at T = C = OC = 1024 (prefill-like) and weight GB/s at T = 1 (decode-like) for the
// reference TypeScript kernel and the wasm SIMD / relaxed-SIMD kernels on 1 and 2 threads, f32, bf16 and fp8
// weights. Writes bench/results/matmul.json; peers are measured separately (bench/peers).

import * as fs from 'node:fs';
import * as os from 'node:os';
import { benchMatmul, type BenchDType, type MatmulBenchOptions } from '../src/bench/matmul.js';
import { relaxedSimdSupported } from '../src/kernels/wasm/loader.js';

interface Row { dtype: BenchDType; kernel: string; threads: number; T: number; C: number; OC: number; ms: number; gflops: number; weightGBs: number }

const configs: { name: string; o: Pick<MatmulBenchOptions, 'kernels' | 'flavour' | 'threads'> }[] = [
  { name: 'ref', o: { kernels: 'ref' } },
  { name: 'simd', o: { kernels: 'wasm', flavour: 'simd', threads: 1 } },
];
if (relaxedSimdSupported()) {
  configs.push({ name: 'relaxed', o: { kernels: 'wasm', flavour: 'relaxed', threads: 1 } });
  configs.push({ name: 'relaxed', o: { kernels: 'wasm', flavour: 'relaxed', threads: 2 } });
} else {
  configs.push({ name: 'simd', o: { kernels: 'wasm', flavour: 'simd', threads: 2 } });
}

const shapes = [{ T: 1024, C: 1024, OC: 1024 }, { T: 1, C: 1024, OC: 1024 }, { T: 1, C: 4096, OC: 4096 }];
const results: Row[] = [];
for (const shape of shapes) {
  for (const dtype of ['f32', 'bf16', 'fp8'] as const) {
    for (const { name, o } of configs) {
      const r = await benchMatmul({ ...shape, dtype, ...o });
      const threads = o.threads ?? 1;
      const row: Row = { dtype, kernel: name, threads, ...shape, ms: r.ms, gflops: r.gflops, weightGBs: r.weightGBs };
      results.push(row);
      console.log(`${dtype.padEnd(4)} ${`${name}×${threads}`.padEnd(10)} T=${shape.T} C=${shape.C} OC=${shape.OC}: ${r.ms.toFixed(3)} ms, ${r.gflops.toFixed(2)} GFLOP/s, ${r.weightGBs.toFixed(2)} GB/s of weights`);
    }
  }
}

const meta = { machine: os.cpus()[0]?.model ?? 'unknown', cores: os.cpus().length, node: process.version, date: new Date().toISOString() };
fs.mkdirSync('bench/results', { recursive: true });
fs.writeFileSync('bench/results/matmul.json', JSON.stringify({ ...meta, results }, null, 2) + '\n');
console.log('wrote bench/results/matmul.json');
