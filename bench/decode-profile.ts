// Where a batch-1 decode step's time goes, per op kind: every backend method of a loaded model wrapped with a timer
// (matmuls split by the weight they read), and the thread pool's run() and the calling thread's kernel exports wrapped
// too, so each op's time splits into kernel (the calling thread's share), pool (dispatch, waking and waiting for the
// workers) and JS (the op's own TypeScript around its pool calls). What no op covers — the model code between ops,
// scopes, the decode step's bookkeeping — is "model JS"; greedy sampling (argmax over the logits) is timed as its own
// line. Model code is not edited: the wrappers go on the backend object and the pool's prototype.
//   node --import tsx bench/decode-profile.ts MODEL_DIR... [--threads 1,2] [--tokens 256]
// Prints one table per model and thread count, each figure the median of RUNS runs; writes
// bench/results/decode-profile.json (OUT=name writes bench/results/name.json instead, LABEL=text names the build: a
// build to compare against, which bench/run.ts renders beside it as decode-profile-before). The timers cost a few tenths of a microsecond per op (two clock reads, the
// wrappers' argument spreading), charged to the JS and pool columns; the untimed tok/s of the same process is
// printed next to the profiled one.

import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { DeepSeekModel } from '../src/model/transformer.js';
import type { Backend } from '../src/kernels/backend.js';
import type { Tensor } from '../src/tensor/tensor.js';
import { Scope, f32 } from '../src/tensor/tensor.js';
import { ThreadPool, type KernelExports } from '../src/kernels/pool/thread-pool.js';
import { argmax } from '../src/generate/sampler.js';
import { Rng } from '../src/util/random.js';
import { stealMeter } from './steal.js';

interface Args { models: string[]; threads: number[]; tokens: number }

function parseArgs(argv: string[]): Args {
  const a: Args = { models: [], threads: [1, 2], tokens: 256 };
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--threads') a.threads = argv[++i].split(',').map(Number);
    else if (argv[i] === '--tokens') a.tokens = Number(argv[++i]);
    else a.models.push(argv[i]);
  }
  if (a.models.length === 0) throw new Error('usage: decode-profile.ts MODEL_DIR... [--threads 1,2] [--tokens N]');
  return a;
}

/** Accumulated time of one op kind over the measured tokens (ms) and its call counts. */
interface Bucket { calls: number; opMs: number; poolMs: number; kernelMs: number; poolCalls: number; splitCalls: number }
const bucket = (): Bucket => ({ calls: 0, opMs: 0, poolMs: 0, kernelMs: 0, poolCalls: 0, splitCalls: 0 });

/** The op being timed (pool and kernel time land in its bucket), or null between ops. */
let current: Bucket | null = null;
let buckets = new Map<string, Bucket>();
const bucketOf = (key: string): Bucket => { let b = buckets.get(key); if (!b) buckets.set(key, (b = bucket())); return b; };

/** Wraps ThreadPool.run once for the process: pool time, pool calls and whether a call split across threads. */
function instrumentPool(): void {
  const run = ThreadPool.prototype.run;
  const wrapped = new WeakSet<object>();
  ThreadPool.prototype.run = function (this: ThreadPool, fn, args, items, split, memoryIndex) {
    const self = this as unknown as { memories: ({ local: KernelExports; memory: WebAssembly.Memory } | null)[] };
    // The calling thread's kernels: wrap each export so its own share is timed (exports objects are frozen: copy).
    self.memories.forEach((m, i) => {
      if (!m || wrapped.has(m.local)) return;
      const local: KernelExports = {};
      for (const [name, f] of Object.entries(m.local)) {
        local[name] = typeof f !== 'function' ? f : (...a: number[]) => {
          const b = current;
          if (!b) return f(...a);
          const t0 = performance.now();
          try { return f(...a); } finally {
            b.kernelMs += performance.now() - t0;
            if (a[a.length - 2] - a[a.length - 3] < lastItems) b.splitCalls++;
          }
        };
      }
      wrapped.add(local);
      self.memories[i] = { local, memory: m.memory };
    });
    const b = current;
    if (!b) return run.call(this, fn, args, items, split, memoryIndex);
    const t0 = performance.now();
    lastItems = items;
    try { return run.call(this, fn, args, items, split, memoryIndex); } finally {
      b.poolMs += performance.now() - t0; b.poolCalls++;
    }
  };
}
let lastItems = 0;

