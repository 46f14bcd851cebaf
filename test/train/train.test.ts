// The training loop end to end on a tiny model and a small generated corpus: the loss falls, each recipe switch is
// wired in (balancing bias from the loads of every micro-batch, balance loss, MTP weight, precision, the LR
// schedule), checkpoints resume exactly, and bad input gives clear errors. Kept small: each run is a few steps of
// 16-token sequences.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { train, type PeakFlops, type StepMetrics, type TrainEvents } from '../../src/train/trainer.js';
import { DEFAULT_TRAIN, type TrainOptions } from '../../src/train/options.js';
import { DeepSeekModel } from '../../src/model/transformer.js';
import { scoreTokens } from '../../src/generate/score.js';
import { f32 } from '../../src/tensor/tensor.js';
import { Heap } from '../../src/tensor/heap.js';
import { loadWeights } from '../../src/model/weights.js';
import { makeContext } from '../../src/model/context.js';
import { refBackend } from '../../src/kernels/ref/index.js';
import { refBackward } from '../../src/kernels/ref/backward.js';
import { freshWeights, freshConfig } from '../../src/train/setup.js';
import { modelInfo } from '../../src/model/info.js';
import { Batcher } from '../../src/train/data.js';
import { gradsLike, shareMtpEmbeddings, zeroGrads } from '../../src/train/grads.js';
import { trainForwardBackward } from '../../src/train/model-train.js';
import { Rng } from '../../src/util/random.js';
import { loadRefModel, refForward } from '../reference/deepseek-f64.js';

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'qiusuo-train-'));
process.on('exit', () => fs.rmSync(root, { recursive: true, force: true }));

/** A folder of small seeded English-like documents. */
function corpus(name: string, docs = 12): string {
  const dir = path.join(root, name);
  fs.mkdirSync(dir, { recursive: true });
  const rng = new Rng(7);
  const words = ['the', 'cat', 'sat', 'on', 'a', 'mat', 'and', 'dog', 'ran', 'to', 'house', 'red', 'big', 'small', 'under', 'tree', 'bird', 'sang', 'morning', 'light'];
  for (let d = 0; d < docs; d++) {
    const sentences = Array.from({ length: 40 }, () => {
      const n = 4 + (rng.nextU32() % 6);
      const w = Array.from({ length: n }, () => words[rng.nextU32() % words.length]);
      return w[0][0].toUpperCase() + w.join(' ').slice(1) + '.';
    });
    fs.writeFileSync(path.join(dir, `doc${d}.txt`), sentences.join(' '));
  }
  return dir;
}

const data = corpus('corpus');

function opts(name: string, extra: Partial<TrainOptions> = {}): TrainOptions {
  return {
    ...DEFAULT_TRAIN, out: path.join(root, name), data, preset: 'tiny', set: { max_position_embeddings: 64, rope_scaling: null },
    seqLen: 16, microBatch: 2, batch: 2, batchStart: 2, maxSteps: 6, checkpointEvery: 3, evalEvery: 3, evalWindows: 2,
    vocabSize: 512, valFraction: 0.2, lr: 1e-2, threads: 2, sample: false, ...extra,
  };
}

function recorder(): { ev: TrainEvents; steps: StepMetrics[]; warnings: string[]; peaks: PeakFlops[] } {
  const steps: StepMetrics[] = [], warnings: string[] = [], peaks: PeakFlops[] = [];
  return { steps, warnings, peaks, ev: { log() {}, warn: (m) => { warnings.push(m); }, start: (i) => { peaks.push(i.peaks); }, step: (m) => { steps.push(m); } } };
}

