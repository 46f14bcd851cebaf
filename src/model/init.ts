// `qiusuo init`: a randomly initialised checkpoint in the Hugging Face layout (config.json, safetensors — F32,
// BF16 or FP8 with block scales —, a byte-level tokenizer.json and DeepSeek-V3's tokenizer_config.json).
// Weights are N(0, 1/fan_in) so logits are O(1) and every numeric rule is visible in tests; norm weights and the
// router bias are perturbed so a wrong norm or a bias leaking into the gate weights shows up.
// Leaves out: the training initialisation (std 0.006) of the training recipe.

import * as fs from 'node:fs';
import * as path from 'node:path';
import type { ModelConfig } from './config.js';
import { parseConfig, configToJson } from './config.js';
import { presetConfig } from './presets.js';
import { mainTensors, mtpTensors, SCALE_SUFFIX } from '../weights/names.js';
import type { StoredDType } from '../weights/dtypes.js';
import { encodeArray } from '../weights/dtypes.js';
import { quantizeFp8Blocks } from '../weights/fp8.js';
import type { TensorToWrite } from '../weights/safetensors.js';
import { writeFileAtomically } from '../weights/safetensors.js';
import { writeShardedSafetensors } from '../weights/shards.js';
import { byteLevelTokenizerJson, deepseekTokenizerConfig } from '../tokenizer/init-files.js';
import { Rng } from '../util/random.js';
import { numel } from '../tensor/tensor.js';

export type InitDType = 'f32' | 'bf16' | 'fp8';

/** The paper's initialisation: std 0.006 at DeepSeek-V3's width. */
const TRAIN_INIT_STD = 0.006, V3_HIDDEN = 7168;

export interface InitOptions {
  preset: string;
  out: string;
  seed?: number;
  dtype?: InitDType;
  /** Config overrides, HF key → JSON value (e.g. {q_lora_rank: null}); validated like any config.json. */
  set?: Record<string, unknown>;
  /** Split the weights into shards of at most this many bytes (default: one file). */
  shardBytes?: number;
  /** Leave out the MTP layers' copies of embed_tokens and shared_head.head (loaders fall back to the main ones). */
  omitMtpCopies?: boolean;
  force?: boolean;
}

export function writeJsonAtomically(file: string, value: unknown): void {
  const text = JSON.stringify(value, null, 2) + '\n';
  writeFileAtomically(file, (fd) => { fs.writeSync(fd, text); });
}

/** The config a preset + overrides + dtype gives, validated. */
export function initConfig(opts: InitOptions): ModelConfig {
  const raw = presetConfig(opts.preset);
  Object.assign(raw, opts.set ?? {});
  const dtype = opts.dtype ?? 'f32';
  if (dtype === 'fp8' && !raw.quantization_config) {
    raw.quantization_config = { quant_method: 'fp8', fmt: 'e4m3', activation_scheme: 'dynamic', weight_block_size: [128, 128] };
  }
  if (dtype !== 'fp8') delete raw.quantization_config;
  raw.torch_dtype = dtype === 'bf16' ? 'bfloat16' : dtype === 'fp8' ? 'bfloat16' : 'float32';
  return parseConfig(raw, `preset "${opts.preset}"`);
}

