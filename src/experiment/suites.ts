// The five ablation suites of `qiusuo experiment`: each is a list of arms, every arm the suite's base training run
// with one choice changed. All suites share one base (the default `qiusuo train` model and recipe, with every balance
// loss off so that auxiliary-loss-free balancing stands alone, as in the paper's Table 5), so an arm that two suites
// share — the base is aux-free in `balance`, `mtp` in `mtp`, f32 in `precision`, moe in `moe-vs-dense` — trains once.

import { DEFAULT_TRAIN, type TrainOptions } from '../train/options.js';
import { presetConfig } from '../model/presets.js';
import { denseKeys } from '../train/setup.js';

/** The settings an arm changes: training options, and config.json keys merged into the base's `set`. */
export type ArmChange = Partial<Omit<TrainOptions, 'out' | 'set'>> & { set?: Record<string, unknown> };

export interface ArmSpec {
  arm: string;
  about: string;          // what differs, for the report
  change: ArmChange;
  cost: number;           // seconds per step relative to the base arm, measured (see BENCHMARKS.md "Experiments")
}

export interface SuiteSpec {
  name: string;
  title: string;
  arms: ArmSpec[];
  /** moe-vs-dense: the dense arms are run again with as many steps as fit in the MoE arm's training time. */
  equalTime?: { reference: string; arms: string[] };
}

export interface Scale {
  base: Omit<TrainOptions, 'out' | 'maxSteps'>;
  steps: number;          // optimizer steps per arm
  finalWindows: number;   // validation windows of the final evaluation (loss, bits/byte, MaxVio_global, MTP agreement)
  genreWindows: number;   // windows per Brown genre for the specialization heat maps
}

/** Full size: the default model at 1,024 tokens per step; every arm in a few minutes on 2 cores. */
export const FULL: Scale = {
  base: {
    ...DEFAULT_TRAIN, seqAuxAlpha: 0, batch: 8, microBatch: 8, batchStart: 8, evalEvery: 25, evalWindows: 16,
    checkpointEvery: 100, sample: false,
  },
  steps: 300, finalWindows: 128, genreWindows: 16,
};

/** `--quick`: the tiny preset for a handful of steps, so the test suite runs every suite end to end. */
export const QUICK: Scale = {
  base: {
    ...FULL.base, preset: 'tiny', vocabSize: 512, seqLen: 32, batch: 4, microBatch: 4, batchStart: 4, evalEvery: 2, evalWindows: 2,
    checkpointEvery: 2,
  },
  steps: 4, finalWindows: 4, genreWindows: 1,
};

/** The classic auxiliary loss's α, as the Loss-Free Balancing paper's baselines use it (and DeepSeekMoE 16B). */
export const AUX_ALPHA = 0.001;

