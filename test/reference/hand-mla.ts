// A hand-worked Multi-head Latent Attention model (test helper, not a test): 2 heads, q-LoRA, a 1-dim nope part and
// a 4-dim RoPE part per query head, 2-dim values, 2 tokens. It writes the checkpoint and derives the logits in closed
// form, step by step below, calling no implementation; the reference (test/reference) and the model (test/model) are
// both checked against it. Leaves out MoE and MTP (models A and C of tiny-model.test.ts work those by hand).

import { writeModelDir, zeros, type WTensor } from './st-writer.js';

// ---------------------------------------------------------------------------------------------------------------
// The model. hidden 4, vocab 4, 1 dense layer, H = 2 heads, q_lora_rank 2, kv_lora_rank 2, qk_nope 1, qk_rope 4,
// v 2, rms_norm_eps 1e-5 (NOT 1e-6, so a LoRA norm that used it would show), rope_theta 4 (so both rope pairs turn
// visibly at position 1: inverse frequencies 4^0 = 1 and 4^(-2/4) = 0.5).
//
// 1. E[0] = [2,0,0,0], E[1] = [0,2,0,0]: mean square 1, so input_layernorm (w = 1) gives n_t = k x_t,
//    k = 1/sqrt(1 + 1e-5).
// 2. q_a_proj = a [[1,1,0,0], [1,-1,0,0]], a = 2^-11  ->  q_a(n_0) = g [1, 1], q_a(n_1) = g [1, -1], g = 2ka.
//    q_a_layernorm (eps 1e-6 ALWAYS, w = [1, 2]): mean square g^2, so qn_t = c [1, ±2], c = g / sqrt(g^2 + 1e-6)
//    = 0.69867 (g is so small that the eps matters: eps 1e-5 would give c = 0.30; no norm at all would leave q ~ 2^-10).
// 3. q_b_proj, rows per head [nope, rope0, rope1, rope2, rope3]; a row [p, r] gives c (p + 2r) at t = 0 and
//    c (p - 2r) at t = 1. Only t = 1 matters (token 0 attends to itself alone):
//      head 0 rows [1,0] [0,0] [1,0] [0,0] [0,0]        -> q_0(1) = c [ 1 | 0, 1, 0, 0]
//      head 1 rows [0,.5] [1,0] [0,0] [0,0] [0,-.5]     -> q_1(1) = c [-1 | 1, 0, 0, 1]
// 4. kv_a_proj_with_mqa: latent rows a [1,1,0,0], a [1,-1,0,0] -> g [1, ±1]; kv_a_layernorm (eps 1e-6, w = 1)
//    -> l_0 = c [1, 1], l_1 = c [1, -1]. Rope rows [1,0,0,0] [0,0,0,0] [1,0,0,0] [0,1,0,0]
//    -> k_rope(0) = 2k [1, 0, 1, 0], k_rope(1) = 2k [0, 0, 0, 1] (shared by both heads).
// 5. kv_b_proj, rows per head [k_nope, v_0, v_1]:
//      head 0: [0,1] [0,1] [1,0]   -> k_0(0) = c,  k_0(1) = -c; v_0(0) = c [1, 1], v_0(1) = c [-1, 1]
//      head 1: [1,1] [1,1] [0,-1]  -> k_1(0) = 2c, k_1(1) = 0;  v_1(0) = c [2,-1], v_1(1) = c [0, 1]
// 6. Token 0: att_0 = [v_0(0) | v_1(0)] = c [1, 1, 2, -1] (heads concatenated head-major).
// 7. Token 1: score(s) = scale (q_nope k_nope(s) + (f R(1) q_rope) . (f R(s) k_rope(s))), f = cos/sin amplitude.
//    R(1) q_rope . k_rope(0) = 2kc r_h, with r_h = (R(1) rho_h) . [1,0,1,0], rho_0 = [0,1,0,0], rho_1 = [1,0,0,1];
//    R(1) q_rope . R(1) k_rope(1) = q_rope . k_rope(1) = 2kc rho_h[3] (a common rotation cancels): 0 and 2kc.
//    Angles at position 1: t0 = inv_freq_0, t1 = inv_freq_1.
//      interleaved pairs (0,1), (2,3):  R rho_0 = [-sin t0, cos t0, 0, 0]            -> r_0 = -sin t0
//                                       R rho_1 = [cos t0, sin t0, -sin t1, cos t1]  -> r_1 = cos t0 - sin t1
//      half-split pairs (0,2), (1,3):   R rho_0 = [0, cos t1, 0, sin t1]             -> r_0 = 0
//                                       R rho_1 = [cos t0, -sin t1, sin t0, cos t1]  -> r_1 = cos t0 + sin t0
//    d_h = score(0) - score(1):  d_0 = scale (c^2 + c^2 + 2kc f^2 r_0)
//                                d_1 = scale (-2c^2 - 0 + 2kc f^2 (r_1 - 1))
//    p_h = softmax weight of token 0 = sigmoid(d_h);
//    att_1 = [p_0 v_0(0) + (1-p_0) v_0(1) | p_1 v_1(0) + (1-p_1) v_1(1)] = [c(2p_0 - 1), c, 2c p_1, c(1 - 2p_1)].
// 8. o_proj = I -> h_t = x_t + att_t; the MLP's down_proj is 0, so h_t is the layer output.
// 9. logits_t = w ⊙ h_t / sqrt(mean(h_t^2) + 1e-5), w = model.norm = [1, 2, 3, 4]; lm_head = I.
// ---------------------------------------------------------------------------------------------------------------

