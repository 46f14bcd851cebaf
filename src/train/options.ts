// Every knob of a training run, with the paper's defaults and range checks that name the option.
// The CLI maps flags onto this; library users pass it directly.

export type Precision = 'f32' | 'bf16' | 'fp8' | 'fp8-per-tensor' | 'fp8-low-acc';
export type BiasUpdate = 'sign' | 'proportional';

/** Where λ drops from mtpWeight to mtpWeightLate: the paper's 10T of 14.8T training tokens. */
export const MTP_SWITCH = 10 / 14.8;

/** λ at 0-based `step` of a run of `totalSteps` (0 = length not known yet: the early weight). */
export function mtpWeightAt(o: Pick<TrainOptions, 'mtpWeight' | 'mtpWeightLate'>, step: number, totalSteps: number): number {
  return totalSteps > 0 && step >= Math.round(totalSteps * MTP_SWITCH) ? o.mtpWeightLate : o.mtpWeight;
}

export interface TrainOptions {
  out: string;                  // run folder: checkpoints, metrics.jsonl
  data?: string;                // text file, folder of .txt/.md, or .jsonl; default: the Brown corpus
  preset: string;               // model preset for a fresh run
  set: Record<string, unknown>; // config.json overrides for a fresh run
  model?: string;               // fine-tune this checkpoint instead of a fresh model
  resume: boolean;
  dense: boolean;               // the dense baseline with the same active parameters
  precision: Precision;
  seed: number;
  seqLen: number;               // T
  microBatch: number;           // sequences per forward/backward
  batch: number;                // sequences per optimizer step (gradient accumulation = batch / microBatch)
  batchStart: number;           // batch-size ramp: from this many sequences…
  batchRampSteps: number;       // …to `batch` over this many steps (0 = no ramp)
  maxSteps?: number;
  timeBudgetSec?: number;
  checkpointEvery: number;
  evalEvery: number;
  evalWindows: number;          // validation windows of T tokens per evaluation
  lr: number;
  minLrRatio: number;
  warmupSteps?: number;
  weightDecay: number;
  clip: number;
  beta1: number;
  beta2: number;
  vocabSize: number;            // BPE vocabulary trained for a fresh run
  valFraction: number;
  gamma: number;                // aux-loss-free bias update speed (0 = off); 0.01, not the paper's 0.001 (see DEFAULT_TRAIN)
  biasUpdate: BiasUpdate;       // how the bias moves: by γ·sign(violation) (the paper) or γ·relative violation
  seqAuxAlpha: number;          // complementary sequence-wise balance loss (0 = off)
  auxLossAlpha: number;         // classic batch-wise auxiliary balance loss, for comparison (0 = off)
  mtpWeight: number;            // λ for the first MTP_SWITCH of the run (paper: 0.3 for the first 10T of 14.8T tokens)
  mtpWeightLate: number;        // λ after it (paper: 0.1)
  threads?: number;
  kernels?: 'wasm' | 'ref';
  sample: boolean;              // print a sample at the end
}

// γ: the paper's 0.001 serves 2.3×10^5 steps; in a run of a few hundred steps it leaves the default model unbalanced
// (MaxVio_batch ≈ 0.5 after 300 steps), where 0.01 balances it by step 100 at no cost in loss: `qiusuo experiment gamma`.
export const DEFAULT_TRAIN: Omit<TrainOptions, 'out'> = {
  preset: 'nano', set: {}, resume: false, dense: false, precision: 'f32', seed: 0,
  seqLen: 128, microBatch: 8, batch: 16, batchStart: 16, batchRampSteps: 0,
  checkpointEvery: 100, evalEvery: 50, evalWindows: 32,
  lr: 3e-3, minLrRatio: 0.1, weightDecay: 0.1, clip: 1.0, beta1: 0.9, beta2: 0.95,
  vocabSize: 4096, valFraction: 0.05, gamma: 0.01, biasUpdate: 'sign', seqAuxAlpha: 1e-4, auxLossAlpha: 0,
  mtpWeight: 0.3, mtpWeightLate: 0.1, sample: true,
};