test('a short run lowers the loss, writes metrics and a checkpoint that loads here and in the float64 reference', async () => {
  const r0 = recorder();
  const r = await train(opts('basic', { maxSteps: 12, checkpointEvery: 100 }), r0.ev);
  try {
    assert.equal(r0.steps.length, 12, 'one metrics record per step');
    assert.ok(r0.steps[11].loss < r0.steps[0].loss - 0.5, `loss falls: ${r0.steps[0].loss} → ${r0.steps[11].loss}`);
    const lines = fs.readFileSync(path.join(root, 'basic', 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    assert.equal(lines.length, 12, 'metrics.jsonl has a line per step');
    for (const k of ['step', 'lr', 'loss', 'mtpLoss', 'balanceLoss', 'gradNorm', 'tokensPerSec', 'mfu', 'mfuFma', 'expertLoads', 'maxVio']) {
      assert.ok(k in lines[0], `metrics have ${k}`);
    }
    // Both MFUs are the same model FLOP/s over their own start-up peak, measured with the run's threads.
    const [peaks] = r0.peaks;
    assert.equal(peaks.threads, 2, 'the peaks are measured with the run\'s threads');
    assert.ok(peaks.fma > 0 && peaks.matmul > 0, `peaks measured: ${JSON.stringify(peaks)}`);
    for (const l of lines) {
      const flops = l.mfu * peaks.matmul;
      assert.ok(Math.abs(l.mfuFma * peaks.fma - flops) <= 1e-9 * flops, `step ${l.step}: mfu ${l.mfu} × ${peaks.matmul} vs mfuFma ${l.mfuFma} × ${peaks.fma}`);
    }
    assert.ok(lines.some((l) => typeof l.valBpb === 'number'), 'validation bits per byte are logged');
    // The MTP agreement rides on every evaluation line and no other (its value is checked in evaluate.test.ts).
    for (const l of lines) {
      if (typeof l.valBpb === 'number') assert.ok(l.valMtpAgreement >= 0 && l.valMtpAgreement <= 1, `step ${l.step}: valMtpAgreement ${l.valMtpAgreement}`);
      else assert.ok(!('valMtpAgreement' in l), `step ${l.step}: no agreement without an evaluation`);
    }
    assert.equal(r.valMtpAgreement, lines.at(-1).valMtpAgreement, 'the result carries the last agreement');
    // The checkpoint: standard HF names and keys, so our strict loader and the independent float64 reference both
    // load it, and they agree on its logits and MTP logits.
    const tokens = [5, 9, 11, 300, 42, 7, 256, 99];
    const ref = refForward(loadRefModel(r.dir), tokens, { mtp: true });
    assert.ok(ref.mtpLogits && ref.mtpLogits.length === tokens.length - 1, 'the reference finds the MTP layer');
    assert.ok(ref.minTieGap > 1e-5, `routing near-tie (${ref.minTieGap}): pick other tokens so the comparison means something`);
    const m = DeepSeekModel.load(r.dir, { kernels: 'ref' });
    try {
      const ours = scoreTokens(m, tokens, { mtp: true });
      const maxDiff = (a: Float32Array[], b: number[][]) => Math.max(...a.map((row, i) => Math.max(...row.map((x, j) => Math.abs(x - b[i][j])))));
      assert.equal(ours.logits.length, ref.logits.length);
      assert.ok(maxDiff(ours.logits, ref.logits) < 1e-4, `logits differ from the reference by ${maxDiff(ours.logits, ref.logits)}`);
      assert.ok(maxDiff(ours.mtpLogits!, ref.mtpLogits) < 1e-4, `MTP logits differ from the reference by ${maxDiff(ours.mtpLogits!, ref.mtpLogits)}`);
      assert.ok(Math.max(...ref.logits.flat().map(Math.abs)) > 0.3, 'logits large enough to show a difference');
    } finally {
      await m.dispose();
    }
  } finally {
    await r.model.dispose();
  }
});

test('resume continues exactly: the same losses as an uninterrupted run', async () => {
  const full = recorder(), first = recorder(), second = recorder();
  const a = await train(opts('uninterrupted'), full.ev);
  await a.model.dispose();
  const c = new AbortController();
  const half = await train(opts('interrupted'), { ...first.ev, step: (m) => { first.steps.push(m); if (m.step === 3) c.abort(); } }, c.signal);
  assert.ok(half.interrupted, 'the run stopped on request');
  await half.model.dispose();
  const b = await train(opts('interrupted', { resume: true }), second.ev);
  await b.model.dispose();
  const losses = [...first.steps, ...second.steps].map((m) => m.loss);
  assert.deepEqual(losses, full.steps.map((m) => m.loss), 'losses of the resumed run equal the uninterrupted run');
});

test('aux-loss-free balancing moves the router bias by ±γ per step; γ = 0 leaves it at 0', async () => {
  const bias = async (gamma: number) => {
    const r = await train(opts(`gamma-${gamma}`, { gamma, maxSteps: 2 }), recorder().ev);
    const layer = r.model.weights.layers[1];
    assert.equal(layer.ffn.kind, 'moe', 'layer 1 of tiny is MoE');
    const b = layer.ffn.kind === 'moe' ? Array.from(f32(layer.ffn.moe.bias!)) : [];
    await r.model.dispose();
    return b;
  };
  const off = await bias(0), on = await bias(0.01);
  assert.ok(off.every((x) => x === 0), 'no bias updates without γ');
  for (const x of on) assert.ok([-0.02, 0, 0.02].some((v) => Math.abs(x - v) < 1e-7) && Math.abs(x) <= 0.02 + 1e-7, `bias ${x} is a sum of two ±γ steps`);
  assert.ok(on.some((x) => x !== 0), 'unbalanced loads moved some bias');
});

test('the bias update counts the loads of every micro-batch of the step; an overloaded expert\'s bias goes down', async () => {
  // One step of 4 sequences in 2 micro-batches. Replay them on the same fresh weights, count each micro-batch's loads
  // per MoE layer, and work out b = γ·sign(mean − load) from the sum.
  const gamma = 0.01;
  const o = opts('accumulate', { gamma, batch: 4, batchStart: 4, microBatch: 2, maxSteps: 1, kernels: 'ref', evalEvery: 100 });
  const rec = recorder();
  const r = await train(o, rec.ev);
  try {
    const cfg = r.model.cfg, heap = new Heap(32 << 20);
    const weights = loadWeights(cfg, freshWeights(cfg, o.seed), heap);
    shareMtpEmbeddings(weights);
    const ctx = makeContext(cfg, refBackend, heap), grads = gradsLike(heap, weights);
    const batcher = new Batcher(r.data.train, o.microBatch, o.seqLen, o.seed), T = o.seqLen;
    const perMicro = [0, 1].map(() => {
      const b = batcher.next(), tokens = new Int32Array(o.microBatch * (T + 1));
      for (let i = 0; i < o.microBatch; i++) {
        tokens.set(b.inputs.subarray(i * T, (i + 1) * T), i * (T + 1));
        tokens[i * (T + 1) + T] = b.targets[(i + 1) * T - 1];
      }
      zeroGrads(grads);
      return trainForwardBackward(ctx, refBackward, weights, grads, tokens, o.microBatch, T, { mtpWeight: o.mtpWeight, balance: { mode: 'sequence', alpha: o.seqAuxAlpha } }).expertCounts;
    });
    const update = (load: ArrayLike<number>) => {
      const mean = Array.from(load).reduce((a, x) => a + x, 0) / load.length;
      return Array.from(load, (x) => (x > mean ? -gamma : x < mean ? gamma : 0));
    };
    const biases = [...r.model.weights.layers, ...r.model.weights.mtp.map((m) => m.layer)]
      .flatMap((l) => (l.ffn.kind === 'moe' ? [Array.from(f32(l.ffn.moe.bias!))] : []));
    assert.equal(biases.length, perMicro[0].length, 'one bias per MoE layer (main, then MTP)');
    let distinguishes = false;
    biases.forEach((bias, k) => {
      const total = perMicro[0][k].map((x, e) => x + perMicro[1][k][e]), want = update(total);
      const last = update(perMicro[1][k]);
      if (want.some((x, e) => x !== last[e])) distinguishes = true;
      bias.forEach((x, e) => assert.ok(Math.abs(x - want[e]) < 1e-7, `MoE layer ${k}: bias[${e}] = ${x}, want ${want[e]} (loads ${total.join(' ')})`));
      const busiest = total.indexOf(Math.max(...total));
      assert.ok(Math.abs(bias[busiest] + gamma) < 1e-7, `MoE layer ${k}: the busiest expert ${busiest}'s bias went down`);
      const tot = total.reduce((a, x) => a + x, 0);
      rec.steps[0].expertLoads[k].forEach((x, e) => assert.ok(Math.abs(x - total[e] / tot) < 1e-6, `MoE layer ${k}: logged load of expert ${e}`));
    });
    assert.ok(distinguishes, 'the last micro-batch alone would give another bias (else this test could not tell)');
  } finally {
    await r.model.dispose();
  }
});

test('the learning rate follows warmup → constant → cosine → tail, as worked by hand', async () => {
  // 10 steps, --warmup-steps 2, peak 1e-2, floor 0.2·peak: the default shape puts the decay from step 6 to step 9.
  // warmup (s + 1)/2·peak; cosine p = (s − 6)/3: 2e-3 + 8e-3·(1 + cos πp)/2 → p = 1/3: 8e-3, p = 2/3: 4e-3; then the floor.
  const rec = recorder();
  const r = await train(opts('lr', { maxSteps: 10, warmupSteps: 2, lr: 1e-2, minLrRatio: 0.2, evalEvery: 100, checkpointEvery: 100 }), rec.ev);
  await r.model.dispose();
  const want = [5e-3, 1e-2, 1e-2, 1e-2, 1e-2, 1e-2, 1e-2, 8e-3, 4e-3, 2e-3];
  rec.steps.forEach((m, i) => assert.ok(Math.abs(m.lr - want[i]) < 1e-12, `step ${i}: lr ${m.lr}, by hand ${want[i]}`));
  assert.equal(rec.steps.length, want.length);
});

test('the balance loss and the MTP weight are wired in', async () => {
  const first = async (name: string, extra: Partial<TrainOptions>) => {
    const rec = recorder();
    const r = await train(opts(name, { maxSteps: 1, ...extra }), rec.ev);
    await r.model.dispose();
    return rec.steps[0];
  };
  const base = await first('wired-base', { seqAuxAlpha: 0, auxLossAlpha: 0, mtpWeight: 0 });
  assert.equal(base.balanceLoss, 0, 'no balance loss when off');
  assert.ok(Math.abs(base.loss - base.ce) < 1e-6, `without MTP weight and balance loss, loss = CE (${base.loss} vs ${base.ce})`);
  const seq = await first('wired-seq', { seqAuxAlpha: 0.1, mtpWeight: 0 });
  assert.ok(seq.balanceLoss > 0 && Math.abs(seq.loss - seq.ce - seq.balanceLoss) < 1e-6, `sequence-wise balance loss counts (${seq.balanceLoss})`);
  const mtp = await first('wired-mtp', { seqAuxAlpha: 0, mtpWeight: 0.5 });
  assert.ok(mtp.mtpLoss !== null && Math.abs(mtp.loss - mtp.ce - 0.5 * mtp.mtpLoss) < 1e-5, 'loss = CE + λ·MTP CE');
  assert.ok(mtp.gradNorm !== base.gradNorm, 'the MTP loss changes the gradients');
});

// Wiring only: --precision reaches the training matmuls and the run stays close to f32. Whether the rounding is the
// paper's recipe is checked value by value in test/kernels/quantize.test.ts and test/train/precision.test.ts.
test('--precision bf16, fp8 and fp8-per-tensor reach the training matmuls: the loss moves slightly off the f32 run', async () => {
  const first = async (precision: TrainOptions['precision']) => {
    const rec = recorder();
    const r = await train(opts(`precision-${precision}`, { maxSteps: 2, precision }), rec.ev);
    await r.model.dispose();
    return rec.steps.map((m) => m.loss);
  };
  const f = await first('f32'), b = await first('bf16'), e = await first('fp8');
  assert.ok(b[0] !== f[0] && Math.abs(b[0] - f[0]) < 0.05, `bf16 loss ${b[0]} vs f32 ${f[0]}`);
  assert.ok(e[0] !== b[0] && Math.abs(e[0] - f[0]) < 0.1, `fp8 loss ${e[0]} vs bf16 ${b[0]} vs f32 ${f[0]}`);
  const t = await first('fp8-per-tensor');
  assert.ok(t[0] !== e[0] && Math.abs(t[0] - f[0]) < 0.1, `fp8-per-tensor loss ${t[0]} vs fp8 ${e[0]} vs f32 ${f[0]}`);
  await assert.rejects(first('fp16' as TrainOptions['precision']), /--precision must be f32, bf16, fp8, fp8-per-tensor or fp8-low-acc, got "fp16"/);
});

test('bad input: clear errors, nothing half-written', async () => {
  const ev = recorder().ev;
  const empty = path.join(root, 'empty-corpus');
  fs.mkdirSync(empty);
  fs.writeFileSync(path.join(empty, 'a.txt'), '');
  await assert.rejects(train(opts('bad-empty', { data: empty }), ev), /empty-corpus/);
  const tiny = corpus('tiny-corpus', 2);
  await assert.rejects(train(opts('bad-small', { data: tiny, seqLen: 4096, set: {} }), ev), /tokens/);
  await assert.rejects(train(opts('bad-resume', { resume: true }), ev), /no checkpoint to resume/);
  await assert.rejects(train(opts('bad-range', { lr: 5 }), ev), /--lr/);
  await assert.rejects(train(opts('bad-batch', { batch: 3 }), ev), /--batch \(3\) must be a multiple of --micro-batch/);
  const r = await train(opts('bad-incompatible', { maxSteps: 1 }), ev);
  await r.model.dispose();
  await assert.rejects(train(opts('bad-incompatible', { resume: true, seqLen: 8 }), ev), /seqLen/);
  await assert.rejects(train(opts('bad-incompatible', { maxSteps: 1 }), ev), /--resume/);
  const bin = corpus('binary-corpus', 4);
  fs.writeFileSync(path.join(bin, 'blob.txt'), Buffer.from([0, 1, 2, 255, 254, 0, 0]));
  const rec = recorder();
  const ok = await train(opts('binary', { data: bin, maxSteps: 1 }), rec.ev);
  await ok.model.dispose();
  assert.ok(rec.warnings.some((w) => w.includes('blob.txt')), `the binary file is skipped with a warning naming it (${rec.warnings})`);
});

test('a non-finite loss skips the step and stops after repeated ones; an unwritable run folder is refused', async () => {
  const { initCheckpoint } = await import('../../src/model/init.js');
  const { SafetensorsFile, writeSafetensors } = await import('../../src/weights/safetensors.js');
  const dir = path.join(root, 'nan-model');
  initCheckpoint({ preset: 'tiny', out: dir, seed: 3, set: { max_position_embeddings: 64, rope_scaling: null } });
  const file = path.join(dir, 'model.safetensors');
  const f = SafetensorsFile.open(file);
  const tensors = [...f.entries.values()].map((e) => { const d = new Uint8Array(e.byteLength); f.readInto(e.name, d); return { name: e.name, dtype: e.dtype, shape: e.shape, data: d }; });
  f.close();
  const norm = tensors.find((t) => t.name === 'model.norm.weight')!;
  new Float32Array(norm.data.buffer, norm.data.byteOffset, 1)[0] = Number.NaN;
  writeSafetensors(file, tensors);
  const rec = recorder();
  await assert.rejects(train(opts('nan', { model: dir, maxSteps: 10 }), rec.ev), /5 consecutive steps with a non-finite loss/);
  assert.equal(rec.warnings.filter((w) => /not finite; the step is skipped/.test(w)).length, 5, `each bad step is reported (${rec.warnings})`);
  const blocker = path.join(root, 'a-file');
  fs.writeFileSync(blocker, 'x');
  await assert.rejects(train(opts('unused', { out: path.join(blocker, 'run') }), recorder().ev), /a-file/);
});

test('a model without an MTP module logs no MTP agreement', async () => {
  const r = await train(opts('no-mtp', { set: { ...opts('').set, num_nextn_predict_layers: 0 }, mtpWeight: 0, maxSteps: 3 }), recorder().ev);
  try {
    assert.equal(r.model.hasMtp, false);
    const lines = fs.readFileSync(path.join(root, 'no-mtp', 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    assert.ok(typeof lines.at(-1).valBpb === 'number', 'the last step evaluates');
    assert.ok(lines.every((l) => !('valMtpAgreement' in l)), 'no valMtpAgreement field');
    assert.equal(r.valMtpAgreement, null);
  } finally {
    await r.model.dispose();
  }
});

test('--dense trains the dense baseline: no routed experts, as many parameters as the MoE model\'s active ones', async () => {
  const r = await train(opts('dense', { dense: true, maxSteps: 2 }), recorder().ev);
  try {
    const cfg = r.model.cfg;
    assert.equal(cfg.nRoutedExperts, 0, 'no routed experts');
    assert.ok(r.model.weights.layers.every((l) => l.ffn.kind === 'dense'), 'every layer is dense');
    // tiny (D 64, 2 layers): the MoE model's FFNs per token are a 128-wide dense layer and one MoE layer of top-2 +
    // 1 shared 32-wide experts with a 64×8 router: 3·64·128 + 3·64·96 + 512 = 43,520 = 2 layers · 3·64·W → W = 113.3.
    assert.equal(cfg.intermediateSize, 113);
    const moe = modelInfo(freshConfig({ ...opts('moe'), dense: false }, cfg.vocabSize, 0, 1), null), dense = modelInfo(cfg, null);
    assert.ok(Math.abs(dense.activeParams - moe.activeParams) <= 3 * cfg.hiddenSize, `${dense.activeParams} vs ${moe.activeParams}`);
  } finally {
    await r.model.dispose();
  }
});
