// Named model configurations for `qiusuo init`, `train` and `info`: tiny (runs in seconds, every feature on), small
// (dims above 128 so FP8 128×128 blocks are real, with partial edge blocks), DeepSeek-V3 itself (671B; for `info`
// and planning, far too large to instantiate here), and two real ~16B models that `init` can write in full
// (DeepSeek-V2-Lite, Moonlight-16B-A3B); nano is the default training model.

import type { ShardLayout } from '../weights/shards.js';

export const PRESETS: Record<string, Record<string, unknown>> = {
  tiny: {
    model_type: 'deepseek_v3', vocab_size: 512, hidden_size: 64, intermediate_size: 128, moe_intermediate_size: 32,
    num_hidden_layers: 2, num_attention_heads: 4, num_key_value_heads: 4, q_lora_rank: 32, kv_lora_rank: 32,
    qk_nope_head_dim: 16, qk_rope_head_dim: 8, v_head_dim: 16, n_routed_experts: 8, n_shared_experts: 1,
    num_experts_per_tok: 2, n_group: 4, topk_group: 2, topk_method: 'noaux_tc', scoring_func: 'sigmoid',
    norm_topk_prob: true, routed_scaling_factor: 2.5, first_k_dense_replace: 1, moe_layer_freq: 1, rms_norm_eps: 1e-6,
    rope_theta: 10000, max_position_embeddings: 4096,
    rope_scaling: { type: 'yarn', factor: 4, original_max_position_embeddings: 1024, beta_fast: 32, beta_slow: 1, mscale: 1, mscale_all_dim: 1 },
    num_nextn_predict_layers: 1, tie_word_embeddings: false,
  },
  small: {
    model_type: 'deepseek_v3', vocab_size: 2048, hidden_size: 256, intermediate_size: 640, moe_intermediate_size: 160,
    num_hidden_layers: 4, num_attention_heads: 8, num_key_value_heads: 8, q_lora_rank: 192, kv_lora_rank: 160,
    qk_nope_head_dim: 32, qk_rope_head_dim: 16, v_head_dim: 32, n_routed_experts: 16, n_shared_experts: 1,
    num_experts_per_tok: 4, n_group: 4, topk_group: 2, topk_method: 'noaux_tc', scoring_func: 'sigmoid',
    norm_topk_prob: true, routed_scaling_factor: 2.5, first_k_dense_replace: 1, moe_layer_freq: 1, rms_norm_eps: 1e-6,
    rope_theta: 10000, max_position_embeddings: 8192,
    rope_scaling: { type: 'yarn', factor: 4, original_max_position_embeddings: 2048, beta_fast: 32, beta_slow: 1, mscale: 1, mscale_all_dim: 1 },
    num_nextn_predict_layers: 1, tie_word_embeddings: false,
  },
  // The default `qiusuo train` model: sized so a run on the Brown corpus takes ~10 minutes on 2 cores.
  nano: {
    model_type: 'deepseek_v3', vocab_size: 4096, hidden_size: 128, intermediate_size: 384, moe_intermediate_size: 96,
    num_hidden_layers: 4, num_attention_heads: 4, num_key_value_heads: 4, q_lora_rank: 96, kv_lora_rank: 64,
    qk_nope_head_dim: 32, qk_rope_head_dim: 16, v_head_dim: 32, n_routed_experts: 8, n_shared_experts: 1,
    num_experts_per_tok: 2, n_group: 4, topk_group: 2, topk_method: 'noaux_tc', scoring_func: 'sigmoid',
    norm_topk_prob: true, routed_scaling_factor: 1, first_k_dense_replace: 1, moe_layer_freq: 1, rms_norm_eps: 1e-6,
    rope_theta: 10000, max_position_embeddings: 2048, rope_scaling: null,
    num_nextn_predict_layers: 1, tie_word_embeddings: false,
  },
  // Checked key by key against the published config.json (test/model/fixtures/deepseek-v3-config.json).
  'deepseek-v3': {
    model_type: 'deepseek_v3', vocab_size: 129280, hidden_size: 7168, intermediate_size: 18432, moe_intermediate_size: 2048,
    num_hidden_layers: 61, num_attention_heads: 128, num_key_value_heads: 128, q_lora_rank: 1536, kv_lora_rank: 512,
    qk_nope_head_dim: 128, qk_rope_head_dim: 64, v_head_dim: 128, n_routed_experts: 256, n_shared_experts: 1,
    num_experts_per_tok: 8, n_group: 8, topk_group: 4, topk_method: 'noaux_tc', scoring_func: 'sigmoid',
    norm_topk_prob: true, routed_scaling_factor: 2.5, first_k_dense_replace: 3, moe_layer_freq: 1, rms_norm_eps: 1e-6,
    rope_theta: 10000, max_position_embeddings: 163840,
    rope_scaling: { type: 'yarn', factor: 40, original_max_position_embeddings: 4096, beta_fast: 32, beta_slow: 1, mscale: 1, mscale_all_dim: 1 },
    num_nextn_predict_layers: 1, tie_word_embeddings: false, bos_token_id: 0, eos_token_id: 1, torch_dtype: 'bfloat16',
    quantization_config: { quant_method: 'fp8', fmt: 'e4m3', activation_scheme: 'dynamic', weight_block_size: [128, 128] },
  },
  // DeepSeek-V2-Lite (deepseek-ai/DeepSeek-V2-Lite): every model key of the published config.json, checked key by key
  // against test/model/fixtures/deepseek-v2-lite-chat-config.json (found in the stored GitHub corpus as transformers'
  // print-out of the DeepSeek-V2-Lite-Chat snapshot 85864749; Lite and Lite-Chat share the architecture). V2 routing:
  // softmax scores, plain greedy top-6 of 64, no renormalisation, no query LoRA, YaRN with mscale 0.707. Token ids
  // (bos 100000, eos 100001) are the tokenizer's: init writes its own tokenizer's, and leaving them out lets
  // `--set vocab_size=…` shrink the model.
  'deepseek-v2-lite': {
    model_type: 'deepseek_v2', vocab_size: 102400, hidden_size: 2048, intermediate_size: 10944, moe_intermediate_size: 1408,
    num_hidden_layers: 27, num_attention_heads: 16, num_key_value_heads: 16, q_lora_rank: null, kv_lora_rank: 512,
    qk_nope_head_dim: 128, qk_rope_head_dim: 64, v_head_dim: 128, n_routed_experts: 64, n_shared_experts: 2,
    num_experts_per_tok: 6, n_group: 1, topk_group: 1, topk_method: 'greedy', scoring_func: 'softmax',
    norm_topk_prob: false, routed_scaling_factor: 1.0, first_k_dense_replace: 1, moe_layer_freq: 1, rms_norm_eps: 1e-6,
    rope_theta: 10000, max_position_embeddings: 163840,
    rope_scaling: { beta_fast: 32, beta_slow: 1, factor: 40, mscale: 0.707, mscale_all_dim: 0.707, original_max_position_embeddings: 4096, type: 'yarn' },
    tie_word_embeddings: false, torch_dtype: 'bfloat16',
  },
  // Moonlight-16B-A3B (moonshotai/Moonlight-16B-A3B), DeepSeek-V3's architecture at 16B: checked key by key against
  // test/model/fixtures/moonlight-16b-a3b-instruct-config.json (the -Instruct config.json at revision 4e735b07, quoted
  // verbatim in a Rust test of the stored GitHub corpus; the base model's own file was not found there). Token ids are
  // left out as for V2-Lite (and the chat tuning may have changed eos). Sigmoid routing in a single group (n_group 1), no
  // rope_scaling, no MTP module, 163840-token tiktoken vocabulary.
  'moonlight-16b-a3b': {
    model_type: 'deepseek_v3', vocab_size: 163840, hidden_size: 2048, intermediate_size: 11264, moe_intermediate_size: 1408,
    num_hidden_layers: 27, num_attention_heads: 16, num_key_value_heads: 16, q_lora_rank: null, kv_lora_rank: 512,
    qk_nope_head_dim: 128, qk_rope_head_dim: 64, v_head_dim: 128, n_routed_experts: 64, n_shared_experts: 2,
    num_experts_per_tok: 6, n_group: 1, topk_group: 1, topk_method: 'noaux_tc', scoring_func: 'sigmoid',
    norm_topk_prob: true, routed_scaling_factor: 2.446, first_k_dense_replace: 1, moe_layer_freq: 1, rms_norm_eps: 1e-5,
    rope_theta: 50000.0, max_position_embeddings: 8192,
    num_nextn_predict_layers: 0, tie_word_embeddings: false, torch_dtype: 'bfloat16',
  },
};

/**
 * The file layout of each real model's original repository, which `qiusuo init` reproduces. DeepSeek-V2-Lite: four
 * shards model-00001-of-000004 … (note the six-digit total) of 8.6, 8.6, 8.6 and 5.6 GB. Moonlight-16B-A3B: one
 * decoder layer per shard, model-1-of-27 … model-27-of-27, the embedding with layer 0, norm and head with layer 26.
 * Sources: test/model/fixtures/README.md. Presets not listed are written as one file.
 */
export const PRESET_SHARD_LAYOUTS: Record<string, ShardLayout> = {
  'deepseek-v2-lite': { split: { maxShardBytes: 8.6e9 }, digits: [5, 6] },
  'moonlight-16b-a3b': { split: 'per-layer', digits: [0, 0] },
};

export function presetConfig(name: string): Record<string, unknown> {
  const p = PRESETS[name];
  if (!p) throw new Error(`unknown preset "${name}" (available: ${Object.keys(PRESETS).join(', ')})`);
  return structuredClone(p);
}
