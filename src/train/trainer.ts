// The training loop: batches (with an optional batch-size ramp and gradient accumulation), forward/backward,
// clipping and AdamW on a warmup–constant–cosine schedule, auxiliary-loss-free bias updates, validation, metrics
// (JSONL) and checkpoints, a time budget, and a clean stop on request (Ctrl-C) that saves first.

import * as fs from 'node:fs';
import * as path from 'node:path';
import { Heap } from '../tensor/heap.js';
import { fromF32, dispose, type Tensor } from '../tensor/tensor.js';
import type { BackwardKernels } from '../kernels/backend.js';
import { createBackend, backwardFor } from '../kernels/select.js';
import type { ModelConfig } from '../model/config.js';
import { makeContext } from '../model/context.js';
import { loadWeights } from '../model/weights.js';
import { DeepSeekModel } from '../model/transformer.js';
import { modelInfo } from '../model/info.js';
import { namedParams, gradsLike, shareMtpEmbeddings, zeroGrads } from './grads.js';
import { trainForwardBackward, type LossOptions, type StepLosses } from './model-train.js';
import { AdamW } from './optimizer.js';
import { defaultLrSchedule, learningRate, batchSize, type LrSchedule } from './schedule.js';
import { Batcher, unigramBitsPerByte, type BatcherState } from './data.js';
import { prepareData, freshConfig, freshWeights, f32Source, checkpointConfig, readTokenizerFiles, type RunData } from './setup.js';
import { saveCheckpoint, latestCheckpoint, modelTensors, readTensorsInto, tensorToWrite } from './checkpoint.js';
import { validationLoss, bitsPerByte } from './evaluate.js';
import { RESUME_KEYS, validateTrainOptions, mtpWeightAt, type TrainOptions } from './options.js';
import { benchMatmul } from '../bench/matmul.js';
import { benchFmaPeak } from '../bench/fma-peak.js';
import type { WasmBackend } from '../kernels/wasm/backend.js';
import { withPrecision } from './precision.js';

export interface StepMetrics {
  step: number; totalSteps: number; lr: number; batch: number; loss: number; ce: number; mtpLoss: number | null;
  balanceLoss: number; gradNorm: number; tokensPerSec: number; elapsedSec: number;
  mfu: number;      // model FLOPs per second over the start-up matmul peak (a 256³ f32 matmul, same threads)
  mfuFma: number;   // model FLOPs per second over the measured f32x4 multiply-add ceiling (same threads)
  expertLoads: number[][]; maxVio: number[];   // per MoE layer: fraction of routed slots per expert; max load/mean − 1
  valLoss?: number; valBpb?: number; skipped?: boolean;
  valMtpAgreement?: number;  // at evaluations, with an MTP module: its greedy agreement with the main model
}

/** The two denominators of MFU, measured at start-up with the run's threads, in GFLOP/s. */
export interface PeakFlops { matmul: number; fma: number; threads: number }

export interface TrainEvents {
  log(msg: string): void;
  warn(msg: string): void;
  start(info: { totalSteps: number; startStep: number; params: number; activeParams: number; backend: string; peaks: PeakFlops }): void;
  step(m: StepMetrics): void;
}

export interface TrainResult {
  dir: string; steps: number; valLoss: number; valBpb: number; valMtpAgreement: number | null; unigramBpb: number;
  interrupted: boolean; model: DeepSeekModel; data: RunData;
  bw: BackwardKernels;  // the run's backward kernels (with its precision), for further evaluation of `model`
}

const MAX_BAD_STEPS = 5;

/**
 * Runs (or resumes) training; resolves when done, out of budget, or stopped by `signal` — always with a checkpoint.
 * `prepared`: the corpus already split and tokenized for these options (experiments run many arms on one corpus);
 * it must be what prepareData gives for o.data, o.seed, o.valFraction and o.vocabSize.
 */
