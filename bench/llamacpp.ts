// qiusuo against llama.cpp (node-llama-cpp's CPU prebuilt, bench/peers/llamacpp) on the same GGUF file: prefill and
// decode tokens/s at batch 1, rounds alternating between the engines in this one process (this VM drifts ±30%),
// each engine at 1 and 2 threads, the faster taken. llama.cpp's times are its own counters (time inside llama_decode,
// no JavaScript around it); qiusuo's are benchGenerate's wall times, JavaScript included.
// Models: the trained default model (`npx qiusuo train`; the newest checkpoint under --nano), a random `small`
// (made with `qiusuo init` in --work when missing), and, with --moonlight DIR, a random moonlight-16b-a3b checkpoint
// exported as q8_0 and q4_0 (each a 9–17 GB file in --work, removed afterwards unless --keep).
// Writes bench/results/llamacpp.json:
//   node --import tsx bench/llamacpp.ts [--nano runs/qiusuo] [--moonlight /big/moonlight] [--rounds 5]

import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { DeepSeekModel } from '../src/model/transformer.js';
import { initCheckpoint } from '../src/model/init.js';
import { exportGgufFile } from '../src/model/export.js';
import type { GgufExportType } from '../src/weights/gguf-export.js';
import { benchGenerate } from '../src/bench/generate.js';
import { GgufFile } from '../src/weights/gguf.js';
import { Rng } from '../src/util/random.js';
import { openLlamaCpp, type LlamaCppPeer } from './peers/llamacpp/peer.js';
import { stealMeter } from './steal.js';

const { values: args } = parseArgs({
  options: {
    nano: { type: 'string', default: 'runs/qiusuo' },
    moonlight: { type: 'string' },
    work: { type: 'string', default: 'bench/out/llamacpp' },
    rounds: { type: 'string', default: '5' },
    only: { type: 'string' },
    keep: { type: 'boolean', default: false },
  },
});
const ROUNDS = Number(args.rounds);

/** `together`: both engines loaded at once and their rounds alternating; else one engine at one thread count after
 *  another (a real-size model: qiusuo holds its weights, and llama.cpp repacks Q4_0/Q8_0 weights into its own
 *  buffers, so two copies of a 9 GB model already took all 24 GiB). */
interface Case { name: string; gguf: () => string; prompt: number; newTokens: number; threads: number[]; temporary: boolean; together: boolean }
interface Side { threads: number; prefill_tok_s: number; decode_tok_s: number }
interface Row {
  model: string; type: string; file_bytes: number; prompt: number; new_tokens: number; rounds: number; together: boolean;
  qiusuo: Side[]; llamacpp: (Side & { wall_decode_tok_s: number })[];
  best: { qiusuo_decode: number; llamacpp_decode: number; decode_ratio: number; qiusuo_prefill: number; llamacpp_prefill: number; prefill_ratio: number };
}

fs.mkdirSync(args.work!, { recursive: true });
const at = (f: string) => path.join(args.work!, f);

function exportOnce(model: string, file: string, type: GgufExportType): string {
  if (!fs.existsSync(file)) {
    console.log(`exporting ${model} as ${type} to ${file}`);
    exportGgufFile(model, file, type);
  }
  return file;
}

function newestCheckpoint(run: string): string | null {
  const found = fs.existsSync(run) ? fs.readdirSync(run).filter((f) => f.startsWith('checkpoint-')).sort() : [];
  return found.length === 0 ? null : path.join(run, found.at(-1)!);
}
const nano = newestCheckpoint(args.nano!);
if (!nano) console.log(`${args.nano}: no checkpoint, so no nano row: train one first (npx qiusuo train), or pass --nano RUN_FOLDER`);

const cases: Case[] = [
  ...(nano ? [{ name: 'nano (trained)', gguf: () => exportOnce(nano, at('nano-f32.gguf'), 'f32'), prompt: 128, newTokens: 64, threads: [1, 2], temporary: false, together: true }] : []),
  {
    name: 'small', prompt: 128, newTokens: 64, threads: [1, 2], temporary: false, together: true,
    gguf: () => {
      const dir = at('small');
      if (!fs.existsSync(path.join(dir, 'config.json'))) initCheckpoint({ preset: 'small', out: dir, seed: 1 });
      return exportOnce(dir, at('small-f32.gguf'), 'f32');
    },
  },
  ...(args.moonlight ? (['q8_0', 'q4_0'] as const).map((type): Case => ({
    name: `moonlight-16b-a3b ${type}`, prompt: 32, newTokens: 16, threads: [2], temporary: !args.keep, together: false,
    gguf: () => exportOnce(args.moonlight!, at(`moonlight-${type}.gguf`), type),
  })) : []),
].filter((c) => !args.only || args.only.split(',').some((o) => c.name.startsWith(o)));

/** Rows of the GGUF's embedding: the ids a prompt may use. */
function ggufVocab(file: string): number {
  const f = GgufFile.open(file);
  try { return f.tensors.get('token_embd.weight')!.ne[1]!; } finally { f.close(); }
}

function median(xs: number[]): number { return [...xs].sort((a, b) => a - b)[(xs.length - 1) >> 1]!; }

interface Ours { threads: number; model: DeepSeekModel | null; runs: { p: number; d: number }[] }
interface Theirs { threads: number; peer: LlamaCppPeer | null; runs: { p: number; d: number; wd: number }[] }

