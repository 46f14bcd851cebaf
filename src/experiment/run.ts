// `qiusuo experiment NAME`: runs a suite's arms one after another (every seed's arms before the next seed's), each in
// DIR/arms/<settings key> so that suites share identical arms and a stopped suite resumes; moe-vs-dense then reruns
// its dense arms for the MoE arm's training time; finally the report. DIR/NAME/suite.json lists the runs as they
// start, for `qiusuo dashboard --experiment DIR/NAME`.

import * as fs from 'node:fs';
import * as path from 'node:path';
import type { TrainEvents } from '../train/trainer.js';
import type { TrainOptions } from '../train/options.js';
import { prepareData, type RunData } from '../train/setup.js';
import { writeJsonAtomically } from '../weights/safetensors.js';
import { runArm, armKey, readMetrics, type ArmJob, type ArmRecord } from './arm.js';
import { genreWindows, type GenreWindows } from './genres.js';
import { FULL, QUICK, suites, suiteNamed, type Scale, type SuiteSpec, type ArmChange } from './suites.js';
import { Curves } from './curves.js';
import { claimsFor } from './claims.js';
import { writeReport } from './report.js';

export interface ExperimentOptions {
  out: string;
  steps?: number;
  seeds: number;
  quick: boolean;
  threads?: number;
  command: string;         // as typed, for the report
}

export interface ExperimentEvents {
  log(msg: string): void;
  warn(msg: string): void;
  /** Training events of one arm (progress display). */
  arm(info: { suite: string; arm: string; seed: number; index: number; of: number; dir: string }): TrainEvents;
}

export function scaleOf(o: Pick<ExperimentOptions, 'quick'>): Scale { return o.quick ? QUICK : FULL; }

/** Runs one suite, or all five with `name` "all" (the base arm then trains once for all of them). */
export async function runExperiment(name: string, o: ExperimentOptions, ev: ExperimentEvents, signal?: AbortSignal): Promise<string[]> {
  const scale = scaleOf(o);
  const list = name === 'all' ? suites(scale) : [suiteNamed(scale, name)];
  if (!Number.isInteger(o.seeds) || o.seeds < 1) throw new Error(`--seeds must be a positive integer, got ${o.seeds}`);
  const corpus = new Map<number, { data: RunData; genres: GenreWindows[] }>();
  const prepared = (seed: number) => {
    let c = corpus.get(seed);
    if (!c) {
      const opts = { ...scale.base, out: o.out, seed };
      const data = prepareData(opts, null, ev.warn, ev.log);
      const bos = data.tokenizer.tokenToId('<｜begin▁of▁sentence｜>')!;
      c = { data, genres: genreWindows(data.tokenizer, bos, data.eosId, scale.base.seqLen, scale.genreWindows) };
      corpus.set(seed, c);
    }
    return c;
  };
  const written: string[] = [];
  for (const suite of list) written.push(await runSuite(suite, scale, o, prepared, ev, signal));
  return written;
}

interface SuiteRun { arm: string; seed: number; label: string; dir: string; budget: ArmRecord['budget'] }

async function runSuite(suite: SuiteSpec, scale: Scale, o: ExperimentOptions, prepared: (seed: number) => { data: RunData; genres: GenreWindows[] },
  ev: ExperimentEvents, signal?: AbortSignal): Promise<string> {
  const steps = o.steps ?? scale.steps;
  const suiteDir = path.join(o.out, suite.name), armsDir = path.join(o.out, 'arms');
  fs.mkdirSync(suiteDir, { recursive: true });
  const runs: SuiteRun[] = [];
  const done: { record: ArmRecord; dir: string }[] = [];
  const total = o.seeds * (suite.arms.length + (suite.equalTime?.arms.length ?? 0));
  const run = async (arm: string, seed: number, change: ArmChange, maxSteps: number, budget: ArmRecord['budget']) => {
    const { data, genres } = prepared(seed);
    const job: ArmJob = { arm, budget, options: armOptions(scale, change, seed, maxSteps, o.threads), finalWindows: scale.finalWindows, genres };
    const dir = path.join(armsDir, armKey(job));
    const label = `${arm}${budget === 'equal-time' ? ' (equal time)' : ''} · seed ${seed}`;
    runs.push({ arm, seed, label, dir: path.relative(suiteDir, dir), budget });
    writeJsonAtomically(path.join(suiteDir, 'suite.json'), { experiment: suite.name, runs });
    const r = await runArm(job, armsDir, data, ev.arm({ suite: suite.name, arm, seed, index: runs.length, of: total, dir }), signal);
    ev.log(`${suite.name}: ${label} ${r.reused ? 'already done' : 'done'}: val bits/byte ${r.record.val_bpb.toFixed(4)}, ${r.record.tok_s.toFixed(0)} tokens/s (${path.relative(o.out, dir)})`);
    done.push({ record: r.record, dir });
    return r.record;
  };
  for (let seed = 0; seed < o.seeds; seed++) {
    for (const a of suite.arms) await run(a.arm, seed, a.change, steps, 'equal-steps');
    if (suite.equalTime) {
      const ref = done.find((d) => d.record.arm === suite.equalTime!.reference && d.record.seed === seed)!.record;
      for (const name of suite.equalTime.arms) {
        const other = done.find((d) => d.record.arm === name && d.record.seed === seed && d.record.budget === 'equal-steps')!.record;
        const n = Math.max(1, Math.round(ref.train_seconds / (other.train_seconds / other.steps)));
        await run(name, seed, suite.arms.find((a) => a.arm === name)!.change, n, 'equal-time');
      }
    }
  }
  const curves = new Curves(done.map((d) => ({ record: d.record, metrics: readMetrics(d.dir) })), scale.base.seqLen);
  const records = done.map((d) => ({ ...d.record, dir: path.relative(suiteDir, d.dir) }));
  await writeReport(suiteDir, {
    suite, records, curves, claims: claimsFor(suite.name, records, curves, scale.base.gamma), command: o.command, steps, seeds: o.seeds,
    baseAbout: baseAbout(scale),
  });
  ev.log(`${suite.name}: report in ${path.join(suiteDir, 'report.md')}`);
  return suiteDir;
}

/** The base options with an arm's change (its config keys merged into the base's), for one seed and step count. */
export function armOptions(scale: Scale, change: ArmChange, seed: number, maxSteps: number, threads?: number): Omit<TrainOptions, 'out'> {
  return { ...scale.base, ...change, set: { ...scale.base.set, ...change.set }, seed, maxSteps, ...(threads ? { threads } : {}) };
}

function baseAbout(s: Scale): string {
  const b = s.base;
  return `preset \`${b.preset}\` on the Brown corpus (${b.vocabSize}-token BPE), ${b.batch} × ${b.seqLen} tokens per step, AdamW lr ${b.lr} ` +
    `(warmup, constant, cosine), aux-loss-free γ ${b.gamma} and no balance loss, MTP λ ${b.mtpWeight} → ${b.mtpWeightLate}, ${b.precision}`;
}
