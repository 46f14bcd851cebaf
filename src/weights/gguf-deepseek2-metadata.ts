// config.json ⇄ the metadata of llama.cpp's `deepseek2` architecture (keys, types and traps from llama.cpp's
// loader and converter: ../shared/docs/gguf-deepseek2.md §2). Writing refuses, with the reason, a config that
// llama.cpp would load as a different model; reading gives the config.json a Hugging Face exporter would have
// written, validated by parseConfig.
// Leaves out the tensors (gguf-deepseek2-tensors.ts) and the tokenizer keys (tokenizer/gguf-tokenizer.ts).

import type { ModelConfig } from '../model/config.js';
import type { GgufFile, GgufScalarType, GgufValue } from './gguf.js';
import { metaArray, metaBoolOpt, metaNumber, metaNumberOpt, metaString, metaStringOpt } from './gguf.js';

export const ARCH = 'deepseek2';
const P = `${ARCH}.`;

/** llama.cpp's expert_gating_func values (llama-hparams.h). */
const GATING = { softmax: 1, sigmoid: 2 } as const;
/** YaRN's ramp bounds, which llama.cpp does not read for deepseek2 (it always uses these). */
const LLAMA_YARN_BETA = { fast: 32, slow: 1 };

const INTEGER: GgufScalarType[] = ['u8', 'i8', 'u16', 'i16', 'u32', 'i32', 'u64', 'i64'];
const FLOAT: GgufScalarType[] = ['f32', 'f64'];

const u32 = (value: number): GgufValue => ({ type: 'u32', value });
const f32 = (value: number): GgufValue => ({ type: 'f32', value });

/**
 * Why llama.cpp would run `c` differently from qiusuo, or null when it runs it the same. Each reason is a trap of
 * its deepseek2 loader that no metadata can avoid.
 */
export function deepseek2Incompatibility(c: ModelConfig): string | null {
  const L = c.numHiddenLayers;
  if (c.qLoraRank !== null && (L === 26 || L === 27 || (L === 48 && c.vocabSize === 128256))) {
    return `llama.cpp takes a deepseek2 model with ${L} layers for DeepSeek-V2-Lite and then expects attn_q, which a model with q_lora_rank ${c.qLoraRank} does not have; train or init with another layer count`;
  }
  if (c.nRoutedExperts > 0 && c.nSharedExperts === 0 && c.firstKDenseReplace < L) {
    return 'n_shared_experts 0: llama.cpp\'s deepseek2 requires the shared expert tensors in every MoE layer';
  }
  if (c.moeLayerFreq !== 1) return `moe_layer_freq ${c.moeLayerFreq}: llama.cpp makes every layer from first_k_dense_replace on an MoE layer`;
  if (!c.ropeInterleave) return 'rope_interleave false: llama.cpp rotates interleaved pairs as DeepSeek\'s checkpoints store them';
  if (c.nRoutedExperts > 0 && c.nGroup > 1 && c.topkGroup < c.nGroup) {
    if (c.topkMethod === 'group_limited_greedy') {
      return 'topk_method group_limited_greedy ranks expert groups by their best expert, llama.cpp by the sum of their best two';
    }
    if (c.nRoutedExperts / c.nGroup < 2) return `n_group ${c.nGroup}: llama.cpp needs at least 2 experts per group`;
  }
  const y = c.ropeScaling;
  if (y) {
    if (y.betaFast !== LLAMA_YARN_BETA.fast || y.betaSlow !== LLAMA_YARN_BETA.slow) {
      return `rope_scaling beta_fast ${y.betaFast} / beta_slow ${y.betaSlow}: llama.cpp's deepseek2 always uses 32 / 1`;
    }
    if (y.attentionFactor !== null || y.mscale === null || y.mscaleAllDim === null || y.mscale !== y.mscaleAllDim) {
      return 'rope_scaling: llama.cpp\'s deepseek2 keeps cos/sin unscaled, which needs mscale = mscale_all_dim (as DeepSeek-V3 has) and no attention_factor';
    }
  }
  return null;
}