const A = 2 ** -11;
const EPS = 1e-5;
const NORM_W = [1, 2, 3, 4];

export interface HandVariant {
  name: string;
  /** config.json keys that differ from the plain model */
  config: Record<string, unknown>;
  /** rotation angles of the two rope pairs at position 1 (= the inverse frequencies) */
  t0: number;
  t1: number;
  /** cos/sin amplitude f */
  f: number;
  /** softmax scale */
  scale: number;
  interleaved: boolean;
}

/** get_mscale(factor, m) = 0.1 m ln(factor) + 1 for factor > 1 */
const mscale = (factor: number, m: number) => 0.1 * m * Math.log(factor) + 1;

export const HAND_VARIANTS: HandVariant[] = [
  // no rope_scaling: inv_freq = [4^0, 4^-0.5] = [1, 0.5]; scale = (qk_nope + qk_rope)^-0.5 = 5^-0.5
  { name: 'plain RoPE', config: {}, t0: 1, t1: 0.5, f: 1, scale: 1 / Math.sqrt(5), interleaved: true },
  { name: 'half-split RoPE (rope_interleave false)', config: { rope_interleave: false }, t0: 1, t1: 0.5, f: 1, scale: 1 / Math.sqrt(5), interleaved: false },
  // YaRN, factor 4, original 8, beta_fast 32, beta_slow 1, d = 4, theta = 4:
  //   c(r) = d ln(orig / (2 pi r)) / (2 ln theta) = log2(4 / (pi r)): c(32) = -4.65 -> low = max(floor, 0) = 0;
  //   c(1) = log2(1.2732) = 0.35 -> high = min(ceil, d - 1) = 1. ramp = clip((i - 0) / (1 - 0)) = [0, 1].
  //   pos_freq = [1, 4^(2/4) = 2]: inv_freq = [1 (ramp 0, kept), 1 / (4 * 2) = 0.125 (ramp 1, interpolated)].
  //   mscale 1, mscale_all_dim 0.5 (both set): f = get_mscale(4, 1) / get_mscale(4, 0.5) = 1.138629 / 1.069315;
  //   scale = 5^-0.5 * get_mscale(4, 0.5)^2 = 0.447214 * 1.143434.
  {
    name: 'YaRN (factor 4, mscale 1, mscale_all_dim 0.5)',
    config: {
      max_position_embeddings: 32,
      rope_scaling: { type: 'yarn', factor: 4, original_max_position_embeddings: 8, beta_fast: 32, beta_slow: 1, mscale: 1, mscale_all_dim: 0.5 },
    },
    t0: 1, t1: 0.125, f: mscale(4, 1) / mscale(4, 0.5), scale: mscale(4, 0.5) ** 2 / Math.sqrt(5), interleaved: true,
  },
];

