// One arm of an experiment: a training run keyed by its settings, so that it trains once whichever suite asks for it
// and picks up from its last checkpoint after Ctrl-C; then the measurements the reports need, taken on the trained
// model (validation loss and bits/byte, MaxVio_global, expert load per Brown genre, MTP agreement) and from its
// metrics.jsonl (tokens/s, training time, MaxVio_batch). The record is written last, so a folder with result.json
// holds a finished arm.

import * as fs from 'node:fs';
import * as path from 'node:path';
import { createHash } from 'node:crypto';
import { train, type StepMetrics, type TrainEvents } from '../train/trainer.js';
import type { TrainOptions } from '../train/options.js';
import type { RunData } from '../train/setup.js';
import { latestCheckpoint } from '../train/checkpoint.js';
import { validationLoss, bitsPerByte } from '../train/evaluate.js';
import { validationBatches } from '../train/data.js';
import { writeJsonAtomically } from '../weights/safetensors.js';
import { parseJson } from '../util/json.js';
import { expertLoads, maxViolation, specialization, relativeLoad } from './routing.js';
import type { GenreWindows } from './genres.js';

/** Bumped when what an arm measures changes, so that older records are not reused. */
const MEASURE_VERSION = 1;

/** Settings that do not change what a run computes: left out of the key. */
const NOT_KEYED = new Set(['out', 'resume', 'sample', 'threads', 'kernels', 'checkpointEvery', 'timeBudgetSec', 'model']);

export interface ArmRecord {
  arm: string; seed: number; budget: 'equal-steps' | 'equal-time';
  steps: number; tokens: number;
  val_loss: number; val_bpb: number;
  tok_s: number;                       // median of the steps' tokens/s (evaluation excluded)
  train_seconds: number;               // the steps' own time, evaluation excluded
  maxvio_global: number[];             // per MoE layer, over the final validation windows
  maxvio_batch_final: number | null;   // mean over layers and over the last 10% of steps
  specialization: number | null;       // mean over layers of the mean over genres of KL(genre load ‖ overall load)
  genre_loads: { genres: string[]; layers: number[][][] } | null; // [layer][genre][expert] load / balanced load
  mtp_agreement: number | null;
  params: number; active_params: number;
  key: string;
}

export interface ArmJob {
  arm: string;
  budget: ArmRecord['budget'];
  options: Omit<TrainOptions, 'out'>;
  finalWindows: number;
  genres: GenreWindows[];
}

/** The arm's key: a hash of every setting that changes its result, and of what is measured afterwards. */
export function armKey(job: ArmJob): string {
  const settings = Object.fromEntries(Object.entries(job.options).filter(([k]) => !NOT_KEYED.has(k)).sort(([a], [b]) => (a < b ? -1 : 1)));
  const canon = JSON.stringify({ v: MEASURE_VERSION, settings, set: sortKeys(job.options.set), finalWindows: job.finalWindows, genreWindows: job.genres.map((g) => g.windows.length) });
  return createHash('sha256').update(canon).digest('hex').slice(0, 12);
}

function sortKeys(o: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(o).sort(([a], [b]) => (a < b ? -1 : 1)));
}

export class Interrupted extends Error {
  constructor(readonly dir: string) { super(`stopped; the arm in ${dir} resumes from its last checkpoint when the same command runs again`); }
}

/** The finished record of the arm in `dir`, or null if it has not finished. */
export function finishedArm(dir: string): ArmRecord | null {
  const file = path.join(dir, 'result.json');
  if (!fs.existsSync(file)) return null;
  return parseJson(fs.readFileSync(file, 'utf8'), `${file}: not valid JSON (delete the file to run the arm again)`) as ArmRecord;
}