/** The `general.*` and `deepseek2.*` keys for `c`; `fileType` is llama.cpp's general.file_type. */
export function deepseek2Metadata(c: ModelConfig, name: string, fileType: number): [string, GgufValue][] {
  const why = deepseek2Incompatibility(c);
  if (why) throw new Error(`cannot export as a llama.cpp deepseek2 GGUF: ${why}`);
  const kv: [string, GgufValue][] = [
    ['general.architecture', { type: 'string', value: ARCH }],
    ['general.name', { type: 'string', value: name }],
    ['general.file_type', u32(fileType)],
    ['general.quantization_version', u32(2)],
    [`${P}vocab_size`, u32(c.vocabSize)],
    [`${P}context_length`, u32(c.maxPositionEmbeddings)],
    [`${P}embedding_length`, u32(c.hiddenSize)],
    [`${P}block_count`, u32(c.numHiddenLayers)],
    [`${P}feed_forward_length`, u32(c.intermediateSize)],
    [`${P}attention.head_count`, u32(c.numAttentionHeads)],
    // MLA caches one latent row per token: llama.cpp sizes its cache as key_length × head_count_kv.
    [`${P}attention.head_count_kv`, u32(1)],
    [`${P}rope.freq_base`, f32(c.ropeTheta)],
    [`${P}attention.layer_norm_rms_epsilon`, f32(c.rmsNormEps)],
    [`${P}leading_dense_block_count`, u32(Math.min(c.firstKDenseReplace, c.numHiddenLayers))],
    // 0 means "no q LoRA": llama.cpp then expects attn_q (without the key it fails unless the model looks like V2-Lite).
    [`${P}attention.q_lora_rank`, u32(c.qLoraRank ?? 0)],
    [`${P}attention.kv_lora_rank`, u32(c.kvLoraRank)],
    [`${P}attention.key_length`, u32(c.kvLoraRank + c.qkRopeHeadDim)],
    [`${P}attention.value_length`, u32(c.kvLoraRank)],
    [`${P}attention.key_length_mla`, u32(c.qkNopeHeadDim + c.qkRopeHeadDim)],
    [`${P}attention.value_length_mla`, u32(c.vHeadDim)],
    [`${P}rope.dimension_count`, u32(c.qkRopeHeadDim)],
  ];
  if (c.nRoutedExperts > 0) {
    kv.push(
      [`${P}expert_count`, u32(c.nRoutedExperts)],
      [`${P}expert_used_count`, u32(c.numExpertsPerTok)],
      [`${P}expert_shared_count`, u32(c.nSharedExperts)],
      [`${P}expert_feed_forward_length`, u32(c.moeIntermediateSize)],
      [`${P}expert_weights_scale`, f32(c.routedScalingFactor)],
      [`${P}expert_weights_norm`, { type: 'bool', value: c.normTopkProb }],
      // Without it llama.cpp silently routes with softmax.
      [`${P}expert_gating_func`, u32(GATING[c.scoringFunc])],
    );
    // Equal counts mean no group limit; llama.cpp asserts topk_group < n_group, so the keys are left out then.
    if (c.topkMethod !== 'greedy' && c.topkGroup < c.nGroup) {
      kv.push([`${P}expert_group_count`, u32(c.nGroup)], [`${P}expert_group_used_count`, u32(c.topkGroup)]);
    }
  }
  if (c.ropeScaling) {
    const y = c.ropeScaling;
    kv.push(
      [`${P}rope.scaling.type`, { type: 'string', value: 'yarn' }],
      [`${P}rope.scaling.factor`, f32(y.factor)],
      [`${P}rope.scaling.original_context_length`, u32(y.originalMaxPositionEmbeddings)],
      // llama.cpp's softmax scale is (1 + log_mul·ln factor)² / √d_qk, HF's get_mscale(factor, mscale_all_dim)².
      [`${P}rope.scaling.yarn_log_multiplier`, f32(0.1 * y.mscaleAllDim!)],
    );
  }
  return kv;
}

/**
 * The config.json of a deepseek2 GGUF's metadata (`file`), before parseConfig. `tensors` says which tensors the file
 * holds: the router's bias, the head and the q LoRA are known by their presence.
 */
