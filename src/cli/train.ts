// `qiusuo train` and `qiusuo tokenizer train`: flags → TrainOptions, a live progress bar (a plain line per
// evaluation when stdout is not a terminal), Ctrl-C → save and exit, and the end-of-run summary with a sample.

import { Command, Option } from 'commander';
import cliProgress from 'cli-progress';
import { intOption, floatOption, setOption, stopOnCtrlC } from './options.js';
import { train, type StepMetrics } from '../train/trainer.js';
import { DEFAULT_TRAIN, type TrainOptions, type Precision } from '../train/options.js';
import { loadDocuments, splitDocuments } from '../train/data.js';
import { trainBpe, saveTokenizer } from '../tokenizer/train.js';
import { Generator } from '../generate/engine.js';
import { encodeText } from '../generate/pipeline.js';
import { ChatTemplate } from '../tokenizer/chat.js';

/** "10m", "90s", "1h", "600" (seconds) → seconds. */
export function parseDuration(v: string): number {
  const m = /^(\d+(?:\.\d+)?)(s|m|h)?$/.exec(v.trim());
  if (!m || Number(m[1]) <= 0) throw new Error(`--time-budget must look like 600, 90s, 10m or 1h, got "${v}"`);
  return Number(m[1]) * (m[2] === 'h' ? 3600 : m[2] === 'm' ? 60 : 1);
}

const fmt = (x: number | undefined, d = 3) => (x === undefined || !Number.isFinite(x) ? '–' : x.toFixed(d));
const percent = (x: number) => `${(x * 100).toFixed(1)}%`;

