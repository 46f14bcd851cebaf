// parseConfig: the presets and a DeepSeek-V2-Lite config.json parse into the values they state; every malformed
// config is refused with a message that names the file and the offending key.
// Leaves out: loading tensors against the config (checkpoint.test.ts) and the YaRN numbers (test/reference).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseConfig, moeLayerIndices, configToJson } from '../../src/model/config.js';
import { presetConfig } from '../../src/model/presets.js';
import { mainTensors } from '../../src/weights/names.js';
import { modelInfo } from '../../src/model/info.js';
import { readConfig } from '../../src/model/model-files.js';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

/** deepseek-ai/DeepSeek-V2-Lite's config.json (softmax greedy router, no q-LoRA, no groups, no correction bias). */
const V2_LITE: Record<string, unknown> = {
  architectures: ['DeepseekV2ForCausalLM'],
  attention_bias: false,
  attention_dropout: 0.0,
  aux_loss_alpha: 0.001,
  bos_token_id: 100000,
  eos_token_id: 100001,
  first_k_dense_replace: 1,
  hidden_act: 'silu',
  hidden_size: 2048,
  initializer_range: 0.02,
  intermediate_size: 10944,
  kv_lora_rank: 512,
  max_position_embeddings: 163840,
  model_type: 'deepseek_v2',
  moe_intermediate_size: 1408,
  moe_layer_freq: 1,
  n_group: 1,
  n_routed_experts: 64,
  n_shared_experts: 2,
  norm_topk_prob: false,
  num_attention_heads: 16,
  num_experts_per_tok: 6,
  num_hidden_layers: 27,
  num_key_value_heads: 16,
  pretraining_tp: 1,
  q_lora_rank: null,
  qk_nope_head_dim: 128,
  qk_rope_head_dim: 64,
  rms_norm_eps: 1e-6,
  rope_scaling: {
    beta_fast: 32, beta_slow: 1, factor: 40, mscale: 0.707, mscale_all_dim: 0.707,
    original_max_position_embeddings: 4096, type: 'yarn',
  },
  rope_theta: 10000,
  routed_scaling_factor: 1.0,
  scoring_func: 'softmax',
  seq_aux: true,
  tie_word_embeddings: false,
  topk_group: 1,
  topk_method: 'greedy',
  torch_dtype: 'bfloat16',
  transformers_version: '4.33.1',
  use_cache: true,
  v_head_dim: 128,
  vocab_size: 102400,
};

test('presets parse into the values they state', () => {
  const table = [
    { name: 'tiny', vocab: 512, D: 64, layers: 2, experts: 8, K: 2, groups: [4, 2], qLora: 32, moeLayers: [1], quant: false },
    { name: 'small', vocab: 2048, D: 256, layers: 4, experts: 16, K: 4, groups: [4, 2], qLora: 192, moeLayers: [1, 2, 3], quant: false },
    { name: 'deepseek-v3', vocab: 129280, D: 7168, layers: 61, experts: 256, K: 8, groups: [8, 4], qLora: 1536, moeLayers: Array.from({ length: 58 }, (_, i) => i + 3), quant: true },
  ];
  for (const p of table) {
    const c = parseConfig(presetConfig(p.name), `preset ${p.name}`);
    assert.equal(c.modelType, 'deepseek_v3', p.name);
    assert.equal(c.vocabSize, p.vocab, p.name);
    assert.equal(c.hiddenSize, p.D, p.name);
    assert.equal(c.numHiddenLayers, p.layers, p.name);
    assert.equal(c.nRoutedExperts, p.experts, p.name);
    assert.equal(c.numExpertsPerTok, p.K, p.name);
    assert.deepEqual([c.nGroup, c.topkGroup], p.groups, p.name);
    assert.equal(c.qLoraRank, p.qLora, p.name);
    assert.deepEqual(moeLayerIndices(c), p.moeLayers, p.name);
    assert.equal(c.scoringFunc, 'sigmoid', p.name);
    assert.equal(c.topkMethod, 'noaux_tc', p.name);
    assert.equal(c.normTopkProb, true, p.name);
    assert.equal(c.routedScalingFactor, 2.5, p.name);
    assert.equal(c.numNextnPredictLayers, 1, p.name);
    assert.equal(c.ropeScaling?.type, 'yarn', p.name);
    assert.equal(c.ropeInterleave, true, p.name);
    assert.equal(c.quantization !== null, p.quant, p.name);
  }
  const v3 = parseConfig(presetConfig('deepseek-v3'));
  assert.deepEqual(v3.quantization, { quantMethod: 'fp8', fmt: 'e4m3', weightBlockSize: [128, 128] });
  assert.equal(v3.ropeScaling?.factor, 40);
  assert.equal(v3.ropeScaling?.originalMaxPositionEmbeddings, 4096);
  assert.equal(v3.bosTokenId, 0);
  assert.deepEqual(v3.eosTokenId, [1]);
  assert.equal(v3.kvLoraRank + v3.qkRopeHeadDim, 576);
});

