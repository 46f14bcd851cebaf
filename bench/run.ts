// `npm run bench`: runs every benchmark in its own process (so one's JIT state and heap do not colour another's),
// the peers too (installed on first use into bench/peers from the npm registry), then renders BENCHMARKS.md from
// the JSON results under bench/results/ (bench/render/). `--render-only` skips the runs.
// Not run here: the scripts that need builds or trained models named to them (decode-ab, matmul-decode-ab, low-acc-ab,
// ab-small.sh, decode-profile, quant-error), and the soak and fuzzing, long on their own (npm run soak, npm run fuzz).

import { spawnSync } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { renderBenchmarks } from './render/benchmarks.js';

/** Each benchmark with its arguments, in the order they run: the kernels, the model, training, serving, then the peers. */
const BENCHES: string[][] = [
  ['bench/tokenizer.ts'], ['bench/fma-peak.ts'], ['bench/matmul.ts'], ['bench/attention.ts'], ['bench/model.ts'], ['bench/scaling.ts'],
  ['bench/train.ts'], ['bench/optim-ab.ts', '--threads', '2'], ['bench/optim-ab.ts', '--threads', '1'], ['bench/train-precision.ts', '--steps', '16'],
  ['bench/train-low-acc.ts'], ['bench/serve.ts'], ['bench/speculative.ts'], ['bench/realsize.ts'], ['bench/llamacpp.ts'], ['bench/charts-render.ts'],
];
/** Last, as it takes about an hour: the five experiment suites, whose reports go to docs/experiments/. */
const EXPERIMENTS = ['bench/experiments.ts'];

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
  run(process.execPath, ['--import', 'tsx', ...EXPERIMENTS]);
}

writeFileSync('BENCHMARKS.md', renderBenchmarks());
console.log('\nwrote BENCHMARKS.md');