export function addTrainCommands(program: Command): void {
  const d = DEFAULT_TRAIN;
  program.command('train')
    .description('train a DeepSeek-V3-style model (MLA + DeepSeekMoE + MTP) with the paper\'s recipe; default: the Brown corpus')
    .option('--data <path>', 'a text file, a folder of .txt/.md files, or a .jsonl file with a "text" field (default: the Brown corpus)')
    .option('--model <dir>', 'fine-tune this checkpoint instead of training from scratch')
    .option('--preset <name>', 'model preset for a fresh run', d.preset)
    .option('--set <key=json>', 'override a config.json key of the preset (repeatable)', setOption)
    .option('--out <dir>', 'run folder (checkpoints, metrics.jsonl)', 'runs/qiusuo')
    .option('--max-steps <n>', 'optimizer steps', intOption('--max-steps', 1))
    .option('--time-budget <t>', 'stop after this long (e.g. 10m)', parseDuration)
    .option('--checkpoint-every <n>', 'steps between checkpoints', intOption('--checkpoint-every', 1), d.checkpointEvery)
    .option('--eval-every <n>', 'steps between validation', intOption('--eval-every', 1), d.evalEvery)
    .option('--eval-windows <n>', 'validation windows per evaluation', intOption('--eval-windows', 1), d.evalWindows)
    .option('--resume', 'continue the run in --out from its latest checkpoint')
    .addOption(new Option('--precision <p>', 'matmul precision').choices(['f32', 'bf16', 'fp8', 'fp8-per-tensor', 'fp8-low-acc']).default(d.precision))
    .option('--dense', 'train the dense baseline with the same active parameters')
    .option('--seed <s>', 'seed for initialisation, data order and split', intOption('--seed', 0, 2 ** 32 - 1), d.seed)
    .option('--seq-len <n>', 'tokens per sequence', intOption('--seq-len', 2), d.seqLen)
    .option('--micro-batch <n>', 'sequences per forward/backward', intOption('--micro-batch', 1), d.microBatch)
    .option('--batch <n>', 'sequences per optimizer step', intOption('--batch', 1), d.batch)
    .option('--batch-start <n>', 'batch-size ramp: first batch', intOption('--batch-start', 1))
    .option('--batch-ramp-steps <n>', 'batch-size ramp length in steps (0 = none)', intOption('--batch-ramp-steps', 0), d.batchRampSteps)
    .option('--lr <x>', 'peak learning rate', floatOption('--lr', 0, 1, true), d.lr)
    .option('--min-lr-ratio <x>', 'final LR as a fraction of the peak', floatOption('--min-lr-ratio', 0, 1), d.minLrRatio)
    .option('--warmup-steps <n>', 'linear warmup steps (default 5% of the run)', intOption('--warmup-steps', 0))
    .option('--weight-decay <x>', 'AdamW weight decay (not on norms)', floatOption('--weight-decay', 0, 10), d.weightDecay)
    .option('--clip <x>', 'gradient clipping norm (0 = off)', floatOption('--clip', 0, 1e6), d.clip)
    .option('--beta1 <x>', 'AdamW β1', floatOption('--beta1', 0, 1), d.beta1)
    .option('--beta2 <x>', 'AdamW β2', floatOption('--beta2', 0, 1), d.beta2)
    .option('--vocab-size <n>', 'BPE vocabulary trained for a fresh run', intOption('--vocab-size', 512), d.vocabSize)
    .option('--val-fraction <x>', 'share of documents held out', floatOption('--val-fraction', 0, 0.5, true), d.valFraction)
    .option('--gamma <x>', 'auxiliary-loss-free bias update speed γ (0 = off)', floatOption('--gamma', 0, 1), d.gamma)
    .addOption(new Option('--bias-update <rule>', 'how γ moves the bias: by its sign (the paper) or in proportion to the load violation').choices(['sign', 'proportional']).default(d.biasUpdate))
    .option('--seq-aux-alpha <x>', 'complementary sequence-wise balance loss α (0 = off)', floatOption('--seq-aux-alpha', 0, 10), d.seqAuxAlpha)
    .option('--aux-loss-alpha <x>', 'classic auxiliary balance loss α, for comparison (0 = off)', floatOption('--aux-loss-alpha', 0, 10), d.auxLossAlpha)
    .option('--mtp-weight <x>', 'MTP loss weight λ for the first 68% of the run (the paper\'s 10T of 14.8T tokens)', floatOption('--mtp-weight', 0, 10), d.mtpWeight)
    .option('--mtp-weight-late <x>', 'MTP loss weight λ for the rest of the run', floatOption('--mtp-weight-late', 0, 10), d.mtpWeightLate)
    .option('--threads <n>', 'compute threads', intOption('--threads', 1, 256))
    .addOption(new Option('--kernels <kind>', 'wasm SIMD or reference kernels').choices(['wasm', 'ref']))
    .option('--no-sample', 'skip the sample generation at the end')
    .action(async (o) => {
      const opts: TrainOptions = {
        ...d, out: o.out, data: o.data, model: o.model, preset: o.preset, set: o.set ?? {}, resume: !!o.resume, dense: !!o.dense,
        precision: o.precision as Precision, seed: o.seed, seqLen: o.seqLen, microBatch: o.microBatch, batch: o.batch,
        batchStart: o.batchStart ?? o.batch, batchRampSteps: o.batchRampSteps, maxSteps: o.maxSteps, timeBudgetSec: o.timeBudget,
        checkpointEvery: o.checkpointEvery, evalEvery: o.evalEvery, evalWindows: o.evalWindows, lr: o.lr, minLrRatio: o.minLrRatio,
        warmupSteps: o.warmupSteps, weightDecay: o.weightDecay, clip: o.clip, beta1: o.beta1, beta2: o.beta2, vocabSize: o.vocabSize,
        valFraction: o.valFraction, gamma: o.gamma, biasUpdate: o.biasUpdate, seqAuxAlpha: o.seqAuxAlpha, auxLossAlpha: o.auxLossAlpha,
        mtpWeight: o.mtpWeight, mtpWeightLate: o.mtpWeightLate,
        threads: o.threads, kernels: o.kernels, sample: o.sample,
      };
      if (opts.maxSteps === undefined && opts.timeBudgetSec === undefined && !opts.resume) opts.timeBudgetSec = 600;
      await runTrainCommand(opts);
    });

  program.command('tokenizer').description('tokenizer tools')
    .command('train')
    .description('train a byte-level BPE tokenizer (tokenizer.json + tokenizer_config.json)')
    .option('--data <path>', 'a text file, a folder of .txt/.md files, or a .jsonl file (default: the Brown corpus)')
    .requiredOption('--vocab-size <n>', 'vocabulary size, special tokens included', intOption('--vocab-size', 512))
    .requiredOption('--out <dir>', 'output folder')
    .option('--val-fraction <x>', 'share of documents held out (not trained on)', floatOption('--val-fraction', 0, 0.5), 0)
    .option('--seed <s>', 'seed of the split', intOption('--seed', 0, 2 ** 32 - 1), 0)
    .action((o) => {
      const docs = loadDocuments(o.data, { onWarning: (m) => process.stderr.write(`qiusuo: warning: ${m}\n`) });
      const texts = o.valFraction > 0 ? splitDocuments(docs.documents, o.valFraction, o.seed).train : docs.documents;
      const t0 = performance.now();
      const t = trainBpe(texts, o.vocabSize);
      saveTokenizer(o.out, t.json);
      process.stdout.write(`trained ${o.vocabSize} tokens (${t.merges} merges over ${t.words} distinct words) on ${texts.length} documents of ${docs.source} in ${((performance.now() - t0) / 1000).toFixed(1)} s → ${o.out}\n`);
    });
}

