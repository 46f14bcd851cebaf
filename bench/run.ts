// `npm run bench`: runs every benchmark in its own process (so one's JIT state and heap do not colour another's),
// then renders BENCHMARKS.md from the JSON results under bench/results/.

import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync, existsSync } from 'node:fs';

const BENCHES = ['bench/tokenizer.ts', 'bench/model.ts'];

for (const b of BENCHES) {
  console.log(`\n== ${b}`);
  const r = spawnSync(process.execPath, ['--import', 'tsx', b], { stdio: 'inherit' });
  if (r.status !== 0) throw new Error(`${b} failed with exit code ${r.status}`);
}

interface Meta { machine: string; cores: number; node: string; date: string }
const read = (name: string) => (existsSync(`bench/results/${name}.json`) ? JSON.parse(readFileSync(`bench/results/${name}.json`, 'utf8')) : null);
const meta = (m: Meta) => `${m.machine}, ${m.cores} cores, Node ${m.node}, ${m.date.slice(0, 10)}`;

const lines = ['# Benchmarks', '', 'Produced by `npm run bench` (results as JSON in `bench/results/`). Numbers from one run; other load on', 'the machine moves them by ±20%.', ''];

const model = read('model');
if (model) {
  lines.push(`## Model: prefill and decode (${meta(model)})`, '',
    `Random \`qiusuo init\` checkpoints, ${model.results[0].promptTokens}-token prompts, 16 decode steps through the latent cache;`,
    'batch = sequences decoded together in one step (tokens/s summed over them). Backend `ref` = the plain',
    'TypeScript reference kernels (the wasm SIMD kernels are the next milestone). Weights = bytes of weights in the heap.', '',
    '| preset | weights | backend | batch | prefill tok/s | decode tok/s | weights MiB |', '|---|---|---|---:|---:|---:|---:|');
  for (const r of model.results) {
    lines.push(`| ${r.preset} | ${r.dtype} | ${r.backend} | ${r.batch} | ${r.prefillTokS.toFixed(1)} | ${r.decodeTokS.toFixed(1)} | ${r.heapMiB.toFixed(2)} |`);
  }
  lines.push('');
}

const tok = read('tokenizer');
if (tok) {
  lines.push(`## Tokenizer: DeepSeek-V3's tokenizer.json (${meta(tok)})`, '',
    'Encode throughput on ~2.4 MB of seeded mixed text (English, Chinese, code, emoji, digit and whitespace runs);',
    'first pass starts with an empty pre-token cache, warm = best of 3. Both produce identical ids.', '',
    '| text | tokenizer | load ms | tokens | MB/s first pass | MB/s warm |', '|---|---|---:|---:|---:|---:|');
  for (const r of tok.results) {
    lines.push(`| ${r.text} | ${r.name} | ${r.loadMs.toFixed(0)} | ${r.tokens} | ${r.coldMBs.toFixed(2)} | ${r.warmMBs.toFixed(2)} |`);
  }
  lines.push('');
}

writeFileSync('BENCHMARKS.md', lines.join('\n'));
console.log('\nwrote BENCHMARKS.md');