export function suites(scale: Scale): SuiteSpec[] {
  const gamma = scale.base.gamma;
  return [
    {
      name: 'balance', title: 'Auxiliary-loss-free balancing against balance losses',
      arms: [
        { arm: 'aux-free', about: `bias update γ = ${gamma}, no balance loss`, change: {}, cost: 1 },
        { arm: 'aux-loss', about: `classic batch-wise auxiliary loss α = ${AUX_ALPHA}, no bias update`, change: { gamma: 0, auxLossAlpha: AUX_ALPHA }, cost: 1 },
        { arm: 'seq-aux', about: `sequence-wise balance loss α = ${AUX_ALPHA} only, no bias update`, change: { gamma: 0, seqAuxAlpha: AUX_ALPHA }, cost: 1 },
        { arm: 'none', about: 'no balancing at all', change: { gamma: 0 }, cost: 1 },
      ],
    },
    {
      name: 'gamma', title: 'The bias update speed γ',
      arms: [
        { arm: 'gamma-1e-4', about: 'γ = 1e-4', change: { gamma: 1e-4 }, cost: 1.05 },
        { arm: 'gamma-1e-3', about: 'γ = 1e-3 (the paper)', change: { gamma: 1e-3 }, cost: 1.05 },
        { arm: 'gamma-1e-2', about: 'γ = 1e-2', change: { gamma: 1e-2 }, cost: 1 },
        { arm: 'proportional', about: `γ = ${gamma} times the relative load violation instead of its sign`, change: { biasUpdate: 'proportional' }, cost: 1.05 },
      ],
    },
    {
      name: 'mtp', title: 'Multi-token prediction',
      arms: [
        { arm: 'mtp', about: `one MTP module, λ = ${scale.base.mtpWeight} then ${scale.base.mtpWeightLate}`, change: {}, cost: 1 },
        { arm: 'no-mtp', about: 'no MTP module', change: { mtpWeight: 0, mtpWeightLate: 0, set: { num_nextn_predict_layers: 0 } }, cost: 0.72 },
      ],
    },
    {
      name: 'precision', title: 'Mixed-precision training',
      arms: [
        { arm: 'f32', about: 'f32 matmuls', change: {}, cost: 1 },
        { arm: 'bf16', about: 'BF16 operands, f32 accumulation', change: { precision: 'bf16' }, cost: 1.12 },
        { arm: 'fp8', about: 'E4M3 operands in 1×128 activation tiles and 128×128 weight blocks, f32 accumulation', change: { precision: 'fp8' }, cost: 1.27 },
        { arm: 'fp8-per-tensor', about: 'E4M3 with one scale per tensor', change: { precision: 'fp8-per-tensor' }, cost: 1.25 },
        { arm: 'fp8-low-acc', about: 'fine-grained E4M3, sums kept to 14 significant bits with no promotion to f32', change: { precision: 'fp8-low-acc' }, cost: 1.6 },
      ],
    },
    {
      name: 'moe-vs-dense', title: 'DeepSeekMoE against dense models',
      arms: [
        { arm: 'moe', about: 'the MoE model', change: {}, cost: 1 },
        { arm: 'dense-active', about: 'dense FFNs, as many parameters as the MoE model\'s active ones (`--dense`)', change: { dense: true }, cost: 0.75 },
        { arm: 'dense-total', about: 'dense FFNs, as many parameters as the MoE model in all', change: { set: denseKeys(presetConfig(scale.base.preset), 'total') }, cost: 1 },
      ],
      equalTime: { reference: 'moe', arms: ['dense-active', 'dense-total'] },
    },
  ];
}

export function suiteNamed(scale: Scale, name: string): SuiteSpec {
  const s = suites(scale).find((x) => x.name === name);
  if (!s) throw new Error(`unknown experiment "${name}"; the suites are ${suites(scale).map((x) => x.name).join(', ')} (and all)`);
  return s;
}

/**
 * Seconds per base-arm step and per-arm overhead (set-up, evaluations, the final measurements) on the machine in
 * BENCHMARKS.md "Experiments" (2 cores): the estimates `experiment list` prints.
 */
const BASE_STEP_SECONDS = { full: 0.5, quick: 0.05 };
const ARM_OVERHEAD_SECONDS = { full: 15, quick: 2 };

/** Whether an arm's settings are the base's (an empty change, or one that repeats the base's values). */
function isBase(a: ArmSpec, scale: Scale): boolean {
  return Object.entries(a.change).every(([k, v]) => JSON.stringify(v) === JSON.stringify((scale.base as Record<string, unknown>)[k]));
}

/** Estimated seconds for a suite of `steps` per arm; `baseDone`: an earlier suite already trained the base arm. */
export function estimateSeconds(suite: SuiteSpec, scale: Scale, steps: number, seeds: number, quick: boolean, baseDone = false): number {
  const size = quick ? 'quick' : 'full';
  const arms = suite.arms.filter((a) => !(baseDone && isBase(a, scale)));
  // Each equal-time rerun takes the reference arm's time, the base's.
  const units = arms.reduce((u, a) => u + a.cost, 0) + (suite.equalTime?.arms.length ?? 0);
  const count = arms.length + (suite.equalTime?.arms.length ?? 0);
  return seeds * (units * steps * BASE_STEP_SECONDS[size] + count * ARM_OVERHEAD_SECONDS[size]);
}
