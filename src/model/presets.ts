// Named model configurations for `qiusuo init`, `train` and `info`: tiny (runs in seconds, every feature on), small
// (dims above 128 so FP8 128×128 blocks are real, with partial edge blocks), and DeepSeek-V3 itself (671B; for
// `info` and planning, far too large to instantiate here); nano is the default training model.

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
};

export function presetConfig(name: string): Record<string, unknown> {
  const p = PRESETS[name];
  if (!p) throw new Error(`unknown preset "${name}" (available: ${Object.keys(PRESETS).join(', ')})`);
  return structuredClone(p);
}