export async function train(o: TrainOptions, ev: TrainEvents, signal?: AbortSignal, prepared?: RunData): Promise<TrainResult> {
  validateTrainOptions(o);
  if (o.maxSteps === undefined && o.timeBudgetSec === undefined && !o.resume) throw new Error('give --max-steps or --time-budget (or both)');
  fs.mkdirSync(o.out, { recursive: true });
  try { fs.accessSync(o.out, fs.constants.W_OK); } catch { throw new Error(`${o.out}: the run folder cannot be written`); }

  // Where the run starts: a checkpoint to resume, a model to fine-tune, or nothing.
  const resumeDir = o.resume ? latestCheckpoint(o.out) : null;
  if (o.resume && !resumeDir) throw new Error(`--resume: ${o.out} has no checkpoint to resume`);
  let state: Record<string, unknown> | null = null;
  if (resumeDir) {
    state = JSON.parse(fs.readFileSync(path.join(resumeDir, 'trainer_state.json'), 'utf8'));
    const saved = state!.options as Record<string, unknown>;
    for (const k of RESUME_KEYS) {
      if (JSON.stringify(saved[k] ?? null) !== JSON.stringify(o[k] ?? null)) {
        throw new Error(`--resume: the checkpoint in ${resumeDir} was trained with ${k} = ${JSON.stringify(saved[k])}, this run asks for ${JSON.stringify(o[k])}`);
      }
    }
  } else if (!o.resume && latestCheckpoint(o.out) && !o.model) {
    throw new Error(`${o.out} already holds a training run; pass --resume to continue it or choose another --out`);
  }
  const base = resumeDir ?? o.model ?? null;
  if (prepared && o.model) throw new Error('train: prepared data is for fresh runs; a fine-tuning run reads its checkpoint\'s tokenizer');
  const data = prepared ?? prepareData(o, base ? readTokenizerFiles(base) : null, ev.warn, ev.log);
  ev.log(`data: ${data.source}: ${data.documents.train} training / ${data.documents.val} validation documents, ${data.train.length} / ${data.val.length} tokens`);

  let cfg: ModelConfig;
  const bosId = data.tokenizer.tokenToId('<｜begin▁of▁sentence｜>') ?? 0;
  if (base) {
    cfg = checkpointConfig(base);
    if (data.tokenizer.vocabSize > cfg.vocabSize) throw new Error(`${base}: tokenizer has ${data.tokenizer.vocabSize} tokens, config.json vocab_size ${cfg.vocabSize}`);
  } else {
    cfg = freshConfig(o, data.tokenizer.vocabSize, bosId, data.eosId);
  }
  const heap = new Heap(64 << 20);
  // Training keeps every tensor beside its gradients in one memory: no weight arenas.
  const weights = loadWeights(cfg, base ? f32Source(base, cfg) : freshWeights(cfg, o.seed), heap, { arenaBytes: Number.POSITIVE_INFINITY });
  const fast = createBackend(heap, { kernels: o.kernels, threads: o.threads });
  const precision = withPrecision(fast, backwardFor(fast), heap, weights, o.precision);
  const backend = precision.backend, bw: BackwardKernels = precision.bw;
  const model = new DeepSeekModel(makeContext(cfg, backend, heap), weights, true);
  shareMtpEmbeddings(weights);
  const grads = gradsLike(heap, weights);
  const params = namedParams(weights, cfg.numHiddenLayers), gparams = namedParams(grads, cfg.numHiddenLayers);
  const opt = new AdamW(heap, params, gparams, {
    beta1: o.beta1, beta2: o.beta2, eps: 1e-8, weightDecay: o.weightDecay, clip: o.clip, momentDtype: o.precision.startsWith('fp8') ? 'bf16' : 'f32',
  });
  const batcher = new Batcher(data.train, o.microBatch, o.seqLen, o.seed);
  let step = 0, totalSteps = o.maxSteps ?? 0;
  if (state) {
    const moments = new Map<string, Tensor>();
    params.forEach((p, i) => { moments.set(`${p.name}.exp_avg`, opt.m[i]); moments.set(`${p.name}.exp_avg_sq`, opt.v[i]); });
    readTensorsInto(path.join(resumeDir!, 'optimizer.safetensors'), moments);
    step = state.step as number;
    opt.step = state.optimizerStep as number;
    totalSteps = state.totalSteps as number;
    batcher.restore(state.data as BatcherState);
    ev.log(`resumed ${resumeDir} at step ${step} of ${totalSteps}`);
  }

  const info = modelInfo(cfg, null);
  const active = info.activeParams + info.mtpParams;
  const flopsPerToken = 6 * (active - cfg.vocabSize * cfg.hiddenSize) + 6 * cfg.numHiddenLayers * o.seqLen * cfg.numAttentionHeads * (cfg.qkNopeHeadDim + cfg.qkRopeHeadDim + cfg.vHeadDim) / 2;
  const peakThreads = 'run' in fast ? (fast as WasmBackend).threads : 1;  // the reference kernels run on one thread
  const peaks: PeakFlops = {
    matmul: (await benchMatmul({ T: 256, C: 256, OC: 256, dtype: 'f32', kernels: o.kernels ?? 'wasm', threads: o.threads, minMs: 100 })).gflops,
    fma: (await benchFmaPeak({ threads: peakThreads, minMs: 100 })).gflops,
    threads: peakThreads,
  };
  const lossOpts: LossOptions = {
    mtpWeight: o.mtpWeight,
    balance: o.seqAuxAlpha > 0 ? { mode: 'sequence', alpha: o.seqAuxAlpha } : o.auxLossAlpha > 0 ? { mode: 'batch', alpha: o.auxLossAlpha } : { mode: 'off', alpha: 0 },
  };
  const moeBiases = [...weights.layers.map((l) => l.ffn), ...weights.mtp.map((m) => m.layer.ffn)]
    .flatMap((f) => (f.kind === 'moe' && f.moe.bias ? [f.moe.bias] : []));
  const metricsFile = path.join(o.out, 'metrics.jsonl');
  if (!state) fs.writeFileSync(metricsFile, '');
  const unigramBpb = unigramBitsPerByte(data.train, data.val, data.valBytes, cfg.vocabSize);
  const tokensPerByte = data.val.length / data.valBytes;

  const started = performance.now();
  const elapsed = () => (performance.now() - started) / 1000;
  let schedule: LrSchedule | null = totalSteps > 0 ? scheduleFor(o, totalSteps) : null;
  let bad = 0, interrupted = false, lastVal = { loss: NaN, bpb: NaN, mtpAgreement: null as number | null };
  const save = () => saveCheckpoint(o.out, step, {
    cfg, model: modelTensors(cfg, weights, params),
    optimizer: params.flatMap((p, i) => [tensorToWrite(`${p.name}.exp_avg`, opt.m[i]), tensorToWrite(`${p.name}.exp_avg_sq`, opt.v[i])]),
    tokenizerJson: data.tokenizerJson, tokenizerConfig: data.tokenizerConfig,
    state: { step, optimizerStep: opt.step, totalSteps, data: batcher.state(), options: Object.fromEntries(RESUME_KEYS.map((k) => [k, o[k] ?? null])) },
  });
  const evaluate = () => {
    const r = validationLoss(model, bw, data.val, o.seqLen, o.evalWindows);
    lastVal = { loss: r.loss, bpb: bitsPerByte(r.loss, tokensPerByte), mtpAgreement: r.mtpAgreement };
    return lastVal;
  };

  ev.start({ totalSteps, startStep: step, params: info.totalParams + info.mtpParams, activeParams: active, backend: backend.name, peaks });
  let tokensSeen = 0;
  while (totalSteps === 0 || step < totalSteps) {
    await new Promise((resolve) => setImmediate(resolve)); // let signals (Ctrl-C) and I/O in between steps
    if (signal?.aborted) { interrupted = true; break; }
    if (o.timeBudgetSec !== undefined && elapsed() > o.timeBudgetSec) break;
    const t0 = performance.now();
    const B = batchSize({ start: o.batchStart, full: o.batch, rampSteps: o.batchRampSteps }, step);
    const micro = Math.max(1, Math.round(B / o.microBatch));
    lossOpts.mtpWeight = mtpWeightAt(o, step, totalSteps);
    zeroGrads(grads);
    const sum: StepLosses = { loss: 0, ce: 0, mtpCe: [], balance: 0, expertCounts: [] };
    for (let m = 0; m < micro; m++) {
      const batch = batcher.next();
      const tokens = new Int32Array(o.microBatch * (o.seqLen + 1));
      for (let r = 0; r < o.microBatch; r++) {
        tokens.set(batch.inputs.subarray(r * o.seqLen, (r + 1) * o.seqLen), r * (o.seqLen + 1));
        tokens[r * (o.seqLen + 1) + o.seqLen] = batch.targets[(r + 1) * o.seqLen - 1];
      }
      const r = trainForwardBackward(model.ctx, bw, weights, grads, tokens, o.microBatch, o.seqLen, lossOpts);
      sum.loss += r.loss / micro; sum.ce += r.ce / micro; sum.balance += r.balance / micro;
      r.mtpCe.forEach((x, k) => { sum.mtpCe[k] = (sum.mtpCe[k] ?? 0) + x / micro; });
      r.expertCounts.forEach((c, k) => { sum.expertCounts[k] = sum.expertCounts[k] ? sum.expertCounts[k].map((x, e) => x + c[e]) : c; });
    }
    if (micro > 1) for (const g of gparams) bw.scaleInPlace(g.w, 1 / micro);
    const lr = schedule ? learningRate(schedule, step) : o.lr * Math.min(1, (step + 1) / 5);
    let gradNorm = NaN, skipped = false;
    if (Number.isFinite(sum.loss)) gradNorm = opt.update(bw, lr);
    if (Number.isFinite(gradNorm)) precision.refresh();
    if (!Number.isFinite(sum.loss) || !Number.isFinite(gradNorm)) {
      skipped = true;
      bad += 1;
      ev.warn(`step ${step}: ${Number.isFinite(sum.loss) ? 'gradient' : 'loss'} is not finite; the step is skipped`);
      if (bad >= MAX_BAD_STEPS) throw new Error(`training stopped: ${bad} consecutive steps with a non-finite loss or gradient (lower --lr?)`);
    } else {
      bad = 0;
      if (o.gamma > 0) {
        sum.expertCounts.forEach((c, k) => {
          const t = fromF32(heap, c, [c.length]);
          bw.balanceBiasUpdate(moeBiases[k], t, o.gamma, o.biasUpdate);
          dispose(t);
        });
      }
    }
    step += 1;
    const dt = (performance.now() - t0) / 1000, tokens = B * o.seqLen;
    tokensSeen += tokens;
    if (!schedule && o.timeBudgetSec !== undefined && step >= 3) {
      // A time budget without --max-steps: fix the schedule's length from the measured step time.
      totalSteps = Math.max(step + 1, Math.floor((o.timeBudgetSec * step) / elapsed()));
      schedule = scheduleFor(o, totalSteps);
      ev.log(`time budget ${o.timeBudgetSec}s at ${dt.toFixed(2)} s/step: ${totalSteps} steps`);
    }
    const loads = sum.expertCounts.map((c) => { const tot = c.reduce((a, x) => a + x, 0) || 1; return Array.from(c, (x) => x / tot); });
    const m: StepMetrics = {
      step, totalSteps, lr, batch: B, loss: sum.loss, ce: sum.ce, mtpLoss: sum.mtpCe.length ? sum.mtpCe[0] : null,
      balanceLoss: sum.balance, gradNorm, tokensPerSec: tokens / dt, elapsedSec: elapsed(),
      mfu: (tokens / dt) * flopsPerToken / (peaks.matmul * 1e9), mfuFma: (tokens / dt) * flopsPerToken / (peaks.fma * 1e9),
      expertLoads: loads, maxVio: loads.map((l) => Math.max(...l) * l.length - 1), skipped,
    };
    if (step % o.evalEvery === 0 || step === totalSteps) {
      const v = evaluate();
      m.valLoss = v.loss; m.valBpb = v.bpb;
      if (v.mtpAgreement !== null) m.valMtpAgreement = v.mtpAgreement;
    }
    fs.appendFileSync(metricsFile, JSON.stringify(m) + '\n');
    ev.step(m);
    if (step % o.checkpointEvery === 0 && step !== totalSteps) save();
  }
  if (Number.isNaN(lastVal.loss) || step % o.evalEvery !== 0) evaluate();
  const dir = save();
  ev.log(`${tokensSeen} tokens in ${elapsed().toFixed(0)} s`);
  return { dir, steps: step, valLoss: lastVal.loss, valBpb: lastVal.bpb, valMtpAgreement: lastVal.mtpAgreement, unigramBpb, interrupted, model, data, bw };
}

function scheduleFor(o: TrainOptions, total: number): LrSchedule {
  const s = defaultLrSchedule(o.lr, total, o.minLrRatio);
  return o.warmupSteps !== undefined ? { ...s, warmupSteps: o.warmupSteps, decayStart: Math.max(s.decayStart, o.warmupSteps) } : s;
}