export function validateTrainOptions(o: TrainOptions): void {
  const int = (name: string, v: number | undefined, min: number, max = Number.MAX_SAFE_INTEGER) => {
    if (v !== undefined && (!Number.isInteger(v) || v < min || v > max)) throw new Error(`--${name} must be an integer in [${min}, ${max}], got ${v}`);
  };
  const num = (name: string, v: number | undefined, min: number, max: number, minOpen = false) => {
    if (v !== undefined && (!Number.isFinite(v) || (minOpen ? v <= min : v < min) || v > max)) {
      throw new Error(`--${name} must be a number in ${minOpen ? '(' : '['}${min}, ${max}], got ${v}`);
    }
  };
  int('seq-len', o.seqLen, 2, 65536); int('micro-batch', o.microBatch, 1, 4096); int('batch', o.batch, 1, 1 << 20);
  int('batch-start', o.batchStart, 1, 1 << 20); int('batch-ramp-steps', o.batchRampSteps, 0);
  int('max-steps', o.maxSteps, 1); int('checkpoint-every', o.checkpointEvery, 1); int('eval-every', o.evalEvery, 1);
  int('eval-windows', o.evalWindows, 1); int('warmup-steps', o.warmupSteps, 0); int('vocab-size', o.vocabSize, 512, 1 << 20);
  int('seed', o.seed, 0, 2 ** 32 - 1); int('threads', o.threads, 1, 256);
  num('time-budget', o.timeBudgetSec, 0, 1e9, true); num('lr', o.lr, 0, 1, true); num('min-lr-ratio', o.minLrRatio, 0, 1);
  num('weight-decay', o.weightDecay, 0, 10); num('clip', o.clip, 0, 1e6); num('beta1', o.beta1, 0, 1); num('beta2', o.beta2, 0, 1);
  num('val-fraction', o.valFraction, 0, 0.5, true); num('gamma', o.gamma, 0, 1); num('seq-aux-alpha', o.seqAuxAlpha, 0, 10);
  num('aux-loss-alpha', o.auxLossAlpha, 0, 10); num('mtp-weight', o.mtpWeight, 0, 10); num('mtp-weight-late', o.mtpWeightLate, 0, 10);
  if (!['sign', 'proportional'].includes(o.biasUpdate)) throw new Error(`--bias-update must be sign or proportional, got "${o.biasUpdate}"`);
  if (o.batch % o.microBatch !== 0) throw new Error(`--batch (${o.batch}) must be a multiple of --micro-batch (${o.microBatch})`);
  if (o.batchStart % o.microBatch !== 0) throw new Error(`--batch-start (${o.batchStart}) must be a multiple of --micro-batch (${o.microBatch})`);
  if (!['f32', 'bf16', 'fp8', 'fp8-per-tensor', 'fp8-low-acc'].includes(o.precision)) throw new Error(`--precision must be f32, bf16, fp8, fp8-per-tensor or fp8-low-acc, got "${o.precision}"`);
  if (o.seqAuxAlpha > 0 && o.auxLossAlpha > 0) throw new Error('choose one balance loss: --seq-aux-alpha (complementary) or --aux-loss-alpha (classic)');
  if (o.resume && o.model) throw new Error('--resume continues the run in --out; it cannot be combined with --model');
}

/** Options that must match for --resume to continue a run exactly. */
export const RESUME_KEYS = ['seqLen', 'microBatch', 'batch', 'batchStart', 'batchRampSteps', 'precision', 'dense', 'seed', 'data', 'valFraction', 'vocabSize', 'gamma', 'biasUpdate', 'seqAuxAlpha', 'auxLossAlpha', 'mtpWeight', 'mtpWeightLate'] as const;
