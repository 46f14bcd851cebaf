// The qiusuo command line: parses arguments into typed options and calls the library. Errors print as one line on
// stderr (the stack only with --verbose) with exit code 1.

import * as fs from 'node:fs';
import { Command, CommanderError, Option } from 'commander';
import { intOption, floatOption, tokenList, setOption, computeOptions, modelOptions, loadOptions, warnUnknownKeys, speculativeOptions, speculativeSettings } from './options.js';
import { initCheckpoint } from '../model/init.js';
import type { InitDType } from '../model/init.js';
import { initProgress } from './init-progress.js';
import { DeepSeekModel } from '../model/transformer.js';
import { openCheckpoint } from '../model/model-files.js';
import { scoreTokens } from '../generate/score.js';
import { loadPipeline, loadText, encodeText, encodeChat } from '../generate/pipeline.js';
import { parseChatMessages } from '../tokenizer/chat.js';
import type { GenerationParams, SpeculativeOptions } from '../generate/engine.js';
import { Generator } from '../generate/engine.js';
import { chatLoop } from './chat.js';
import { modelInfo, formatInfo } from '../model/info.js';
import { presetConfig } from '../model/presets.js';
import { parseConfig } from '../model/config.js';
import { WEIGHT_FORMATS } from '../model/weight-format.js';
import { benchMatmul } from '../bench/matmul.js';
import type { BenchDType } from '../bench/matmul.js';
import { benchGenerate, benchGenerateMedian, benchGenerator, randomPrompts, type GeneratorBenchResult } from '../bench/generate.js';
import { addTrainCommands } from './train.js';
import { addServeCommands } from './serve.js';
import { addExportCommands } from './export.js';
import { addExperimentCommands } from './experiment.js';

/** Floats as JSON: shortest round-trip form of the f32 value, so the printed number is the computed one. */
function rowsToJson(rows: Float32Array[]): string {
  return '[' + rows.map((r) => '[' + Array.from(r, (v) => (Number.isFinite(v) ? String(v) : 'null')).join(',') + ']').join(',') + ']';
}

function readTextInput(o: { text?: string; file?: string }): string {
  if ((o.text === undefined) === (o.file === undefined)) throw new Error('give exactly one of --text or --file');
  if (o.text !== undefined) return o.text;
  try { return fs.readFileSync(o.file!, 'utf8'); } catch (e) { throw new Error(`${o.file}: cannot read: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`); }
}

function generationParams(o: { maxTokens: number; temperature: number; topP: number; topK: number; seed?: number; stop?: string[] }): GenerationParams {
  return {
    maxTokens: o.maxTokens, temperature: o.temperature, topP: o.topP, topK: o.topK,
    seed: o.seed ?? Math.floor(Math.random() * 2 ** 31), stop: o.stop ?? [],
  };
}

function collect(v: string, acc: string[] = []): string[] { return [...acc, v]; }

function samplingOptions(c: Command, maxTokens: number, temperature: number): Command {
  return c
    .option('--max-tokens <n>', 'most tokens to generate', intOption('--max-tokens', 1), maxTokens)
    .option('--temperature <t>', 'sampling temperature (0 = greedy)', floatOption('--temperature', 0, 100), temperature)
    .option('--top-p <p>', 'nucleus sampling mass', floatOption('--top-p', 0, 1, true), 1)
    .option('--top-k <k>', 'sample among the k most likely tokens (0 = all)', intOption('--top-k', 0), 0)
    .option('--seed <s>', 'random seed (same seed, same text)', intOption('--seed', 0, 2 ** 32 - 1))
    .option('--stop <s>', 'stop string (repeatable)', collect);
}

