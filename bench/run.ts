// `npm run bench`: runs every benchmark in its own process (so one's JIT state and heap do not colour another's),
// the peers too (installed on first use into bench/peers from the npm registry), then renders BENCHMARKS.md from
// the JSON results under bench/results/ (bench/render/). `--render-only` skips the runs.

import { spawnSync } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { renderBenchmarks } from './render/benchmarks.js';

/** Each benchmark with its arguments, in the order they run: the kernels, the model, training, serving, then the peers. */
const BENCHES: string[][] = [
  ['bench/tokenizer.ts'], ['bench/fma-peak.ts'], ['bench/matmul.ts'], ['bench/attention.ts'], ['bench/model.ts'], ['bench/scaling.ts'],
  ['bench/train.ts'], ['bench/serve.ts'], ['bench/speculative.ts'], ['bench/realsize.ts'], ['bench/llamacpp.ts'],
];

function run(cmd: string, args: string[], env: NodeJS.ProcessEnv = {}): void {
  console.log(`\n== ${cmd} ${args.join(' ')}`);
  const r = spawnSync(cmd, args, { stdio: 'inherit', env: { ...process.env, ...env } });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed with exit code ${r.status}`);
}

if (!process.argv.includes('--render-only')) {
  for (const b of BENCHES) run(process.execPath, ['--import', 'tsx', ...b]);
  if (!existsSync('bench/peers/node_modules')) run('npm', ['--prefix', 'bench/peers', 'ci'], { ONNXRUNTIME_NODE_INSTALL: 'skip' });
  run(process.execPath, ['bench/peers/matmul-peers.mjs']);
  run(process.execPath, ['bench/peers/head-to-head.mjs']);
}

writeFileSync('BENCHMARKS.md', renderBenchmarks());
console.log('\nwrote BENCHMARKS.md');