/** Trains (or resumes, or reuses) the arm in `armsDir/<key>` and measures it. */
export async function runArm(job: ArmJob, armsDir: string, data: RunData, ev: TrainEvents, signal?: AbortSignal): Promise<{ record: ArmRecord; dir: string; reused: boolean }> {
  const key = armKey(job), dir = path.join(armsDir, key);
  const done = finishedArm(dir);
  if (done) return { record: { ...done, arm: job.arm, budget: job.budget }, dir, reused: true };
  fs.mkdirSync(dir, { recursive: true });
  writeJsonAtomically(path.join(dir, 'arm.json'), { key, arm: job.arm, options: job.options });
  let size = { params: 0, active: 0 };
  const events: TrainEvents = { ...ev, start: (i) => { size = { params: i.params, active: i.activeParams }; ev.start(i); } };
  const r = await train({ ...job.options, out: dir, resume: latestCheckpoint(dir) !== null }, events, signal, data);
  try {
    if (r.interrupted) throw new Interrupted(dir);
    const T = job.options.seqLen;
    const val = validationLoss(r.model, r.bw, data.val, T, job.finalWindows);
    const valWindows = [...validationBatches(data.val, 1, Math.min(T, data.val.length - 1), job.finalWindows)].map((b) => Array.from(b.inputs));
    const global = expertLoads(r.model, valWindows);
    const byGenre = global.length > 0 ? job.genres.map((g) => expertLoads(r.model, g.windows)) : [];
    const steps = readMetrics(dir);
    const record: ArmRecord = {
      arm: job.arm, seed: job.options.seed, budget: job.budget, steps: r.steps,
      tokens: steps.reduce((n, m) => n + m.batch * T, 0),
      val_loss: val.loss, val_bpb: bitsPerByte(val.loss, data.val.length / data.valBytes),
      tok_s: median(steps.map((m) => m.tokensPerSec)),
      train_seconds: steps.reduce((t, m) => t + (m.batch * T) / m.tokensPerSec, 0),
      maxvio_global: global.map(maxViolation),
      maxvio_batch_final: finalMaxVio(steps, global.length),
      specialization: byGenre.length > 0 ? specialization(byGenre) : null,
      genre_loads: byGenre.length > 0 ? { genres: job.genres.map((g) => g.genre), layers: global.map((_, l) => byGenre.map((g) => relativeLoad(g[l]!))) } : null,
      mtp_agreement: val.mtpAgreement,
      params: size.params, active_params: size.active, key,
    };
    writeJsonAtomically(path.join(dir, 'result.json'), record);
    return { record, dir, reused: false };
  } finally {
    await r.model.dispose();
  }
}

/** The per-step records of a run's metrics.jsonl (the last record of each step, should a resumed run repeat one). */
export function readMetrics(dir: string): StepMetrics[] {
  const file = path.join(dir, 'metrics.jsonl');
  const byStep = new Map<number, StepMetrics>();
  if (!fs.existsSync(file)) return [];
  fs.readFileSync(file, 'utf8').split('\n').forEach((line, i) => {
    if (!line.trim()) return;
    const m = parseJson(line, `${file}:${i + 1}: not valid JSON`) as StepMetrics;
    byStep.set(m.step, m);
  });
  return [...byStep.values()].sort((a, b) => a.step - b.step);
}

/** A step's MaxVio_batch: the mean over the main model's `layers` MoE layers (the MTP module's come after them). */
export function batchMaxVio(m: StepMetrics, layers: number): number {
  return mean(m.maxVio.slice(0, layers));
}

/** MaxVio_batch at the end of training, averaged over the last 10% of steps (at least one). */
function finalMaxVio(steps: StepMetrics[], layers: number): number | null {
  if (steps.length === 0 || layers === 0) return null;
  const tail = steps.slice(-Math.max(1, Math.round(steps.length / 10)));
  return tail.reduce((s, m) => s + batchMaxVio(m, layers), 0) / tail.length;
}

const mean = (xs: readonly number[]): number => xs.reduce((a, x) => a + x, 0) / xs.length;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? NaN : s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
}