async function race(c: Case): Promise<Row> {
  const file = c.gguf();
  const type = /-(f32|q8_0|q4_0)\.gguf$/.exec(file)?.[1] ?? '?';
  const ours: Ours[] = c.threads.map((threads) => ({ threads, model: null, runs: [] }));
  const theirs: Theirs[] = [1, 2].map((threads) => ({ threads, peer: null, runs: [] }));
  const context = c.prompt + c.newTokens + 8, vocab = ggufVocab(file);
  const load = async (side: Ours | Theirs) => {
    if ('model' in side) side.model = DeepSeekModel.load(file, { threads: side.threads });
    else side.peer = await openLlamaCpp(file, { threads: side.threads, contextSize: context });
  };
  const unload = async () => {
    for (const o of ours) { await o.model?.dispose(); o.model = null; }
    for (const t of theirs) { await t.peer?.dispose(); t.peer = null; }
  };
  /** Round r (0 is a warm-up, not kept) of the sides loaded now. */
  const round = async (r: number) => {
    for (const o of ours) {
      if (!o.model) continue;
      const x = benchGenerate(o.model, c.prompt, c.newTokens, 1, 100 + r);
      if (r > 0) o.runs.push({ p: x.prefill_tok_s, d: x.decode_tok_s });
    }
    for (const t of theirs) {
      if (!t.peer) continue;
      const rng = new Rng(100 + r);
      const x = await t.peer.timeRun(Array.from({ length: c.prompt }, () => rng.nextU32() % vocab), c.newTokens);
      if (r > 0) t.runs.push({ p: (1000 * x.promptTokens) / x.prefillMs, d: (1000 * x.decodeSteps) / x.decodeMs, wd: (1000 * x.decodeSteps) / x.wallDecodeMs });
    }
    const last = (xs: { d: number }[]) => xs.at(-1)?.d.toFixed(1) ?? '–';
    if (r > 0) console.log(`  round ${r}: qiusuo ${ours.map((o) => `${o.threads}t ${last(o.runs)}`).join(', ')} · llama.cpp ${theirs.map((t) => `${t.threads}t ${last(t.runs)}`).join(', ')} tok/s decode`);
  };
  try {
    // Together: everything loaded, rounds alternating. Apart: one engine at one thread count at a time.
    const phases: (Ours | Theirs)[][] = c.together ? [[...ours, ...theirs]] : [...ours, ...theirs].map((x) => [x]);
    for (const sides of phases) {
      for (const side of sides) await load(side);
      for (let r = 0; r <= ROUNDS; r++) await round(r);
      await unload();
    }
  } finally {
    await unload();
  }
  const qiusuo = ours.map((o) => ({ threads: o.threads, prefill_tok_s: median(o.runs.map((x) => x.p)), decode_tok_s: median(o.runs.map((x) => x.d)) }));
  const llamacpp = theirs.map((t) => ({ threads: t.threads, prefill_tok_s: median(t.runs.map((x) => x.p)), decode_tok_s: median(t.runs.map((x) => x.d)), wall_decode_tok_s: median(t.runs.map((x) => x.wd)) }));
  const best = (sides: Side[], k: 'prefill_tok_s' | 'decode_tok_s') => Math.max(...sides.map((s) => s[k]));
  const row: Row = {
    model: c.name, type, file_bytes: fs.statSync(file).size, prompt: c.prompt, new_tokens: c.newTokens, rounds: ROUNDS, together: c.together, qiusuo, llamacpp,
    best: {
      qiusuo_decode: best(qiusuo, 'decode_tok_s'), llamacpp_decode: best(llamacpp, 'decode_tok_s'), decode_ratio: best(qiusuo, 'decode_tok_s') / best(llamacpp, 'decode_tok_s'),
      qiusuo_prefill: best(qiusuo, 'prefill_tok_s'), llamacpp_prefill: best(llamacpp, 'prefill_tok_s'), prefill_ratio: best(qiusuo, 'prefill_tok_s') / best(llamacpp, 'prefill_tok_s'),
    },
  };
  if (c.temporary) fs.rmSync(file, { force: true });
  return row;
}

const steal = stealMeter();
const rows: Row[] = [];
for (const c of cases) {
  console.log(`== ${c.name}`);
  const row = await race(c);
  rows.push(row);
  console.log(`  decode: qiusuo ${row.best.qiusuo_decode.toFixed(1)} vs llama.cpp ${row.best.llamacpp_decode.toFixed(1)} tok/s (${row.best.decode_ratio.toFixed(2)}×); prefill ${row.best.qiusuo_prefill.toFixed(0)} vs ${row.best.llamacpp_prefill.toFixed(0)} (${row.best.prefill_ratio.toFixed(2)}×)`);
}
const out = 'bench/results/llamacpp.json';
const previous = fs.existsSync(out) ? (JSON.parse(fs.readFileSync(out, 'utf8')).results as Row[]) : [];
const results = [...previous.filter((p) => !rows.some((r) => r.model === p.model)), ...rows];
fs.writeFileSync(out, JSON.stringify({ machine: os.cpus()[0]!.model, cores: os.cpus().length, node: process.version, date: new Date().toISOString(),
  stealPercent: steal(), results }, null, 2) + '\n');
console.log(`wrote ${out}`);
process.exit(0); // the shared llama.cpp instance (peer.ts) lives as long as the process