/** "layers.3.attn.qA" → "attn.qA": weights named by their role, the layer index dropped. */
function weightNames(w: unknown): Map<Tensor, string> {
  const names = new Map<Tensor, string>();
  const walk = (v: unknown, at: string[]): void => {
    if (v === null || typeof v !== 'object') return;
    if ('ptr' in v && 'dtype' in v && 'shape' in v) { names.set(v as Tensor, at.filter((p) => !/^\d+$/.test(p) && p !== 'layers').join('.')); return; }
    for (const [k, x] of Object.entries(v)) if (k !== 'all' && k !== 'arenas') walk(x, [...at, k]);
  };
  walk(w, []);
  return names;
}

/** Replaces every method of the backend object with a timed one; matmuls keyed by the weight they read. */
function instrumentBackend(backend: Backend, names: Map<Tensor, string>): void {
  const obj = backend as unknown as Record<string, unknown>;
  for (const [name, f] of Object.entries(obj)) {
    if (typeof f !== 'function' || name === 'close' || name === 'forgetHeap' || name === 'run') continue;
    obj[name] = (...a: unknown[]) => {
      const key = name === 'matmul' ? `matmul ${names.get(a[2] as Tensor) ?? '?'}` : name;
      const b = bucketOf(key), outer = current;
      current = b;
      const t0 = performance.now();
      try { return (f as (...x: unknown[]) => unknown)(...a); } finally {
        b.opMs += performance.now() - t0; b.calls++;
        current = outer;
      }
    };
  }
}

/** Decodes `tokens` steps of batch 1 after a 64-token prompt (logits and greedy pick each step); returns ms per token. */
function decodeRun(model: DeepSeekModel, tokens: number, seed: number, onStep?: (ms: number) => void, afterPrompt?: () => void): number {
  const rng = new Rng(seed), V = model.cfg.vocabSize, prompt = 64;
  const cache = model.newCache(1, prompt + tokens);
  try {
    const slot = cache.acquire();
    const s0 = new Scope(model.ctx.heap);
    model.logits(s0, model.prefill(s0, Array.from({ length: prompt }, () => rng.nextU32() % V), cache, slot), prompt);
    s0.release();
    afterPrompt?.();
    let next = rng.nextU32() % V, total = 0;
    for (let i = 0; i < tokens; i++) {
      const t0 = performance.now();
      const s = new Scope(model.ctx.heap);
      const logits = model.logits(s, model.decode(s, [next], cache, [slot]), 1);
      const b = bucketOf('sampling (greedy argmax)'), t1 = performance.now();
      next = argmax(f32(logits));
      b.opMs += performance.now() - t1; b.calls++;
      s.release();
      const ms = performance.now() - t0;
      total += ms;
      onStep?.(ms);
    }
    return total / tokens;
  } finally {
    cache.dispose();
  }
}

/** Measured runs per model and thread count. */
const RUNS = 5;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[(xs.length - 1) >> 1];

interface Row { op: string; callsPerToken: number; usPerToken: number; kernelUs: number; poolUs: number; jsUs: number; share: number; splitCalls: number }
interface Profile { model: string; threads: number; backend: string; plainTokS: number; profiledTokS: number; usPerToken: number; rows: Row[] }

function profile(dir: string, threads: number, tokens: number): Profile {
  const model = DeepSeekModel.load(dir, { threads });
  try {
    decodeRun(model, 32, 99); // warm-up: tier-up of the wasm and the JS
    // Untimed speed first (the instrumentation below cannot be removed), median of three runs.
    const plain = median([1, 2, 3, 4, 5].map((i) => decodeRun(model, tokens, i)));
    instrumentBackend(model.ctx.backend, weightNames(model.weights));
    decodeRun(model, 32, 98);
    // Several measured runs; each figure is the median over them (a preemption of this shared VM hits one run's op).
    const runs: { buckets: Map<string, Bucket>; stepMs: number }[] = [];
    for (let r = 0; r < RUNS; r++) {
      let stepMs = 0;
      decodeRun(model, tokens, 4 + r, (ms) => { stepMs += ms; }, () => { buckets = new Map(); }); // the prompt's ops not counted
      runs.push({ buckets, stepMs });
      buckets = new Map(); // the next run's prompt goes elsewhere
    }
    const med = (f: (run: { buckets: Map<string, Bucket>; stepMs: number }) => number) => median(runs.map(f));
    const perToken = (ms: number) => (1000 * ms) / tokens;
    const of = (run: { buckets: Map<string, Bucket> }, op: string): Bucket => run.buckets.get(op) ?? bucket();
    const stepMs = med((run) => run.stepMs);
    const rows: Row[] = [...runs[0].buckets.keys()].map((op) => ({
      op, callsPerToken: of(runs[0], op).calls / tokens, usPerToken: perToken(med((run) => of(run, op).opMs)),
      kernelUs: perToken(med((run) => of(run, op).kernelMs)), poolUs: perToken(med((run) => of(run, op).poolMs - of(run, op).kernelMs)),
      jsUs: perToken(med((run) => of(run, op).opMs - of(run, op).poolMs)), share: med((run) => of(run, op).opMs / run.stepMs),
      splitCalls: of(runs[0], op).splitCalls / tokens,
    }));
    const between = med((run) => run.stepMs - [...run.buckets.values()].reduce((a, b) => a + b.opMs, 0));
    rows.push({ op: 'model JS (between ops)', callsPerToken: 1, usPerToken: perToken(between), kernelUs: 0, poolUs: 0,
      jsUs: perToken(between), share: between / stepMs, splitCalls: 0 });
    rows.sort((a, b) => b.usPerToken - a.usPerToken);
    return { model: dir, threads, backend: model.ctx.backend.name, plainTokS: 1000 / plain, profiledTokS: (1000 * tokens) / stepMs, usPerToken: perToken(stepMs), rows };
  } finally {
    void model.dispose();
  }
}