export function configFromDeepseek2(file: GgufFile, vocabRows: number, has: (tensor: string) => boolean): Record<string, unknown> {
  const arch = metaString(file, 'general.architecture');
  if (arch !== ARCH) throw new Error(`${file.path}: general.architecture is "${arch}"; qiusuo reads "${ARCH}" GGUFs (DeepSeek-V2/V3 and their kind)`);
  // Counts and sizes must be integers in the file (as llama.cpp's typed reader requires), scales floats.
  const n = (key: string) => metaNumber(file, P + key, INTEGER);
  const nOpt = (key: string) => metaNumberOpt(file, P + key, INTEGER);
  const fOpt = (key: string) => metaNumberOpt(file, P + key, FLOAT);
  /** A per-layer key may be an array; qiusuo's configs have one value for all layers. */
  const uniform = (key: string, fallback?: number): number | undefined => {
    if (file.metadata.get(P + key)?.type !== 'array') return nOpt(key) ?? fallback;
    const list = metaArray(file, P + key, ['u32', 'i32']);
    const values = new Set(list.filter((v) => typeof v === 'number' && v > 0));
    if (values.size > 1) throw new Error(`${file.path}: ${P}${key} differs between layers (${[...values].join(', ')}); qiusuo needs one value`);
    return values.size === 0 ? fallback : [...values][0] as number;
  };
  const layers = n('block_count');
  const nextn = nOpt('nextn_predict_layers') ?? 0;
  if (nextn > 0) {
    throw new Error(`${file.path}: holds ${nextn} multi-token-prediction layer(s) (${P}nextn_predict_layers); qiusuo reads deepseek2 GGUFs without them, as llama.cpp's converter writes them`);
  }
  const experts = uniform('expert_count', 0)!;
  const gating = nOpt('expert_gating_func') ?? GATING.softmax;
  if (gating !== GATING.softmax && gating !== GATING.sigmoid) {
    throw new Error(`${file.path}: ${P}expert_gating_func is ${gating}; qiusuo routes with softmax (1) or sigmoid (2)`);
  }
  const sigmoid = gating === GATING.sigmoid;
  const groups = nOpt('expert_group_count') ?? 1, groupsUsed = nOpt('expert_group_used_count') ?? groups;
  const kLength = nOpt('attention.key_length_mla'), vLength = nOpt('attention.value_length_mla');
  const mla = (kLength ?? 0) > 0 && (vLength ?? 0) > 0;
  const rope = nOpt('rope.dimension_count') ?? n('attention.key_length');
  const keyLength = mla ? kLength! : n('attention.key_length');
  const qLora = nOpt('attention.q_lora_rank') ?? 0;
  const scale = fOpt('expert_weights_scale') ?? 0;
  const bos = metaNumberOpt(file, 'tokenizer.ggml.bos_token_id', INTEGER), eos = metaNumberOpt(file, 'tokenizer.ggml.eos_token_id', INTEGER);
  const ctx = n('context_length');
  const scaling = metaStringOpt(file, `${P}rope.scaling.type`);
  if (scaling !== undefined && scaling !== 'none' && scaling !== 'yarn') {
    throw new Error(`${file.path}: ${P}rope.scaling.type is "${scaling}"; qiusuo runs DeepSeek's YaRN ("yarn") or none`);
  }
  const yarn = scaling === 'yarn' ? {
    type: 'yarn',
    factor: metaNumber(file, `${P}rope.scaling.factor`, FLOAT),
    original_max_position_embeddings: n('rope.scaling.original_context_length'),
    beta_fast: LLAMA_YARN_BETA.fast, beta_slow: LLAMA_YARN_BETA.slow,
    mscale: (fOpt('rope.scaling.yarn_log_multiplier') ?? 0) / 0.1,
    mscale_all_dim: (fOpt('rope.scaling.yarn_log_multiplier') ?? 0) / 0.1,
  } : null;
  return {
    model_type: sigmoid ? 'deepseek_v3' : 'deepseek_v2',
    vocab_size: vocabRows,
    hidden_size: n('embedding_length'),
    intermediate_size: uniform('feed_forward_length'),
    moe_intermediate_size: uniform('expert_feed_forward_length', uniform('feed_forward_length')),
    num_hidden_layers: layers,
    num_attention_heads: uniform('attention.head_count'),
    num_key_value_heads: uniform('attention.head_count'),
    q_lora_rank: qLora > 0 && !has('blk.0.attn_q.weight') ? qLora : null,
    kv_lora_rank: n('attention.kv_lora_rank'),
    qk_nope_head_dim: keyLength - rope,
    qk_rope_head_dim: rope,
    v_head_dim: mla ? vLength! : n('attention.value_length'),
    n_routed_experts: experts,
    n_shared_experts: nOpt('expert_shared_count') ?? 0,
    num_experts_per_tok: experts > 0 ? uniform('expert_used_count') : 1,
    n_group: groups,
    topk_group: groupsUsed,
    // Sigmoid routing is DeepSeek-V3's noaux_tc; a file without exp_probs_b gets a zero bias (gguf-source.ts).
    topk_method: sigmoid ? 'noaux_tc' : groupsUsed < groups ? 'group_limited_greedy' : 'greedy',
    scoring_func: sigmoid ? 'sigmoid' : 'softmax',
    norm_topk_prob: metaBoolOpt(file, `${P}expert_weights_norm`) ?? false,
    routed_scaling_factor: scale > 0 ? scale : 1,
    first_k_dense_replace: nOpt('leading_dense_block_count') ?? 0,
    moe_layer_freq: 1,
    rms_norm_eps: metaNumber(file, `${P}attention.layer_norm_rms_epsilon`, FLOAT),
    rope_theta: fOpt('rope.freq_base') ?? 10000,
    rope_scaling: yarn,
    max_position_embeddings: ctx,
    num_nextn_predict_layers: 0,
    tie_word_embeddings: !has('output.weight'),
    bos_token_id: bos !== undefined && bos < vocabRows ? bos : null,
    eos_token_id: eos !== undefined && eos < vocabRows ? eos : null,
  };
}