test('configToJson writes back a config that parses to the same values', () => {
  for (const name of ['tiny', 'small', 'deepseek-v3']) {
    const c = parseConfig(presetConfig(name));
    // configToJson writes float32 where a preset names no torch_dtype (tiny, small); deepseek-v3 names bfloat16
    assert.deepEqual(parseConfig(configToJson(c)), { ...c, torchDtype: c.torchDtype ?? 'float32' }, name);
  }
  const lite = parseConfig(V2_LITE);
  assert.deepEqual(parseConfig(configToJson(lite)), lite);
});

test('a DeepSeek-V2-Lite config.json parses (softmax, greedy, q_lora_rank null, no correction bias)', () => {
  const c = parseConfig(V2_LITE, 'DeepSeek-V2-Lite/config.json');
  assert.equal(c.modelType, 'deepseek_v2');
  assert.equal(c.vocabSize, 102400);
  assert.equal(c.hiddenSize, 2048);
  assert.equal(c.intermediateSize, 10944);
  assert.equal(c.moeIntermediateSize, 1408);
  assert.equal(c.numHiddenLayers, 27);
  assert.equal(c.numAttentionHeads, 16);
  assert.equal(c.qLoraRank, null);
  assert.equal(c.kvLoraRank, 512);
  assert.deepEqual([c.qkNopeHeadDim, c.qkRopeHeadDim, c.vHeadDim], [128, 64, 128]);
  assert.deepEqual([c.nRoutedExperts, c.nSharedExperts, c.numExpertsPerTok], [64, 2, 6]);
  assert.deepEqual([c.nGroup, c.topkGroup], [1, 1]);
  assert.equal(c.scoringFunc, 'softmax');
  assert.equal(c.topkMethod, 'greedy');
  assert.equal(c.normTopkProb, false);
  assert.equal(c.routedScalingFactor, 1);
  assert.equal(c.firstKDenseReplace, 1);
  assert.equal(c.numNextnPredictLayers, 0);
  assert.equal(c.ropeScaling?.mscale, 0.707);
  assert.equal(c.ropeScaling?.mscaleAllDim, 0.707);
  assert.equal(c.bosTokenId, 100000);
  assert.deepEqual(c.eosTokenId, [100001]);
  assert.equal(c.quantization, null);
  assert.equal(c.torchDtype, 'bfloat16');
  assert.deepEqual(moeLayerIndices(c), Array.from({ length: 26 }, (_, i) => i + 1));

  // The name map follows: q_proj instead of q_a/q_b, no e_score_correction_bias, shared experts 2 × 1408 wide.
  const names = mainTensors(c);
  assert.deepEqual(names.get('model.layers.0.self_attn.q_proj.weight')?.shape, [16 * 192, 2048]);
  assert.equal(names.has('model.layers.0.self_attn.q_a_proj.weight'), false);
  assert.equal([...names.keys()].some((n) => n.endsWith('e_score_correction_bias')), false);
  assert.deepEqual(names.get('model.layers.1.mlp.shared_experts.up_proj.weight')?.shape, [2816, 2048]);
  assert.deepEqual(names.get('model.layers.0.mlp.up_proj.weight')?.shape, [10944, 2048]);
  assert.deepEqual(names.get('model.layers.26.mlp.experts.63.down_proj.weight')?.shape, [2048, 1408]);
  assert.equal(names.has('model.layers.26.mlp.experts.64.down_proj.weight'), false);
  // 15.7B parameters in total (as published), about 2.66B touched per token including embedding and head
  const info = modelInfo(c, null);
  assert.ok(Math.abs(info.totalParams / 1e9 - 15.71) < 0.01, `total ${info.totalParams}`);
  assert.ok(Math.abs(info.activeParams / 1e9 - 2.66) < 0.01, `active ${info.activeParams}`);
});