/** Totals by the kinds the issue names (matmuls by weight stay in the table above). */
function kinds(p: Profile): Record<string, number> {
  const k: Record<string, number> = {};
  const add = (name: string, us: number) => { k[name] = (k[name] ?? 0) + us; };
  for (const r of p.rows) {
    const kind = r.op === 'matmul head' || r.op === 'sampling (greedy argmax)' ? 'logits + sampling'
      : r.op === 'matmul ffn.moe.router' || r.op === 'route' ? 'MoE routing'
        : r.op.startsWith('matmul') ? 'matmul (weights)'
          : r.op.startsWith('mla') || r.op === 'latentCacheWrite' ? 'attention'
            : r.op === 'moe' ? 'MoE experts' : r.op === 'model JS (between ops)' ? 'JS overhead' : r.op;
    add(kind, r.kernelUs + (kind === 'JS overhead' ? r.jsUs : 0));
    if (kind !== 'JS overhead') add('JS overhead', r.jsUs);
    add('pool dispatch/wait', r.poolUs);
  }
  return k;
}

function print(p: Profile): void {
  console.log(`\n${path.basename(path.dirname(p.model))}/${path.basename(p.model)} — ${p.backend}: ${p.plainTokS.toFixed(0)} tok/s untimed, `
    + `${p.profiledTokS.toFixed(0)} profiled (${p.usPerToken.toFixed(0)} µs/token)`);
  console.log('op'.padEnd(34) + 'calls'.padStart(6) + 'µs/tok'.padStart(8) + 'kernel'.padStart(8) + 'pool'.padStart(7) + 'JS'.padStart(7) + 'share'.padStart(7) + 'split'.padStart(6));
  for (const r of p.rows) {
    console.log(r.op.padEnd(34) + r.callsPerToken.toFixed(0).padStart(6) + r.usPerToken.toFixed(1).padStart(8) + r.kernelUs.toFixed(1).padStart(8)
      + r.poolUs.toFixed(1).padStart(7) + r.jsUs.toFixed(1).padStart(7) + `${(100 * r.share).toFixed(1)}%`.padStart(7) + r.splitCalls.toFixed(0).padStart(6));
  }
  const k = kinds(p);
  console.log('by kind (µs/token): ' + Object.entries(k).sort((a, b) => b[1] - a[1]).map(([n, us]) => `${n} ${us.toFixed(1)}`).join(', '));
}

const args = parseArgs(process.argv.slice(2));
const steal = stealMeter();
instrumentPool();
const profiles: (Profile & { kinds: Record<string, number> })[] = [];
for (const dir of args.models) {
  for (const threads of args.threads) {
    const p = profile(dir, threads, args.tokens);
    print(p);
    profiles.push({ ...p, kinds: kinds(p) });
  }
}
const out = path.join('bench', 'results', `${process.env.OUT ?? 'decode-profile'}.json`);
const meta = { machine: os.cpus()[0]?.model ?? 'unknown', cores: os.cpus().length, node: process.version, date: new Date().toISOString() };
fs.writeFileSync(out + '.tmp', JSON.stringify({ ...meta, label: process.env.LABEL ?? null, stealPercent: steal(), tokens: args.tokens, runs: RUNS, profiles }, null, 2) + '\n');
fs.renameSync(out + '.tmp', out);
console.log(`\nwrote ${out}`);