export function initCheckpoint(opts: InitOptions): ModelConfig {
  const dtype = opts.dtype ?? 'f32';
  if (!['f32', 'bf16', 'fp8'].includes(dtype)) throw new Error(`--dtype must be f32, bf16 or fp8, got "${dtype}"`);
  const vocabGuess = presetConfig(opts.preset).vocab_size as number;
  const tok = byteLevelTokenizerJson((opts.set?.vocab_size as number | undefined) ?? vocabGuess);
  const cfg = initConfig({ ...opts, set: { bos_token_id: tok.bosId, eos_token_id: tok.eosId, ...opts.set } });
  const out = opts.out;
  if (fs.existsSync(out)) {
    const clash = fs.readdirSync(out).filter((f) => f === 'config.json' || f.endsWith('.safetensors') || f.endsWith('.index.json'));
    if (clash.length > 0 && !opts.force) throw new Error(`${out} already holds a checkpoint (${clash[0]}); choose another --out or pass --force`);
  }
  fs.mkdirSync(out, { recursive: true });

  const tensors = randomTensors(cfg, opts.seed ?? 0, dtype)
    .filter((t) => !(opts.omitMtpCopies && /^model\.layers\.\d+\.(embed_tokens|shared_head\.head)\.weight$/.test(t.name)));
  writeShardedSafetensors(out, tensors, opts.shardBytes ?? Number.MAX_SAFE_INTEGER);
  writeJsonAtomically(path.join(out, 'tokenizer.json'), tok.json);
  writeJsonAtomically(path.join(out, 'tokenizer_config.json'), deepseekTokenizerConfig());
  writeJsonAtomically(path.join(out, 'config.json'), configToJson(cfg));
  return cfg;
}

/**
 * Random weights for every tensor of `cfg`. 'test': N(0, 1/fan_in), norms ~1 ± 0.1 and a visible router bias, so
 * numeric rules show in logits. 'train': the paper's N(0, 0.006) scaled by √(7168/hidden_size) for narrower models
 * (≈ 0.51/√D), norms 1, bias 0.
 */
export function randomTensors(cfg: ModelConfig, seed: number, dtype: InitDType, style: 'test' | 'train' = 'test'): TensorToWrite[] {
  const rng = new Rng(seed);
  const stored: StoredDType = dtype === 'f32' ? 'F32' : 'BF16';
  const block = cfg.quantization?.weightBlockSize ?? [128, 128];
  const out: TensorToWrite[] = [];
  const values = new Map<string, Float32Array>();
  const all = new Map(mainTensors(cfg));
  for (let k = 0; k < cfg.numNextnPredictLayers; k++) for (const [n, e] of mtpTensors(cfg, k)) all.set(n, e);
  if (cfg.tieWordEmbeddings) all.delete('lm_head.weight');

  for (const [name, e] of all) {
    let v: Float32Array;
    const mtpCopy = /^model\.layers\.\d+\.(embed_tokens|shared_head\.head)\.weight$/.exec(name);
    if (mtpCopy) {
      v = values.get(mtpCopy[1] === 'embed_tokens' ? 'model.embed_tokens.weight' : (cfg.tieWordEmbeddings ? 'model.embed_tokens.weight' : 'lm_head.weight'))!;
    } else if (name.endsWith('e_score_correction_bias')) {
      v = style === 'train' ? new Float32Array(numel(e.shape)) : rng.normalArray(numel(e.shape), 0.05);
    } else if (e.shape.length === 1) {
      v = style === 'train' ? new Float32Array(numel(e.shape)).fill(1) : rng.normalArray(numel(e.shape), 0.1, 1);
    } else if (style === 'train') {
      v = rng.normalArray(numel(e.shape), TRAIN_INIT_STD * Math.sqrt(V3_HIDDEN / cfg.hiddenSize));
    } else if (name === 'model.embed_tokens.weight') {
      v = rng.normalArray(numel(e.shape), 1);
    } else {
      v = rng.normalArray(numel(e.shape), 1 / Math.sqrt(e.shape[1]));
    }
    values.set(name, v);
    if (name.endsWith('e_score_correction_bias')) {
      out.push({ name, dtype: 'F32', shape: [...e.shape], data: encodeArray(v, 'F32') });
    } else if (dtype === 'fp8' && e.fp8Allowed) {
      const q = quantizeFp8Blocks(v, e.shape[0], e.shape[1], [block[0], block[1]]);
      out.push({ name, dtype: 'F8_E4M3', shape: [...e.shape], data: q.codes });
      out.push({ name: name + SCALE_SUFFIX, dtype: 'F32', shape: q.scaleShape, data: encodeArray(q.scaleInv, 'F32') });
    } else {
      out.push({ name, dtype: stored, shape: [...e.shape], data: encodeArray(v, stored) });
    }
  }
  return out;
}