export function buildProgram(): Command {
  const program = new Command('qiusuo')
    .description('DeepSeek-V3 in TypeScript: run, train and serve DeepSeek-V3-format models')
    .option('--verbose', 'print stack traces with errors')
    .configureOutput({ outputError: (str, write) => write(`qiusuo: ${str}`) }); // one line, like every other error

  program.command('init')
    .description('write a randomly initialised checkpoint (config.json, safetensors, tokenizer files)')
    .requiredOption('--preset <name>', 'tiny | small | nano | deepseek-v2-lite | moonlight-16b-a3b | deepseek-v3')
    .requiredOption('--out <dir>', 'output folder')
    .option('--seed <s>', 'random seed', intOption('--seed', 0, 2 ** 32 - 1), 0)
    .addOption(new Option('--dtype <dtype>', 'weight storage').choices(['f32', 'bf16', 'fp8']).default('f32'))
    .option('--set <key=json>', 'override a config.json key (repeatable), e.g. q_lora_rank=null', setOption)
    .option('--shard-size <bytes>', 'split weights into shards of at most this many bytes (default: as the preset\'s original repository, else one file)', intOption('--shard-size', 1))
    .option('--force', 'overwrite a checkpoint already in --out')
    .action((o) => {
      initConfigGuard(o.preset, o.set);
      const progress = initProgress();
      try {
        initCheckpoint({ preset: o.preset, out: o.out, seed: o.seed, dtype: o.dtype as InitDType, set: o.set, shardBytes: o.shardSize, force: o.force, onProgress: progress.onProgress });
      } finally {
        progress.stop();
      }
      process.stdout.write(`wrote ${o.preset} checkpoint (${o.dtype}) to ${o.out}\n`);
    });

  modelOptions(program.command('forward'))
    .description('print the logits (and MTP logits) of a token sequence as JSON')
    .requiredOption('--model <path>', 'checkpoint folder or .gguf file')
    .requiredOption('--tokens <ids>', 'comma-separated token ids, e.g. 0,5,17', tokenList)
    .option('--mtp', 'also compute the first MTP module\'s logits')
    .option('--decode', 'feed the tokens one at a time through the latent cache')
    .action(async (o) => {
      const model = DeepSeekModel.load(o.model, loadOptions(o));
      warnUnknownKeys(o.model, model.cfg);
      const r = scoreTokens(model, o.tokens, { mtp: o.mtp, decode: o.decode });
      await model.dispose();
      process.stdout.write(`{"logits": ${rowsToJson(r.logits)}, "mtp_logits": ${r.mtpLogits ? rowsToJson(r.mtpLogits) : 'null'}}\n`);
    });

  program.command('tokenize')
    .description('print token ids of a text (or of chat messages rendered through the chat template)')
    .requiredOption('--model <path>', 'checkpoint folder (tokenizer.json, tokenizer_config.json) or .gguf file')
    .option('--text <s>', 'text to encode')
    .option('--file <f>', 'file to encode')
    .option('--chat', 'input is a JSON array of messages; render with the chat template (generation prompt added)')
    .option('--add-special-tokens', 'plain text: prepend BOS when tokenizer_config.json sets add_bos_token (as transformers does); '
      + 'without it the ids are exactly tokenizer.json\'s, as @huggingface/tokenizers gives them')
    .action((o) => {
      const input = readTextInput(o);
      const { tokenizer, chat } = loadText(o.model);
      let ids: number[];
      if (o.chat) {
        let json: unknown;
        try { json = JSON.parse(input); } catch (e) { throw new Error(`--chat input is not valid JSON: ${(e as Error).message}`); }
        ids = encodeChat(tokenizer, chat, parseChatMessages(json), o.model);
      } else {
        ids = encodeText(tokenizer, chat, input, o.addSpecialTokens === true);
      }
      process.stdout.write(JSON.stringify({ ids }) + '\n');
    });

  speculativeOptions(samplingOptions(modelOptions(program.command('generate')), 128, 0))
    .description('generate text from a prompt, streamed to stdout')
    .requiredOption('--model <path>', 'checkpoint folder or .gguf file')
    .requiredOption('--prompt <s>', 'prompt text')
    .option('--chat', 'treat the prompt as a user message and apply the chat template')
    .action(async (o) => {
      const p = loadPipeline(o.model, loadOptions(o));
      warnUnknownKeys(o.model, p.model.cfg);
      const ids = o.chat ? encodeChat(p.tokenizer, p.chat, [{ role: 'user', content: o.prompt }], o.model) : encodeText(p.tokenizer, p.chat, o.prompt);
      const params = generationParams(o);
      const context = ids.length + params.maxTokens;
      if (context > p.model.cfg.maxPositionEmbeddings) {
        throw new Error(`prompt (${ids.length} tokens) + --max-tokens (${params.maxTokens}) exceed max_position_embeddings (${p.model.cfg.maxPositionEmbeddings})`);
      }
      const gen = new Generator(p.model, p.tokenizer, 1, context, { speculative: speculativeSettings(o) });
      gen.add(ids, params, (d) => process.stdout.write(d));
      gen.runToCompletion();
      process.stdout.write('\n');
      gen.dispose();
      await p.model.dispose();
    });

  speculativeOptions(samplingOptions(modelOptions(program.command('chat')), 512, 0.7))
    .description('interactive chat in the terminal')
    .requiredOption('--model <path>', 'checkpoint folder or .gguf file')
    .option('--system <s>', 'system prompt')
    .option('--context <n>', 'tokens of history + answer kept', intOption('--context', 16))
    .action(async (o) => {
      const p = loadPipeline(o.model, loadOptions(o));
      warnUnknownKeys(o.model, p.model.cfg);
      const context = Math.min(o.context ?? 4096, p.model.cfg.maxPositionEmbeddings);
      await chatLoop(p, generationParams(o), o.system, context, speculativeSettings(o));
      await p.model.dispose();
    });

  program.command('info')
    .description('parameters, memory and KV-cache size of a checkpoint or preset')
    .option('--model <path>', 'checkpoint folder or .gguf file')
    .option('--preset <name>', 'a preset instead of a folder (e.g. deepseek-v3)')
    .addOption(new Option('--weights <format>', 'the format memoryBytes and arenas are for').choices([...WEIGHT_FORMATS]).default('stored'))
    .option('--json', 'print JSON')
    .action((o) => {
      if (!o.model === !o.preset) throw new Error('give exactly one of --model or --preset');
      let info;
      if (o.model) {
        const { cfg, store } = openCheckpoint(o.model);
        warnUnknownKeys(o.model, cfg);
        try { info = modelInfo(cfg, store, o.weights); } finally { store.close(); }
      } else {
        info = modelInfo(parseConfig(presetConfig(o.preset), `preset "${o.preset}"`), null, o.weights);
      }
      process.stdout.write((o.json ? JSON.stringify(info, null, 2) : formatInfo(info)) + '\n');
    });

  addTrainCommands(program);
  addServeCommands(program);
  addExportCommands(program);
  addExperimentCommands(program);

  const bench = program.command('bench').description('measure kernel and model speed');
  computeOptions(bench.command('matmul'))
    .description('GFLOP/s of out = x·Wᵀ with x [N, N], W [N, N]')
    .requiredOption('--size <n>', 'matrix size N', intOption('--size', 1, 16384))
    .addOption(new Option('--dtype <dtype>', 'weight storage').choices(['f32', 'bf16', 'fp8']).default('f32'))
    .option('--json', 'print {"gflops": X} only')
    .action(async (o) => {
      const r = await benchMatmul({ T: o.size, C: o.size, OC: o.size, dtype: o.dtype as BenchDType, kernels: o.kernels ?? 'wasm', threads: o.threads });
      process.stdout.write(o.json ? JSON.stringify({ gflops: r.gflops }) + '\n'
        : `${r.backend} ${o.dtype} ${o.size}³: ${r.gflops.toFixed(2)} GFLOP/s (${r.ms.toFixed(3)} ms)\n`);
    });
  speculativeOptions(modelOptions(bench.command('generate')))
    .description('prefill and decode tokens/s of a checkpoint on random prompts')
    .requiredOption('--model <path>', 'checkpoint folder or .gguf file')
    .option('--prompt-tokens <n>', 'prompt length', intOption('--prompt-tokens', 1), 128)
    .option('--new-tokens <n>', 'decode steps', intOption('--new-tokens', 1), 32)
    .option('--batch <n>', 'sequences decoded together', intOption('--batch', 1, 1024), 1)
    .option('--repeat <n>', 'runs; each figure is their median', intOption('--repeat', 1, 1000), 3)
    .option('--json', 'print {"prefill_tok_s": X, "decode_tok_s": Y} only (with --speculative also acceptance and more)')
    .action(async (o) => {
      const speculative = speculativeSettings(o);
      if (speculative) return benchSpeculativeCommand(o, speculative);
      const model = DeepSeekModel.load(o.model, loadOptions(o));
      benchGenerate(model, Math.min(o.promptTokens, 8), 2, 1); // warm-up
      const r = benchGenerateMedian(model, o.promptTokens, o.newTokens, o.batch, o.repeat);
      process.stdout.write(o.json ? JSON.stringify(r) + '\n'
        : `${model.ctx.backend.name}: prefill ${r.prefill_tok_s.toFixed(1)} tok/s, decode ${r.decode_tok_s.toFixed(1)} tok/s (batch ${o.batch}, median of ${o.repeat})\n`);
      await model.dispose();
    });

  return program;
}

