// Fuzzes config.json reading (readConfig: file -> JSON -> parseConfig): the presets and a DeepSeek-V2-Lite config
// mutated as values and as text, and objects built from scratch out of the known keys. A config either loads and
// then holds every constraint the validator states (and writes back to itself), or fails with one line naming the file.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fc, fuzz, parsedOrRefused } from '../fuzz/harness.js';
import { scratchDir } from '../fuzz/scratch-dir.js';
import { mutatedJsonText, mutatedJsonValue, wrongValue } from '../fuzz/mutators.js';
import { configToJson, parseConfig, type ModelConfig } from '../../src/model/config.js';
import { presetConfig } from '../../src/model/presets.js';
import { readConfig } from '../../src/model/model-files.js';

const dir = scratchDir('qiusuo-config-fuzz-');
const file = path.join(dir, 'config.json');

const V2_LITE = {
  model_type: 'deepseek_v2', vocab_size: 102400, hidden_size: 2048, intermediate_size: 10944, moe_intermediate_size: 1408,
  num_hidden_layers: 27, num_attention_heads: 16, num_key_value_heads: 16, q_lora_rank: null, kv_lora_rank: 512,
  qk_nope_head_dim: 128, qk_rope_head_dim: 64, v_head_dim: 128, n_routed_experts: 64, n_shared_experts: 2,
  num_experts_per_tok: 6, n_group: 1, topk_group: 1, topk_method: 'greedy', scoring_func: 'softmax', norm_topk_prob: false,
  routed_scaling_factor: 1.0, first_k_dense_replace: 1, moe_layer_freq: 1, rms_norm_eps: 1e-6, rope_theta: 10000,
  rope_scaling: { type: 'yarn', factor: 40, original_max_position_embeddings: 4096, beta_fast: 32, beta_slow: 1, mscale: 0.707, mscale_all_dim: 0.707 },
  max_position_embeddings: 163840, bos_token_id: 100000, eos_token_id: 100001, torch_dtype: 'bfloat16',
};
const SEEDS: unknown[] = [V2_LITE, ...['tiny', 'small', 'nano', 'deepseek-v3'].map((p) => configToJson(parseConfig(presetConfig(p))))];
const KEYS = [...new Set(SEEDS.flatMap((s) => Object.keys(s as object)))];

/** What the validator promises of every config it accepts. */
function checkAccepted(c: ModelConfig): void {
  const ints = [c.vocabSize, c.hiddenSize, c.intermediateSize, c.moeIntermediateSize, c.numHiddenLayers, c.numAttentionHeads,
    c.kvLoraRank, c.vHeadDim, c.numExpertsPerTok, c.nGroup, c.topkGroup, c.moeLayerFreq, c.maxPositionEmbeddings];
  for (const v of ints) assert.ok(Number.isInteger(v) && v >= 1, `positive integer expected, got ${v}`);
  for (const v of [c.qkNopeHeadDim, c.nRoutedExperts, c.nSharedExperts, c.firstKDenseReplace, c.numNextnPredictLayers]) {
    assert.ok(Number.isInteger(v) && v >= 0, `non-negative integer expected, got ${v}`);
  }
  assert.ok(c.qLoraRank === null || (Number.isInteger(c.qLoraRank) && c.qLoraRank >= 1));
  assert.ok(Number.isInteger(c.qkRopeHeadDim) && c.qkRopeHeadDim >= 2 && c.qkRopeHeadDim % 2 === 0);
  assert.equal(c.numKeyValueHeads, c.numAttentionHeads);
  for (const v of [c.rmsNormEps, c.ropeTheta, c.routedScalingFactor]) assert.ok(Number.isFinite(v) && v > 0);
  assert.ok(c.firstKDenseReplace <= c.numHiddenLayers);
  if (c.modelType === 'deepseek_v3') assert.deepEqual([c.scoringFunc, c.topkMethod], ['sigmoid', 'noaux_tc']);
  else assert.notEqual(c.topkMethod, 'noaux_tc');
  if (c.nRoutedExperts > 0) {
    assert.equal(c.nRoutedExperts % c.nGroup, 0);
    assert.ok(c.topkGroup <= c.nGroup);
    const perGroup = c.nRoutedExperts / c.nGroup;
    assert.ok(c.numExpertsPerTok <= (c.topkMethod === 'greedy' ? c.nRoutedExperts : c.topkGroup * perGroup));
  }
  if (c.ropeScaling) {
    const r = c.ropeScaling;
    assert.ok(r.factor > 0 && Number.isFinite(r.factor) && r.betaFast > 0 && r.betaSlow > 0);
    assert.ok(Number.isInteger(r.originalMaxPositionEmbeddings) && r.originalMaxPositionEmbeddings <= c.maxPositionEmbeddings);
  }
  assert.ok(c.bosTokenId === null || (Number.isInteger(c.bosTokenId) && c.bosTokenId >= 0 && c.bosTokenId < c.vocabSize));
  for (const id of c.eosTokenId) assert.ok(Number.isInteger(id) && id >= 0 && id < c.vocabSize);
  if (c.quantization) assert.ok(c.quantization.weightBlockSize.every((b) => Number.isInteger(b) && b > 0));
  // And it writes back to a config.json that reads as the same config.
  const again = parseConfig(configToJson(c));
  assert.deepEqual({ ...again, torchDtype: c.torchDtype, unknownKeys: c.unknownKeys }, c);
}

function readCase(text: string): void {
  fs.writeFileSync(file, text);
  parsedOrRefused(() => readConfig(dir), file, checkAccepted);
}

const stringify = (v: unknown): string => JSON.stringify(v) ?? 'null';

test('config.json: mutated values of real configs load consistently or fail naming the file', async () => {
  await fuzz('config.json (values)', fc.constantFrom(...SEEDS).chain((s) => mutatedJsonValue(s)), (v) => readCase(stringify(v)));
});

test('config.json: mutated text (truncated, flipped, duplicate keys, huge numbers, deep nesting)', async () => {
  const texts = SEEDS.map((s) => JSON.stringify(s, null, 2));
  await fuzz('config.json (text)', fc.constantFrom(...texts).chain((t) => mutatedJsonText(t)), readCase);
});

test('config.json: objects built from scratch out of the known keys', async () => {
  const small = fc.oneof(fc.integer({ min: 0, max: 64 }), fc.constantFrom('deepseek_v3', 'deepseek_v2', 'noaux_tc', 'greedy', 'sigmoid', 'softmax'), wrongValue());
  const anyConfig = fc.dictionary(fc.oneof(fc.constantFrom(...KEYS), fc.string({ maxLength: 8 })), small, { maxKeys: KEYS.length + 4 });
  await fuzz('config.json (from scratch)', anyConfig, (v) => readCase(stringify(v)));
});