export function handConfig(v: HandVariant): Record<string, unknown> {
  return {
    architectures: ['DeepseekV3ForCausalLM'], model_type: 'deepseek_v3',
    vocab_size: 4, hidden_size: 4, intermediate_size: 1, moe_intermediate_size: 1, num_hidden_layers: 1,
    num_attention_heads: 2, num_key_value_heads: 2, q_lora_rank: 2, kv_lora_rank: 2,
    qk_nope_head_dim: 1, qk_rope_head_dim: 4, v_head_dim: 2,
    n_routed_experts: 0, n_shared_experts: 0, num_experts_per_tok: 1, n_group: 1, topk_group: 1,
    topk_method: 'noaux_tc', scoring_func: 'sigmoid', norm_topk_prob: true, routed_scaling_factor: 1,
    first_k_dense_replace: 1, moe_layer_freq: 1, rms_norm_eps: EPS, rope_theta: 4, rope_scaling: null,
    max_position_embeddings: 16, num_nextn_predict_layers: 0, tie_word_embeddings: false,
    ...v.config,
  };
}

export function handTensors(): Record<string, WTensor> {
  const p = 'model.layers.0';
  const t = (shape: number[], data: number[]): WTensor => ({ shape, data });
  return {
    'model.embed_tokens.weight': t([4, 4], [2, 0, 0, 0, 0, 2, 0, 0, 0, 0, 2, 0, 0, 0, 0, 2]),
    [`${p}.input_layernorm.weight`]: t([4], [1, 1, 1, 1]),
    [`${p}.self_attn.q_a_proj.weight`]: t([2, 4], [A, A, 0, 0, A, -A, 0, 0]),
    [`${p}.self_attn.q_a_layernorm.weight`]: t([2], [1, 2]),
    [`${p}.self_attn.q_b_proj.weight`]: t([10, 2], [
      1, 0, 0, 0, 1, 0, 0, 0, 0, 0, // head 0: nope, rope 0..3
      0, 0.5, 1, 0, 0, 0, 0, 0, 0, -0.5, // head 1
    ]),
    [`${p}.self_attn.kv_a_proj_with_mqa.weight`]: t([6, 4], [
      A, A, 0, 0, A, -A, 0, 0, // latent
      1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, // k_rope
    ]),
    [`${p}.self_attn.kv_a_layernorm.weight`]: t([2], [1, 1]),
    [`${p}.self_attn.kv_b_proj.weight`]: t([6, 2], [
      0, 1, 0, 1, 1, 0, // head 0: k_nope, v_0, v_1
      1, 1, 1, 1, 0, -1, // head 1
    ]),
    [`${p}.self_attn.o_proj.weight`]: t([4, 4], [1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1]),
    [`${p}.post_attention_layernorm.weight`]: t([4], [1, 1, 1, 1]),
    [`${p}.mlp.gate_proj.weight`]: t([1, 4], [1, 1, 1, 1]),
    [`${p}.mlp.up_proj.weight`]: t([1, 4], [1, 1, 1, 1]),
    [`${p}.mlp.down_proj.weight`]: t([4, 1], zeros(4)),
    'model.norm.weight': t([4], NORM_W),
    'lm_head.weight': t([4, 4], [1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1]),
  };
}

/** Writes the variant's checkpoint (config.json + one F32 model.safetensors) and returns the folder. */
export function writeHandModel(v: HandVariant, dir?: string): string {
  return writeModelDir(handConfig(v), handTensors(), 1, dir);
}

/** The two steps' constants: k (input norm), c (LoRA norms). */
export function handConstants(): { k: number; c: number } {
  const k = 1 / Math.sqrt(1 + EPS);
  const g = 2 * k * A;
  return { k, c: g / Math.sqrt(g * g + 1e-6) };
}

/** Logits of tokens [0, 1] by the derivation above: 2 rows of 4. */
export function handLogits(v: HandVariant): number[][] {
  const { k, c } = handConstants();
  const r0 = v.interleaved ? -Math.sin(v.t0) : 0;
  const r1 = v.interleaved ? Math.cos(v.t0) - Math.sin(v.t1) : Math.cos(v.t0) + Math.sin(v.t0);
  const f2 = v.f * v.f;
  const d0 = v.scale * (2 * c * c + 2 * k * c * f2 * r0);
  const d1 = v.scale * (-2 * c * c + 2 * k * c * f2 * (r1 - 1));
  const sigmoid = (z: number) => 1 / (1 + Math.exp(-z));
  const p0 = sigmoid(d0);
  const p1 = sigmoid(d1);
  const h = [
    [2 + c, c, 2 * c, -c],
    [c * (2 * p0 - 1), 2 + c, 2 * c * p1, c * (1 - 2 * p1)],
  ];
  return h.map((row) => {
    const rms = Math.sqrt(row.reduce((s, x) => s + x * x, 0) / row.length + EPS);
    return row.map((x, i) => (NORM_W[i]! * x) / rms);
  });
}