/**
 * `bench generate --speculative`: greedy generation through the Generator from random prompts, plain and speculative
 * runs alternating (this VM's speed drifts), each figure the median over the runs.
 */
async function benchSpeculativeCommand(o: { model: string; promptTokens: number; newTokens: number; batch: number; repeat: number; json?: boolean; threads?: number; kernels?: string; weights?: string },
  speculative: SpeculativeOptions): Promise<void> {
  const p = loadPipeline(o.model, loadOptions(o));
  try {
    p.model.requireMtp();
    const prompts = (seed: number) => randomPrompts(p.tokenizer, p.model.cfg.vocabSize, o.batch, o.promptTokens, seed);
    benchGenerator(p, prompts(0).map((x) => x.slice(0, 8)), 4, speculative); // warm-up
    const plain: GeneratorBenchResult[] = [], spec: GeneratorBenchResult[] = [];
    for (let i = 0; i < o.repeat; i++) {
      plain.push(benchGenerator(p, prompts(i + 1), o.newTokens));
      spec.push(benchGenerator(p, prompts(i + 1), o.newTokens, speculative));
    }
    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[(xs.length - 1) >> 1];
    const m = (rs: GeneratorBenchResult[], f: (r: GeneratorBenchResult) => number) => median(rs.map(f));
    const last = spec[spec.length - 1];
    const r = {
      prefill_tok_s: m(spec, (x) => x.prefill_tok_s), decode_tok_s: m(spec, (x) => x.decode_tok_s),
      plain_decode_tok_s: m(plain, (x) => x.decode_tok_s),
      acceptance: m(spec, (x) => x.acceptance!), accepted_per_step: m(spec, (x) => x.accepted_per_step ?? 0),
      acceptance_by_position: last.acceptance_by_position, draft_tokens: speculative.draftTokens, batch: o.batch,
    };
    process.stdout.write(o.json ? JSON.stringify(r) + '\n'
      : `${p.model.ctx.backend.name}: decode ${r.decode_tok_s.toFixed(1)} tok/s speculative vs ${r.plain_decode_tok_s.toFixed(1)} plain `
        + `(${(r.decode_tok_s / r.plain_decode_tok_s).toFixed(2)}×), acceptance ${(100 * r.acceptance).toFixed(1)}%, `
        + `${r.accepted_per_step.toFixed(2)} tokens per verify pass (batch ${o.batch}, up to ${speculative.draftTokens} drafts, median of ${o.repeat})\n`);
  } finally {
    await p.model.dispose();
  }
}

/** The ~16B presets (32 GB in BF16) are the largest init writes; the real V3 (671B) is for `info`. */
const INIT_MAX_PARAMS = 20e9;

function initConfigGuard(preset: string, set: Record<string, unknown> | undefined): void {
  const info = modelInfo(parseConfig({ ...presetConfig(preset), ...set }, `preset "${preset}"`), null);
  if (info.totalParams > INIT_MAX_PARAMS) {
    throw new Error(`preset "${preset}" has ${(info.totalParams / 1e9).toFixed(0)}B parameters; init only writes models up to ${INIT_MAX_PARAMS / 1e9}B (use \`qiusuo info --preset ${preset}\`)`);
  }
}

export async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  program.exitOverride();
  try {
    await program.parseAsync(argv);
    return 0;
  } catch (e) {
    if (e instanceof CommanderError) {
      return e.exitCode === 0 || e.code === 'commander.helpDisplayed' || e.code === 'commander.version' ? 0 : 1;
    }
    const verbose = argv.includes('--verbose');
    process.stderr.write(`qiusuo: error: ${(e as Error).message ?? String(e)}\n`);
    if (verbose && e instanceof Error && e.stack) process.stderr.write(e.stack + '\n');
    return 1;
  }
}
