// `qiusuo init`: a randomly initialised checkpoint in the Hugging Face layout (config.json, safetensors — F32,
// BF16 or FP8 with block scales —, a byte-level tokenizer.json and DeepSeek-V3's tokenizer_config.json).
// Sharded as the preset's original repository is. Leaves out how the weights are drawn (init-weights.ts) and how
// shards are written (weights/shards.ts).

import * as fs from 'node:fs';
import * as path from 'node:path';
import type { ModelConfig } from './config.js';
import { parseConfig, configToJson } from './config.js';
import { presetConfig, PRESET_SHARD_LAYOUTS } from './presets.js';
import { initWeights, type InitDType } from './init-weights.js';
import type { TensorBytes } from '../weights/safetensors.js';
import { writeJsonAtomically } from '../weights/safetensors.js';
import { DEFAULT_SHARD_LAYOUT, writeShards, type ShardLayout } from '../weights/shards.js';
import { byteLevelTokenizerJson, deepseekTokenizerConfig } from '../tokenizer/init-files.js';
import { storedBytes } from '../weights/dtypes.js';
import { numel } from '../tensor/tensor.js';

export { randomTensors, type InitDType } from './init-weights.js';

export interface InitOptions {
  preset: string;
  out: string;
  seed?: number;
  dtype?: InitDType;
  /** Config overrides, HF key → JSON value (e.g. {q_lora_rank: null}); validated like any config.json. */
  set?: Record<string, unknown>;
  /** Split the weights into shards of at most this many bytes (default: the preset's original layout, else one file). */
  shardBytes?: number;
  /** Leave out the MTP layers' copies of embed_tokens and shared_head.head (loaders fall back to the main ones). */
  omitMtpCopies?: boolean;
  force?: boolean;
  /** Worker threads drawing the weights (default: one per core for models of 64M parameters and more). */
  threads?: number;
  /** Called as weight bytes reach the disk: bytes written so far, of `total`. */
  onProgress?: (written: number, total: number) => void;
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

/** --shard-size if given, else the file layout of the preset's original repository, else one file. */
function shardLayout(opts: InitOptions): ShardLayout {
  if (opts.shardBytes !== undefined) return { ...DEFAULT_SHARD_LAYOUT, split: { maxShardBytes: opts.shardBytes } };
  return PRESET_SHARD_LAYOUTS[opts.preset] ?? DEFAULT_SHARD_LAYOUT;
}

/**
 * Writes a randomly initialised checkpoint into opts.out, streaming the weights (see init-weights.ts and
 * writeShards): memory stays at a slab of one tensor whatever the model's size, and a failure part-way leaves no
 * new weights file and no index behind.
 */
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

  const weights = initWeights(cfg, opts.seed ?? 0, dtype, 'test', opts.omitMtpCopies ?? false, opts.threads);
  let bytes: TensorBytes = weights.bytes;
  const onProgress = opts.onProgress;
  if (onProgress) {
    const total = weights.specs.reduce((sum, s) => sum + storedBytes(s.dtype, s.shape, s.name), 0);
    let written = 0;
    onProgress(0, total);
    bytes = (i, spec, write) => weights.bytes(i, spec, (chunk) => {
      write(chunk);
      written += chunk.length;
      onProgress(written, total);
    });
  }
  try {
    writeShards(out, weights.specs, shardLayout(opts), bytes);
  } finally {
    weights.close();
  }
  writeJsonAtomically(path.join(out, 'tokenizer.json'), tok.json);
  writeJsonAtomically(path.join(out, 'tokenizer_config.json'), deepseekTokenizerConfig());
  writeJsonAtomically(path.join(out, 'config.json'), configToJson(cfg));
  return cfg;
}