async function runTrainCommand(opts: TrainOptions): Promise<void> {
  const tty = process.stdout.isTTY === true;
  const bar = tty ? new cliProgress.SingleBar({
    format: 'step {value}/{total} |{bar}| loss {loss} | val bpb {bpb}{agree} | {tps} tok/s | MFU {mfu} of matmul peak, {mfuFma} of FMA ceiling | ETA {eta_formatted}',
    hideCursor: true, etaBuffer: 20,
  }, cliProgress.Presets.shades_classic) : null;
  const stop = stopOnCtrlC('saving a checkpoint');
  let lastBpb: number | undefined, lastAgree: number | undefined;
  const say = (m: string) => { if (bar) bar.stop(); process.stdout.write(m + '\n'); };
  try {
    const r = await train(opts, {
      log: (m) => process.stdout.write(`${m}\n`),
      warn: (m) => process.stderr.write(`qiusuo: warning: ${m}\n`),
      start: (i) => {
        process.stdout.write(`model: ${(i.params / 1e6).toFixed(2)}M parameters, ${(i.activeParams / 1e6).toFixed(2)}M active; ${i.backend}; run folder ${opts.out}\n`);
        process.stdout.write(`MFU against (${i.peaks.threads} thread${i.peaks.threads === 1 ? '' : 's'}, measured now): start-up 256³ f32 matmul peak ${i.peaks.matmul.toFixed(1)} GFLOP/s, f32x4 FMA ceiling ${i.peaks.fma.toFixed(1)} GFLOP/s\n`);
        bar?.start(i.totalSteps || 1, i.startStep, { loss: '–', bpb: '–', agree: '', tps: '–', mfu: '–', mfuFma: '–' });
      },
      step: (m: StepMetrics) => {
        if (m.valBpb !== undefined) lastBpb = m.valBpb;
        if (m.valMtpAgreement !== undefined) lastAgree = m.valMtpAgreement;
        const payload = { loss: fmt(m.loss), bpb: fmt(lastBpb), agree: lastAgree === undefined ? '' : ` mtp agree ${percent(lastAgree)}`, tps: m.tokensPerSec.toFixed(0), mfu: `${(m.mfu * 100).toFixed(1)}%`, mfuFma: `${(m.mfuFma * 100).toFixed(1)}%` };
        if (bar) { bar.setTotal(m.totalSteps || m.step + 1); bar.update(m.step, payload); }
        else if (m.valBpb !== undefined || m.step === 1) {
          process.stdout.write(`step ${m.step}/${m.totalSteps || '?'} loss ${payload.loss} val bpb ${payload.bpb}${payload.agree} ${payload.tps} tok/s MFU ${payload.mfu} of matmul peak, ${payload.mfuFma} of FMA ceiling maxvio ${m.maxVio.map((x) => x.toFixed(2)).join(',')}\n`);
        }
      },
    }, stop.signal);
    bar?.stop();
    say(`${r.interrupted ? 'stopped' : 'done'} after ${r.steps} steps: val loss ${fmt(r.valLoss)} nats/token, val ${fmt(r.valBpb)} bits/byte${r.valMtpAgreement === null ? '' : `, mtp agree ${percent(r.valMtpAgreement)}`} (unigram model of the same text: ${fmt(r.unigramBpb)})`);
    if (opts.sample && !r.interrupted) {
      const tpl = ChatTemplate.fromJSON(r.data.tokenizerConfig);
      const gen = new Generator(r.model, r.data.tokenizer, 1, 256);
      let text = '';
      gen.add(encodeText(r.data.tokenizer, tpl, 'The'), { maxTokens: 80, temperature: 0.8, topK: 0, topP: 0.95, seed: opts.seed, stop: [] }, (t) => { text += t; });
      gen.runToCompletion();
      gen.dispose();
      say(`sample: The${text}`);
    }
    say(`checkpoint: ${r.dir}   (qiusuo generate --model ${r.dir} --prompt "The")`);
    await r.model.dispose();
  } finally {
    bar?.stop();
    stop.release();
  }
}
