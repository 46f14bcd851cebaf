// Everything a run needs before its first step: documents split by document, the tokenizer (trained on the
// training split for a fresh run; the checkpoint's otherwise), the packed token streams, and the model with f32
// master weights — fresh (the paper's initialisation), fine-tuned from --model, or resumed from --out.

import type { ModelConfig } from '../model/config.js';
import { parseConfig } from '../model/config.js';
import { presetConfig } from '../model/presets.js';
import { modelInfo } from '../model/info.js';
import { randomTensors } from '../model/init.js';
import { openCheckpoint, readConfig, readTokenizerFiles as readModelTokenizerFiles } from '../model/model-files.js';
import { Tokenizer } from '../tokenizer/bpe.js';
import { trainBpe } from '../tokenizer/train.js';
import { deepseekTokenizerConfig } from '../tokenizer/init-files.js';
import { loadDocuments, splitDocuments, packTokens } from './data.js';
import { MemoryTensorSource, type TensorSource } from '../weights/shards.js';
import type { TensorToWrite } from '../weights/safetensors.js';
import { decodeArray, encodeArray } from '../weights/dtypes.js';
import { decodeWeightRows } from '../weights/quantize.js';
import { SCALE_SUFFIX } from '../weights/names.js';
import type { TrainOptions } from './options.js';

export interface RunData {
  source: string;
  tokenizer: Tokenizer;
  tokenizerJson: object;
  tokenizerConfig: object;
  eosId: number;
  train: Int32Array;
  val: Int32Array;
  valBytes: number;       // UTF-8 bytes of the validation text (for bits per byte)
  documents: { train: number; val: number };
}

/** Loads and splits the corpus and tokenizes it; trains the tokenizer unless one is given. */
export function prepareData(o: TrainOptions, given: { json: object; config: object } | null, warn: (m: string) => void,
  log: (m: string) => void): RunData {
  const docs = loadDocuments(o.data, { onWarning: warn });
  if (docs.documents.length < 2) throw new Error(`${docs.source}: a held-out split needs at least 2 documents, found ${docs.documents.length}`);
  const split = splitDocuments(docs.documents, o.valFraction, o.seed);
  let json: object, config: object;
  if (given) {
    ({ json, config } = given);
  } else {
    const t0 = performance.now();
    const trained = trainBpe(split.train, o.vocabSize);
    log(`trained a ${o.vocabSize}-token BPE vocabulary on ${split.train.length} documents in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    json = trained.json;
    config = deepseekTokenizerConfig();
  }
  const tokenizer = Tokenizer.fromJSON(json, 'tokenizer.json');
  const eosId = tokenizer.tokenToId('<｜end▁of▁sentence｜>');
  if (eosId === undefined) throw new Error('the tokenizer has no <｜end▁of▁sentence｜> token to separate documents');
  const bosId = tokenizer.tokenToId('<｜begin▁of▁sentence｜>');
  if (bosId === undefined) throw new Error('the tokenizer has no <｜begin▁of▁sentence｜> token to start documents');
  // Each document as BOS … EOS, the way prompts are encoded for generation (BOS first).
  const encode = (texts: string[]) => packTokens(texts.map((t) => [bosId, ...tokenizer.encode(t)]), eosId);
  const train = encode(split.train), val = encode(split.val);
  // Bits per byte count the text's UTF-8 bytes; BOS/EOS are charged to the text they frame.
  const valBytes = split.val.reduce((n, t) => n + Buffer.byteLength(t, 'utf8'), 0);
  return { source: docs.source, tokenizer, tokenizerJson: json, tokenizerConfig: config, eosId, train, val, valBytes, documents: { train: split.train.length, val: split.val.length } };
}

/** The config of a fresh run: the preset with overrides; --dense turns every FFN dense with the MoE model's active parameters. */
export function freshConfig(o: TrainOptions, vocabSize: number, bosId: number, eosId: number): ModelConfig {
  const raw: Record<string, unknown> = { ...presetConfig(o.preset), ...o.set, vocab_size: vocabSize, bos_token_id: bosId, eos_token_id: eosId };
  delete raw.quantization_config;
  if (o.dense) Object.assign(raw, denseKeys(raw, 'active'));
  return parseConfig(raw, o.dense ? `preset "${o.preset}" (dense)` : `preset "${o.preset}"`);
}

/**
 * config.json keys that make every FFN of the MoE config `raw` dense, one width for all layers, chosen so that the
 * main model has the MoE model's active parameters per token ('active': the dense baseline of equal compute) or its
 * total parameters ('total'). Parameters are linear in the width, so two probes give it; it is rounded to the nearest.
 */
export function denseKeys(raw: Record<string, unknown>, match: 'active' | 'total'): Record<string, unknown> {
  const dense = (width: number) => ({ n_routed_experts: 0, n_shared_experts: 0, intermediate_size: width, first_k_dense_replace: raw.num_hidden_layers, n_group: 1, topk_group: 1 });
  const params = (r: Record<string, unknown>) => modelInfo(parseConfig(r, 'the dense baseline'), null);
  const moe = params(raw), target = match === 'active' ? moe.activeParams : moe.totalParams;
  const one = params({ ...raw, ...dense(1) }).totalParams, perWidth = params({ ...raw, ...dense(2) }).totalParams - one;
  return dense(Math.max(1, Math.round(1 + (target - one) / perWidth)));
}

/** Fresh weights in memory with the paper's initialisation. */
export function freshWeights(cfg: ModelConfig, seed: number): TensorSource {
  return new MemoryTensorSource('(fresh initialisation)', randomTensors(cfg, seed, 'f32', 'train'));
}

/** A checkpoint's tensors (folder or GGUF) as f32 master weights: every stored format decoded, FP8 with its block scales. */
export function f32Source(model: string, cfg: ModelConfig): TensorSource {
  const { store } = openCheckpoint(model);
  try {
    const block = cfg.quantization?.weightBlockSize ?? [128, 128];
    const out: TensorToWrite[] = [];
    for (const name of store.names()) {
      if (name.endsWith(SCALE_SUFFIX)) continue;
      const e = store.entry(name);
      const read = (n: string) => { const b = new Uint8Array(store.entry(n).byteLength); store.readInto(n, b); return b; };
      const rows = e.shape.length === 1 ? 1 : e.shape[0]!, cols = e.shape[e.shape.length - 1]!;
      const v = new Float32Array(rows * cols);
      const scaled = e.dtype === 'F8_E4M3' ? { scaleInv: decodeArray(read(name + SCALE_SUFFIX), 'F32'), block: [block[0], block[1]] as const } : {};
      decodeWeightRows({ dtype: e.dtype, bytes: read(name), shape: [rows, cols], ...scaled }, v);
      out.push({ name, dtype: 'F32', shape: e.shape, data: encodeArray(v, 'F32') });
    }
    return new MemoryTensorSource(model, out);
  } finally {
    store.close();
  }
}

/** config.json of a checkpoint, made trainable: FP8 storage is not kept (master weights are f32). */
export function checkpointConfig(dir: string): ModelConfig {
  const cfg = readConfig(dir);
  return { ...cfg, quantization: null, torchDtype: 'float32' };
}

export function readTokenizerFiles(model: string): { json: object; config: object } {
  const files = readModelTokenizerFiles(model);
  if (!files) throw new Error(`${model}: no tokenizer.json (training needs the checkpoint's tokenizer)`);
  return files;
}