test('DeepSeek-V2 defaults: a minimal deepseek_v2 config without router keys is a softmax greedy router', () => {
  const minimal = { ...V2_LITE };
  for (const k of ['scoring_func', 'topk_method', 'norm_topk_prob', 'n_group', 'topk_group', 'routed_scaling_factor']) delete minimal[k];
  const c = parseConfig(minimal);
  assert.deepEqual([c.scoringFunc, c.topkMethod, c.normTopkProb, c.nGroup, c.topkGroup, c.routedScalingFactor], ['softmax', 'greedy', false, 1, 1, 1]);
});

interface Bad { name: string; base?: Record<string, unknown>; edit: (c: Record<string, unknown>) => void; error: RegExp }

const SOURCE = '/ckpt/config.json';

const BAD: Bad[] = [
  { name: 'unknown model_type', edit: (c) => { c.model_type = 'llama'; }, error: /"model_type" must be one of "deepseek_v3", "deepseek_v2", got "llama"/ },
  { name: 'missing hidden_size', edit: (c) => { delete c.hidden_size; }, error: /"hidden_size" is missing/ },
  { name: 'non-integer hidden_size', edit: (c) => { c.hidden_size = 64.5; }, error: /"hidden_size" must be an integer, got 64.5/ },
  { name: 'hidden_size given as a string', edit: (c) => { c.hidden_size = '64'; }, error: /"hidden_size" must be an integer, got "64"/ },
  { name: 'zero heads', edit: (c) => { c.num_attention_heads = 0; c.num_key_value_heads = 0; }, error: /"num_attention_heads" must be ≥ 1, got 0/ },
  { name: 'experts not divisible by n_group', edit: (c) => { c.n_group = 3; }, error: /"n_group" \(3\) must divide n_routed_experts \(8\)/ },
  {
    // 4 groups of 2 experts, 2 groups kept: at most 4 experts reachable
    name: 'num_experts_per_tok larger than topk_group × experts per group',
    edit: (c) => { c.num_experts_per_tok = 5; },
    error: /"num_experts_per_tok" \(5\) is more than the 4 experts/,
  },
  { name: 'topk_group > n_group', edit: (c) => { c.topk_group = 5; }, error: /"topk_group" \(5\) exceeds n_group \(4\)/ },
  { name: 'odd qk_rope_head_dim', edit: (c) => { c.qk_rope_head_dim = 7; }, error: /"qk_rope_head_dim" must be even, got 7/ },
  { name: 'num_key_value_heads ≠ num_attention_heads', edit: (c) => { c.num_key_value_heads = 2; }, error: /"num_key_value_heads" must equal num_attention_heads \(4\)/ },
  { name: 'rope_scaling of type linear', edit: (c) => { c.rope_scaling = { type: 'linear', factor: 4 }; }, error: /"rope_scaling" type must be "yarn", got "linear"/ },
  { name: 'rope_scaling not an object', edit: (c) => { c.rope_scaling = 4; }, error: /"rope_scaling" must be an object or null/ },
  { name: 'rope_scaling without factor', edit: (c) => { c.rope_scaling = { type: 'yarn', original_max_position_embeddings: 1024 }; }, error: /rope_scaling: "factor" is missing/ },
  { name: 'eos id outside the vocabulary', edit: (c) => { c.eos_token_id = 512; }, error: /"eos_token_id" \(512\) is outside the vocabulary \(512\)/ },
  { name: 'one of several eos ids outside the vocabulary', edit: (c) => { c.eos_token_id = [1, 9999]; }, error: /"eos_token_id" \(9999\) is outside the vocabulary/ },
  { name: 'bos id outside the vocabulary', edit: (c) => { c.bos_token_id = 600; }, error: /"bos_token_id" \(600\) is outside the vocabulary \(512\)/ },
  { name: 'deepseek_v3 with scoring softmax', edit: (c) => { c.scoring_func = 'softmax'; }, error: /"scoring_func" must be "sigmoid" for deepseek_v3, got "softmax"/ },
  { name: 'deepseek_v3 with topk_method greedy', edit: (c) => { c.topk_method = 'greedy'; }, error: /"topk_method" must be "noaux_tc" for deepseek_v3/ },
  { name: 'deepseek_v2 with noaux_tc', base: V2_LITE, edit: (c) => { c.topk_method = 'noaux_tc'; }, error: /"topk_method" noaux_tc needs the deepseek_v3 router/ },
  { name: 'unknown scoring_func', edit: (c) => { c.scoring_func = 'relu'; }, error: /"scoring_func" must be one of "sigmoid", "softmax", got "relu"/ },
  { name: 'norm_topk_prob not a boolean', edit: (c) => { c.norm_topk_prob = 1; }, error: /"norm_topk_prob" must be true or false, got 1/ },
  { name: 'first_k_dense_replace beyond the layers', edit: (c) => { c.first_k_dense_replace = 3; }, error: /"first_k_dense_replace" \(3\) exceeds num_hidden_layers \(2\)/ },
  { name: 'quantization_config not fp8', edit: (c) => { c.quantization_config = { quant_method: 'gptq' }; }, error: /"quantization_config" quant_method must be "fp8", got "gptq"/ },
];

