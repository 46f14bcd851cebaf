// Real-size models: a random `moonlight-16b-a3b` checkpoint (BF16 on disk, ~32 GB) loaded as fp8, q8 and q4, each in
// its own process: load time (reading vs converting), resident memory against the weights plus the cache, prefill and
// decode tokens/s at batch 1 and 4 — decode beside the bound that this machine's read bandwidth (measured in the same
// run, one wasm pass over 1 GiB on all threads) sets for the weight bytes a step reads. Then a BF16 model too large for
// one 4 GiB memory (Moonlight's shape with fewer layers) at --weights stored, in several weight arenas.
// Writes bench/results/realsize.json. The checkpoints are made with `qiusuo init` when their folders are missing:
//   node --import tsx bench/realsize.ts [--dir /big/moonlight] [--stored-dir /big/moonlight-l8] [--formats q4,q8] [--no-stored]

import * as fs from 'node:fs';
import * as os from 'node:os';
import { spawnSync } from 'node:child_process';
import { parseArgs } from 'node:util';
import { DeepSeekModel } from '../src/model/transformer.js';
import type { ModelWeights } from '../src/model/weights.js';
import type { WeightFormat } from '../src/model/weight-format.js';
import type { Tensor } from '../src/tensor/tensor.js';
import { byteLength } from '../src/tensor/tensor.js';
import { benchGenerateMedian } from '../src/bench/generate.js';
import { benchReadBandwidth } from '../src/bench/read-bandwidth.js';
import { stealMeter } from './steal.js';

const PROMPT = 32, NEW = 16, REPEATS = 2, FORMATS: WeightFormat[] = ['fp8', 'q8', 'q4'];

const bytesOf = (t: Tensor | null) => (t ? byteLength(t) + (t.scale ? byteLength(t.scale.scaleInv) : 0) : 0);

/**
 * Weight bytes one decode step reads: every matrix of attention, dense FFNs, routers, shared experts and the head,
 * `distinct` routed experts per MoE layer, one embedding row.
 */
function stepBytes(w: ModelWeights, distinct: number): number {
  let n = bytesOf(w.embed) / w.embed.shape[0] + bytesOf(w.norm) + bytesOf(w.head);
  for (const l of w.layers) {
    const a = l.attn;
    n += bytesOf(l.inputNorm) + bytesOf(l.postNorm) + [a.qA, a.qANorm, a.qB, a.q, a.kvA, a.kvANorm, a.kvB, a.o].reduce((s, t) => s + bytesOf(t), 0);
    if (l.ffn.kind === 'dense') n += bytesOf(l.ffn.mlp.gate) + bytesOf(l.ffn.mlp.up) + bytesOf(l.ffn.mlp.down);
    else {
      const m = l.ffn.moe, sh = m.shared;
      n += bytesOf(m.router) + bytesOf(m.bias) + (sh ? bytesOf(sh.gate) + bytesOf(sh.up) + bytesOf(sh.down) : 0);
      n += distinct * (bytesOf(m.bank.gate[0]) + bytesOf(m.bank.up[0]) + bytesOf(m.bank.down[0]));
    }
  }
  return n;
}

/** Expected distinct experts that B tokens choose, K of E each, if routing were uniform. */
const distinctExperts = (E: number, K: number, B: number) => E * (1 - (1 - K / E) ** B);

function child(dir: string, format: WeightFormat): void {
  const timings = { readMs: 0, convertMs: 0 };
  const t0 = performance.now();
  const model = DeepSeekModel.load(dir, { weights: format, timings });
  const loadS = (performance.now() - t0) / 1000;
  const w = model.weights, c = model.cfg;
  const weightBytes = w.all.reduce((s, t) => s + byteLength(t), 0);
  const rows = [1, 4].map((batch) => {
    const r = benchGenerateMedian(model, PROMPT, NEW, batch, REPEATS);
    const distinct = Math.min(c.nRoutedExperts, batch === 1 ? c.numExpertsPerTok : distinctExperts(c.nRoutedExperts, c.numExpertsPerTok, batch));
    return { batch, ...r, step_bytes: stepBytes(w, distinct) };
  });
  const cacheBytes = 4 * (PROMPT + NEW) * c.numHiddenLayers * (c.kvLoraRank + c.qkRopeHeadDim);
  const out = {
    format, load_s: loadS, read_s: timings.readMs / 1000, convert_s: timings.convertMs / 1000,
    weight_bytes: weightBytes, arenas: w.arenas.length, rss_bytes: process.memoryUsage().rss, cache_bytes_b4: 4 * cacheBytes, rows,
  };
  process.stdout.write(JSON.stringify(out) + '\n');
}

function runChild(dir: string, format: WeightFormat) {
  const r = spawnSync(process.execPath, ['--import', 'tsx', 'bench/realsize.ts', '--child', format, '--dir', dir], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
  if (r.status !== 0) throw new Error(`realsize ${format} failed (exit ${r.status})`);
  return JSON.parse(r.stdout.trim().split('\n').pop()!);
}

function ensureCheckpoint(dir: string, set: string[]): void {
  if (fs.existsSync(`${dir}/config.json`)) return;
  const r = spawnSync(process.execPath, ['bin/qiusuo.js', 'init', '--preset', 'moonlight-16b-a3b', '--dtype', 'bf16', '--out', dir, ...set.flatMap((s) => ['--set', s])], { stdio: 'inherit' });
  if (r.status !== 0) throw new Error(`init ${dir} failed`);
}

const { values } = parseArgs({ options: { dir: { type: 'string', default: '/work/big/moonlight' }, 'stored-dir': { type: 'string', default: '/work/big/moonlight-l8' },
  child: { type: 'string' }, formats: { type: 'string' }, 'no-stored': { type: 'boolean' } } });
if (values.child) {
  child(values.dir!, values.child as WeightFormat);
} else {
  const steal = stealMeter();
  ensureCheckpoint(values.dir!, []);
  ensureCheckpoint(values['stored-dir']!, ['num_hidden_layers=8']);
  const bandwidth = await benchReadBandwidth();
  console.log(`read bandwidth ${bandwidth.gbs.toFixed(2)} GB/s (${bandwidth.threads} threads)`);
  const formats = values.formats !== undefined ? (values.formats.split(',').filter((f) => f) as WeightFormat[]) : FORMATS;
  // Runs are added to the results file (one per model and format), so a subset can be re-run: --formats q8 --no-stored.
  const file = 'bench/results/realsize.json';
  const results: { model: string; format: string }[] = fs.existsSync(file) ? JSON.parse(fs.readFileSync(file, 'utf8')).results : [];
  const record = (model: string, r: { format: string }) => {
    console.log(JSON.stringify(r));
    const i = results.findIndex((x) => x.model === model && x.format === r.format);
    results.splice(i < 0 ? results.length : i, i < 0 ? 0 : 1, { model, ...r });
  };
  const model = values.dir === values['stored-dir'] ? 'moonlight-16b-a3b, 8 layers' : 'moonlight-16b-a3b';
  for (const f of formats) record(model, runChild(values.dir!, f));
  if (!values['no-stored']) record('moonlight-16b-a3b, 8 layers', runChild(values['stored-dir']!, 'stored'));
  fs.mkdirSync('bench/results', { recursive: true });
  const json = { machine: os.cpus()[0].model, cores: os.cpus().length, node: process.version, date: new Date().toISOString(),
    bandwidth_gbs: bandwidth.gbs, bandwidth_rounds: bandwidth.rounds, stealPercent: steal(), results };
  fs.writeFileSync(file, JSON.stringify(json, null, 2) + '\n');
}