test('bad configs are refused with a message naming the file and the key', () => {
  for (const b of BAD) {
    const raw = structuredClone(b.base ?? presetConfig('tiny'));
    b.edit(raw);
    assert.throws(() => parseConfig(raw, SOURCE), (e: Error) => {
      assert.match(e.message, b.error, b.name);
      assert.ok(e.message.startsWith(SOURCE + ':'), `${b.name}: message should start with the file: ${e.message}`);
      return true;
    }, b.name);
  }
});

test('a value nested 10,000 deep is refused with a short message, not a stack overflow (found by fuzzing)', () => {
  let deep: unknown = 0;
  for (let i = 0; i < 10_000; i++) deep = [deep];
  const raw = { ...presetConfig('tiny'), mscale_all_dim: 1, vocab_size: deep };
  assert.throws(() => parseConfig(raw, SOURCE), /\/ckpt\/config\.json: "vocab_size" must be an integer, got \[\[\[\[\.\.\.\]\]\]\]$/);
});

test('config.json with a syntax error: one line naming the file (V8 quotes the text, newlines too; found by fuzzing)', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'qiusuo-config-'));
  try {
    fs.writeFileSync(path.join(dir, 'config.json'), '{\n  "model_type": x\n}');
    assert.throws(() => readConfig(dir), (e: Error) => e.message.startsWith(`${path.join(dir, 'config.json')}: invalid JSON (`) && !e.message.includes('\n'));
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('a config that is not an object is refused', () => {
  for (const raw of [null, [], 'deepseek_v3', 3]) {
    assert.throws(() => parseConfig(raw, SOURCE), /\/ckpt\/config\.json: must be a JSON object/, JSON.stringify(raw));
  }
});

test('keys we do not use are reported in unknownKeys, not fatal; HF bookkeeping keys are not reported', () => {
  const raw = { ...presetConfig('tiny'), n_expert_groups: 4, use_cache: true, transformers_version: '4.46.3' };
  const c = parseConfig(raw, 'config.json');
  assert.deepEqual(c.unknownKeys, ['n_expert_groups']);
  assert.deepEqual(parseConfig(presetConfig('tiny')).unknownKeys, []);
});
