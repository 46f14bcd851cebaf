// End-to-end checks of the reference forward pass on tiny checkpoints written by the test.
// The expected logits of the hand-built models are derived below from first principles (the
// comments walk through each step); none of them call into the implementation under test.
import { test } from "node:test";
import assert from "node:assert/strict";
import { loadRefModel, refForward } from "./deepseek-f64.js";
import { eye, randArray, rng, writeModelDir, zeros, type WTensor } from "./st-writer.js";

function close(actual: ArrayLike<number>, expected: ArrayLike<number>, tol: number, what: string): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  for (let i = 0; i < expected.length; i++) {
    assert.ok(Math.abs(actual[i]! - expected[i]!) <= tol, `${what}[${i}]: got ${actual[i]}, expected ${expected[i]}`);
  }
}

const silu = (z: number) => z / (1 + Math.exp(-z));
const sig = (z: number) => 1 / (1 + Math.exp(-z));
const rmsNormUnit = (v: number[]) => {
  // RMSNorm with weight 1 and eps 0: v / sqrt(mean(v^2))
  const r = Math.sqrt(v.reduce((a, x) => a + x * x, 0) / v.length);
  return v.map((x) => x / r);
};
const mul = (a: number[], b: number[]) => a.map((x, i) => x * b[i]!);

// ---------------------------------------------------------------------------------------------
// Model A: hidden 4, vocab 4, 1 dense layer, 1 head, q_proj (no q-LoRA), nope 2, rope 4, v 4,
// kv_lora 4, rms_norm_eps 0, theta 10000, no rope_scaling.
//   E[t] = 2 e_t (mean square 1, so input_layernorm (w=1, eps 0) is the identity: n_t = x_t)
//   q_proj = [0 (2 nope rows); I4 (4 rope rows)]        -> q_nope = 0, q_rope = n
//   kv_a_proj_with_mqa = [A I4 (latent); I4 (k_rope)]   -> latent = A n, k_rope = n,  A = 2^-10
//   kv_a_layernorm (w=1, eps 1e-6 ALWAYS): A n / sqrt(A^2 * 1 + 1e-6) = c n, c = A / sqrt(A^2 + 1e-6)
//   kv_b_proj = [k_nope rows (irrelevant, q_nope = 0); I4 (v rows)] -> v_s = c n_s
//   o_proj = I4; MLP: gate = [1,1,1,1], up = [1,0,0,0], down = e_3 (intermediate 1)
//     -> mlp(m) = [0, 0, 0, silu(m0+m1+m2+m3) * m0]
//   model.norm w = [1,2,3,4], lm_head = I4 -> logits = w * RMSNorm(h)
// ---------------------------------------------------------------------------------------------
const A = 2 ** -10;
const C = A / Math.sqrt(A * A + 1e-6);
const NORM_W = [1, 2, 3, 4];
const HEAD_NORM_W = [4, 3, 2, 1];

function configA(over: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    model_type: "deepseek_v3",
    vocab_size: 4,
    hidden_size: 4,
    intermediate_size: 1,
    moe_intermediate_size: 1,
    num_hidden_layers: 1,
    num_attention_heads: 1,
    num_key_value_heads: 1,
    q_lora_rank: null,
    kv_lora_rank: 4,
    qk_nope_head_dim: 2,
    qk_rope_head_dim: 4,
    v_head_dim: 4,
    n_routed_experts: 4,
    n_shared_experts: 1,
    num_experts_per_tok: 2,
    n_group: 2,
    topk_group: 1,
    topk_method: "noaux_tc",
    scoring_func: "sigmoid",
    norm_topk_prob: true,
    routed_scaling_factor: 2.5,
    first_k_dense_replace: 1,
    rms_norm_eps: 0,
    rope_theta: 10000,
    rope_scaling: null,
    max_position_embeddings: 64,
    num_nextn_predict_layers: 0,
    tie_word_embeddings: false,
    ...over,
  };
}

function attnTensors(prefix: string, oProj: number[] = eye(4, 4)): Record<string, WTensor> {
  return {
    [`${prefix}.input_layernorm.weight`]: { shape: [4], data: [1, 1, 1, 1] },
    [`${prefix}.self_attn.q_proj.weight`]: { shape: [6, 4], data: [...zeros(8), ...eye(4, 4)] },
    [`${prefix}.self_attn.kv_a_proj_with_mqa.weight`]: { shape: [8, 4], data: [...eye(4, 4, A), ...eye(4, 4)] },
    [`${prefix}.self_attn.kv_a_layernorm.weight`]: { shape: [4], data: [1, 1, 1, 1] },
    [`${prefix}.self_attn.kv_b_proj.weight`]: { shape: [6, 4], data: [1, 0, 0, 0, 0, 1, 0, 0, ...eye(4, 4)] },
    [`${prefix}.self_attn.o_proj.weight`]: { shape: [4, 4], data: oProj },
    [`${prefix}.post_attention_layernorm.weight`]: { shape: [4], data: [1, 1, 1, 1] },
  };
}

function tensorsA(): Record<string, WTensor> {
  return {
    "model.embed_tokens.weight": { shape: [4, 4], data: eye(4, 4, 2) },
    ...attnTensors("model.layers.0"),
    "model.layers.0.mlp.gate_proj.weight": { shape: [1, 4], data: [1, 1, 1, 1] },
    "model.layers.0.mlp.up_proj.weight": { shape: [1, 4], data: [1, 0, 0, 0] },
    "model.layers.0.mlp.down_proj.weight": { shape: [4, 1], data: [0, 0, 0, 1] },
    "model.norm.weight": { shape: [4], data: NORM_W },
    "lm_head.weight": { shape: [4, 4], data: eye(4, 4) },
  };
}

/** h after layer 0 (before model.norm) for tokens [0, 1]; `score10` = unscaled q_rope(1).k_rope(0). */
function handHiddenA(score10: number): number[][] {
  // t = 0: only itself; v0 = c n0 = [2c, 0, 0, 0]; h1 = x0 + v0 = [2 + 2c, 0, 0, 0]
  //   m = RMSNorm(h1) = [2, 0, 0, 0]; mlp = [0, 0, 0, silu(2) * 2]
  const h0 = [2 + 2 * C, 0, 0, 2 * silu(2)];
  // t = 1: scores (softmax scale (2+4)^-0.5): s(1,0) = score10 / sqrt6, s(1,1) = |n1|^2 / sqrt6 = 4 / sqrt6
  const a = score10 / Math.sqrt(6);
  const b = 4 / Math.sqrt(6);
  const p0 = Math.exp(a) / (Math.exp(a) + Math.exp(b));
  const p1 = 1 - p0;
  // attention out = p0 v0 + p1 v1 = [2c p0, 2c p1, 0, 0]; h1 = x1 + attn
  const h1 = [2 * C * p0, 2 + 2 * C * p1, 0, 0];
  const m = rmsNormUnit(h1);
  const h2 = [h1[0]!, h1[1]!, 0, silu(m[0]! + m[1]! + m[2]! + m[3]!) * m[0]!];
  return [h0, h2];
}

test("model A (dense, hand-derived): interleaved RoPE", () => {
  const m = loadRefModel(writeModelDir(configA(), tensorsA()));
  const out = refForward(m, [0, 1]);
  // interleaved: q_rope(1) = R(1) n1, pair (0,1) rotated by angle 1: (0, 2) -> (-2 sin 1, 2 cos 1);
  // k_rope(0) = n0 = (2, 0, 0, 0): dot = -4 sin 1
  const h = handHiddenA(-4 * Math.sin(1));
  assert.equal(out.logits.length, 2);
  close(out.logits[0]!, mul(NORM_W, rmsNormUnit(h[0]!)), 1e-12, "row 0");
  close(out.logits[1]!, mul(NORM_W, rmsNormUnit(h[1]!)), 1e-12, "row 1");
  assert.equal(out.mtpLogits, null);
  assert.equal(out.minTieGap, Infinity); // no MoE layer ran
  // sanity of the derivation: c = 2^-10 / sqrt(2^-20 + 1e-6) = 0.698673
  assert.ok(Math.abs(C - 0.698673) < 1e-6, `c = ${C}`);
});

test("model A (dense, hand-derived): rope_interleave false -> half-split", () => {
  const m = loadRefModel(writeModelDir(configA({ rope_interleave: false }), tensorsA()));
  const out = refForward(m, [0, 1]);
  // half-split: n1 = (0, 2, 0, 0): pair (0,2) is zero, pair (1,3) rotated by 0.01 -> dims 1, 3 only;
  // dot with n0 = (2, 0, 0, 0) is 0
  const h = handHiddenA(0);
  close(out.logits[0]!, mul(NORM_W, rmsNormUnit(h[0]!)), 1e-12, "row 0");
  close(out.logits[1]!, mul(NORM_W, rmsNormUnit(h[1]!)), 1e-12, "row 1");
});

test("model A: causality (prefix logits equal the first rows of the longer sequence)", () => {
  const m = loadRefModel(writeModelDir(configA(), tensorsA()));
  const long = refForward(m, [0, 1, 3, 2, 1, 0]);
  for (const n of [1, 2, 4]) {
    const short = refForward(m, [0, 1, 3, 2, 1, 0].slice(0, n));
    for (let i = 0; i < n; i++) close(short.logits[i]!, long.logits[i]!, 1e-13, `prefix ${n} row ${i}`);
  }
});

// ---------------------------------------------------------------------------------------------
// Model A + MTP (layer 1). The MTP decoder layer is made an identity (o_proj = 0, every expert's and the
// shared expert's down_proj = 0), so mtp row i = head(shared_head.norm(eh_proj([enorm(E[t_{i+1}]) | hnorm(h_i)]))).
// enorm = hnorm = 1, shared_head.norm = [4,3,2,1].
// ---------------------------------------------------------------------------------------------
function mtpTensors(ehProj: number[], own?: { embed: number[]; head: number[] }): Record<string, WTensor> {
  const p = "model.layers.1";
  const t: Record<string, WTensor> = {
    ...attnTensors(p, zeros(16)),
    [`${p}.enorm.weight`]: { shape: [4], data: [1, 1, 1, 1] },
    [`${p}.hnorm.weight`]: { shape: [4], data: [1, 1, 1, 1] },
    [`${p}.eh_proj.weight`]: { shape: [4, 8], data: ehProj },
    [`${p}.shared_head.norm.weight`]: { shape: [4], data: HEAD_NORM_W },
    [`${p}.mlp.gate.weight`]: { shape: [4, 4], data: [0.5, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, -0.5, 0, 0, 0] },
    [`${p}.mlp.gate.e_score_correction_bias`]: { shape: [4], data: [0, 0, 0, 0] },
    [`${p}.mlp.shared_experts.gate_proj.weight`]: { shape: [1, 4], data: [1, 1, 1, 1] },
    [`${p}.mlp.shared_experts.up_proj.weight`]: { shape: [1, 4], data: [1, 1, 1, 1] },
    [`${p}.mlp.shared_experts.down_proj.weight`]: { shape: [4, 1], data: zeros(4) },
  };
  for (let j = 0; j < 4; j++) {
    t[`${p}.mlp.experts.${j}.gate_proj.weight`] = { shape: [1, 4], data: [1, 1, 1, 1] };
    t[`${p}.mlp.experts.${j}.up_proj.weight`] = { shape: [1, 4], data: [1, 1, 1, 1] };
    t[`${p}.mlp.experts.${j}.down_proj.weight`] = { shape: [4, 1], data: zeros(4) };
  }
  if (own) {
    t[`${p}.embed_tokens.weight`] = { shape: [4, 4], data: own.embed };
    t[`${p}.shared_head.head.weight`] = { shape: [4, 4], data: own.head };
  }
  return t;
}

const EH_EMBED = [1, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0];
const EH_HIDDEN = [0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 1];

test("MTP: the embedding comes FIRST in the concat", () => {
  const dir = writeModelDir(configA({ num_nextn_predict_layers: 1 }), { ...tensorsA(), ...mtpTensors(EH_EMBED) });
  const out = refForward(loadRefModel(dir), [0, 1, 2], { mtp: true });
  // eh_proj = [I | 0] picks enorm(E[t_{i+1}]) = 2 e_{t_{i+1}}; shared_head.norm -> [4,3,2,1] * 2 e; head = I
  assert.equal(out.mtpLogits!.length, 2);
  close(out.mtpLogits![0]!, [0, 6, 0, 0], 1e-12, "mtp row 0 (t1 = 1)");
  close(out.mtpLogits![1]!, [0, 0, 4, 0], 1e-12, "mtp row 1 (t2 = 2)");
  // without {mtp: true}: null
  assert.equal(refForward(loadRefModel(dir), [0, 1, 2]).mtpLogits, null);
  // the MTP layer is MoE (index 1 >= first_k_dense_replace): a margin is reported
  assert.ok(Number.isFinite(out.minTieGap), "Number.isFinite(out.minTieGap)");
});

test("MTP: h_i is model.norm of the last decoder output (the state that feeds lm_head)", () => {
  const dir = writeModelDir(configA({ num_nextn_predict_layers: 1 }), { ...tensorsA(), ...mtpTensors(EH_HIDDEN) });
  const out = refForward(loadRefModel(dir), [0, 1], { mtp: true });
  // eh_proj = [0 | I] picks hnorm(model.norm(h_0)) = RMSNorm([1,2,3,4] * RMSNorm(h_0)); decoder identity; then
  //   shared_head.norm -> [4,3,2,1] * RMSNorm([1,2,3,4] * RMSNorm(h_0)), h_0 = [2 + 2c, 0, 0, 2 silu(2)] as derived above.
  // (Feeding the pre-norm state would give [4,3,2,1] * RMSNorm(h_0) instead.)
  const h0 = handHiddenA(-4 * Math.sin(1))[0]!;
  assert.equal(out.mtpLogits!.length, 1);
  close(out.mtpLogits![0]!, mul(HEAD_NORM_W, rmsNormUnit(mul(NORM_W, rmsNormUnit(h0)))), 1e-12, "mtp row 0");
  const preNorm = mul(HEAD_NORM_W, rmsNormUnit(h0));
  assert.ok(Math.abs(out.mtpLogits![0]![0]! - preNorm[0]!) > 1e-3, "the pre-norm choice differs measurably");
  // a single token has no MTP rows
  assert.deepEqual(refForward(loadRefModel(dir), [3], { mtp: true }).mtpLogits, []);
});

test("MTP: the layer's own embed_tokens / shared_head.head override the main ones", () => {
  // own embedding E'[t] = 2 e_{(t+1) mod 4}; own head = 3 I
  const embed = [0, 2, 0, 0, 0, 0, 2, 0, 0, 0, 0, 2, 2, 0, 0, 0];
  const dir = writeModelDir(configA({ num_nextn_predict_layers: 1 }), {
    ...tensorsA(),
    ...mtpTensors(EH_EMBED, { embed, head: eye(4, 4, 3) }),
  });
  const out = refForward(loadRefModel(dir), [0, 1], { mtp: true });
  // t1 = 1 -> E'[1] = 2 e_2 -> [4,3,2,1] * 2 e_2 = 4 e_2 -> head 3I -> 12 e_2
  close(out.mtpLogits![0]!, [0, 0, 12, 0], 1e-12, "own embed/head");
});

// ---------------------------------------------------------------------------------------------
// Model C: one MoE layer (first_k_dense_replace 0), attention output zeroed (o_proj = 0).
// Token 0: x = [2,0,0,0] -> post_attention_layernorm (eps 0) -> m = x.
// Router logits z_j = Wg[j] . m = 2 * Wg[j][0] = [1, 0, 2, -1]; s = sigmoid(z);
// bias [0, 0, -0.5, 0.6] -> c = [σ1, 0.5, σ2 - 0.5, σ(-1) + 0.6] = [0.731, 0.5, 0.381, 0.869]
// groups {0,1}, {2,3} (keep 1): g0 = 1.231, g1 = 1.250 -> group 1; top-2: expert 3 then 2.
// weights = s / (s3 + s2) * 2.5 (unbiased!)
// expert j: gate = [1,0,0,0] -> 2, up = [j+1,0,0,0] -> 2(j+1), down = e_j -> 2(j+1) silu(2) e_j
// shared: gate [1,0,0,0] -> 2, up [0.5,0,0,0] -> 1, down [1,1,1,1] -> silu(2) [1,1,1,1]
// h = x + w3 * 8 silu2 e_3 + w2 * 6 silu2 e_2 + silu2 [1,1,1,1]; norm w = 1; head = I.
// ---------------------------------------------------------------------------------------------
test("model C (MoE, hand-derived): group limit, selection-only bias, shared expert, scaling", () => {
  const p = "model.layers.0";
  const t: Record<string, WTensor> = {
    "model.embed_tokens.weight": { shape: [4, 4], data: eye(4, 4, 2) },
    ...attnTensors(p, zeros(16)),
    [`${p}.mlp.gate.weight`]: { shape: [4, 4], data: [0.5, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, -0.5, 0, 0, 0] },
    [`${p}.mlp.gate.e_score_correction_bias`]: { shape: [4], data: [0, 0, -0.5, 0.6] },
    [`${p}.mlp.shared_experts.gate_proj.weight`]: { shape: [1, 4], data: [1, 0, 0, 0] },
    [`${p}.mlp.shared_experts.up_proj.weight`]: { shape: [1, 4], data: [0.5, 0, 0, 0] },
    [`${p}.mlp.shared_experts.down_proj.weight`]: { shape: [4, 1], data: [1, 1, 1, 1] },
    "model.norm.weight": { shape: [4], data: [1, 1, 1, 1] },
    "lm_head.weight": { shape: [4, 4], data: eye(4, 4) },
  };
  for (let j = 0; j < 4; j++) {
    t[`${p}.mlp.experts.${j}.gate_proj.weight`] = { shape: [1, 4], data: [1, 0, 0, 0] };
    t[`${p}.mlp.experts.${j}.up_proj.weight`] = { shape: [1, 4], data: [j + 1, 0, 0, 0] };
    const down = zeros(4);
    down[j] = 1;
    t[`${p}.mlp.experts.${j}.down_proj.weight`] = { shape: [4, 1], data: down };
  }
  const m = loadRefModel(writeModelDir(configA({ first_k_dense_replace: 0 }), t));
  const out = refForward(m, [0]);
  const s2 = sig(2);
  const s3 = sig(-1);
  const w2 = (s2 / (s2 + s3)) * 2.5;
  const w3 = (s3 / (s2 + s3)) * 2.5;
  const sl = silu(2);
  const h = [2 + sl, sl, sl + w2 * 6 * sl, sl + w3 * 8 * sl];
  close(out.logits[0]!, rmsNormUnit(h), 1e-12, "logits");
  // margins: group cut g1 - g0 = (σ2 - 0.5 + σ(-1) + f32(0.6)) - (σ1 + 0.5); expert cut: c2 - 0 (masked)
  const groupGap = s2 - 0.5 + s3 + Math.fround(0.6) - (sig(1) + 0.5);
  const expertGap = s2 - 0.5;
  assert.ok(Math.abs(out.minTieGap - Math.min(groupGap, expertGap)) < 1e-12, "Math.abs(out.minTieGap - Math.min(groupGap, expertGap)) < 1e-12");
  assert.ok(Math.abs(out.minTieGap - 0.0186799) < 1e-6, `gap ${out.minTieGap}`);
});

// ---------------------------------------------------------------------------------------------
// Random tiny checkpoints (V3 with q-LoRA, YaRN, MoE, MTP, shards, BF16; V2 with softmax + group-limited
// greedy and YaRN): structural checks only (causality, shard/dtype invariance).
// ---------------------------------------------------------------------------------------------
function randomModel(kind: "v3" | "v2", seed: number): { config: Record<string, unknown>; tensors: Record<string, WTensor> } {
  const next = rng(seed);
  const D = 8, V = 16, H = 2, nope = 4, dr = 4, dv = 3, r = 4, qr = 6, E = 8, I = 4, Id = 12;
  const config: Record<string, unknown> =
    kind === "v3"
      ? {
          model_type: "deepseek_v3", vocab_size: V, hidden_size: D, intermediate_size: Id, moe_intermediate_size: I,
          num_hidden_layers: 2, num_attention_heads: H, num_key_value_heads: H, q_lora_rank: qr, kv_lora_rank: r,
          qk_nope_head_dim: nope, qk_rope_head_dim: dr, v_head_dim: dv, n_routed_experts: E, n_shared_experts: 1,
          num_experts_per_tok: 2, n_group: 4, topk_group: 2, topk_method: "noaux_tc", scoring_func: "sigmoid",
          norm_topk_prob: true, routed_scaling_factor: 2.5, first_k_dense_replace: 1, rms_norm_eps: 1e-6,
          rope_theta: 10000, max_position_embeddings: 64, num_nextn_predict_layers: 1, tie_word_embeddings: false,
          rope_scaling: { type: "yarn", factor: 4, original_max_position_embeddings: 16, beta_fast: 32, beta_slow: 1, mscale: 1, mscale_all_dim: 1 },
        }
      : {
          model_type: "deepseek_v2", vocab_size: V, hidden_size: D, intermediate_size: Id, moe_intermediate_size: I,
          num_hidden_layers: 2, num_attention_heads: H, num_key_value_heads: H, q_lora_rank: null, kv_lora_rank: r,
          qk_nope_head_dim: nope, qk_rope_head_dim: dr, v_head_dim: dv, n_routed_experts: E, n_shared_experts: 2,
          num_experts_per_tok: 3, n_group: 4, topk_group: 2, topk_method: "group_limited_greedy", scoring_func: "softmax",
          norm_topk_prob: false, routed_scaling_factor: 1.5, first_k_dense_replace: 1, moe_layer_freq: 1, rms_norm_eps: 1e-6,
          rope_theta: 10000, max_position_embeddings: 64, num_nextn_predict_layers: 0, tie_word_embeddings: false,
          rope_scaling: { type: "yarn", factor: 4, original_max_position_embeddings: 16, beta_fast: 32, beta_slow: 1, mscale: 0.707, mscale_all_dim: 0.707 },
        };
  const t: Record<string, WTensor> = {};
  const put = (name: string, shape: number[], scale: number, offset = 0) => {
    t[name] = { shape, data: randArray(next, shape.reduce((a, d) => a * d, 1), scale).map((x) => x + offset) };
  };
  put("model.embed_tokens.weight", [V, D], 1);
  const layers = kind === "v3" ? 3 : 2; // v3: 2 + MTP layer
  for (let l = 0; l < layers; l++) {
    const p = `model.layers.${l}`;
    put(`${p}.input_layernorm.weight`, [D], 0.2, 1);
    put(`${p}.post_attention_layernorm.weight`, [D], 0.2, 1);
    if (kind === "v3") {
      put(`${p}.self_attn.q_a_proj.weight`, [qr, D], 0.5);
      put(`${p}.self_attn.q_a_layernorm.weight`, [qr], 0.2, 1);
      put(`${p}.self_attn.q_b_proj.weight`, [H * (nope + dr), qr], 0.5);
    } else {
      put(`${p}.self_attn.q_proj.weight`, [H * (nope + dr), D], 0.5);
    }
    put(`${p}.self_attn.kv_a_proj_with_mqa.weight`, [r + dr, D], 0.5);
    put(`${p}.self_attn.kv_a_layernorm.weight`, [r], 0.2, 1);
    put(`${p}.self_attn.kv_b_proj.weight`, [H * (nope + dv), r], 0.5);
    put(`${p}.self_attn.o_proj.weight`, [D, H * dv], 0.5);
    if (l < 1) {
      put(`${p}.mlp.gate_proj.weight`, [Id, D], 0.5);
      put(`${p}.mlp.up_proj.weight`, [Id, D], 0.5);
      put(`${p}.mlp.down_proj.weight`, [D, Id], 0.5);
    } else {
      put(`${p}.mlp.gate.weight`, [E, D], 0.5);
      if (kind === "v3") put(`${p}.mlp.gate.e_score_correction_bias`, [E], 0.1);
      for (let j = 0; j < E; j++) {
        put(`${p}.mlp.experts.${j}.gate_proj.weight`, [I, D], 0.5);
        put(`${p}.mlp.experts.${j}.up_proj.weight`, [I, D], 0.5);
        put(`${p}.mlp.experts.${j}.down_proj.weight`, [D, I], 0.5);
      }
      const Is = I * (config.n_shared_experts as number);
      put(`${p}.mlp.shared_experts.gate_proj.weight`, [Is, D], 0.5);
      put(`${p}.mlp.shared_experts.up_proj.weight`, [Is, D], 0.5);
      put(`${p}.mlp.shared_experts.down_proj.weight`, [D, Is], 0.5);
    }
    if (kind === "v3" && l === 2) {
      put(`${p}.enorm.weight`, [D], 0.2, 1);
      put(`${p}.hnorm.weight`, [D], 0.2, 1);
      put(`${p}.eh_proj.weight`, [D, 2 * D], 0.5);
      put(`${p}.shared_head.norm.weight`, [D], 0.2, 1);
    }
  }
  put("model.norm.weight", [D], 0.2, 1);
  put("lm_head.weight", [V, D], 0.5);
  return { config, tensors: t };
}

test("random V3 (q-LoRA, YaRN, MoE, MTP): causality of logits and MTP logits; shards and BF16 agree", () => {
  const { config, tensors } = randomModel("v3", 1234);
  const m = loadRefModel(writeModelDir(config, tensors));
  const seq = [3, 15, 0, 7, 7, 11, 2];
  const long = refForward(m, seq, { mtp: true });
  assert.equal(long.logits.length, 7);
  assert.equal(long.logits[0]!.length, 16);
  assert.equal(long.mtpLogits!.length, 6);
  assert.ok(long.minTieGap > 0 && Number.isFinite(long.minTieGap), "long.minTieGap > 0 && Number.isFinite(long.minTieGap)");
  for (const row of [...long.logits, ...long.mtpLogits!]) for (const v of row) assert.ok(Number.isFinite(v), "Number.isFinite(v)");
  for (const n of [2, 4]) {
    const short = refForward(m, seq.slice(0, n), { mtp: true });
    for (let i = 0; i < n; i++) close(short.logits[i]!, long.logits[i]!, 1e-13, `logits prefix ${n} row ${i}`);
    for (let i = 0; i < n - 1; i++) close(short.mtpLogits![i]!, long.mtpLogits![i]!, 1e-13, `mtp prefix ${n} row ${i}`);
  }
  // the same tensors in 3 shards give identical results
  const sharded = refForward(loadRefModel(writeModelDir(config, tensors, 3)), seq, { mtp: true });
  assert.deepEqual(sharded.logits, long.logits);
  assert.deepEqual(sharded.mtpLogits, long.mtpLogits);
  // a BF16 copy of weights that are exactly representable in BF16 gives identical results
  const toBf16 = (vals: ArrayLike<number>) => {
    const bytes = new Uint8Array(vals.length * 2);
    const f = new Float32Array(1);
    const u = new Uint32Array(f.buffer);
    for (let i = 0; i < vals.length; i++) {
      f[0] = vals[i]!;
      const hi = u[0]! >>> 16;
      bytes[2 * i] = hi & 0xff;
      bytes[2 * i + 1] = hi >>> 8;
    }
    return bytes;
  };
  const truncated: Record<string, WTensor> = {};
  const bf16: Record<string, WTensor> = {};
  for (const [name, w] of Object.entries(tensors)) {
    const vals = Array.from(w.data as ArrayLike<number>, (x) => {
      const f = new Float32Array([x]);
      new Uint32Array(f.buffer)[0]! &= 0xffff0000;
      return f[0]!;
    });
    truncated[name] = { shape: w.shape, data: vals };
    bf16[name] = { shape: w.shape, data: toBf16(vals), dtype: "BF16" };
  }
  const a = refForward(loadRefModel(writeModelDir(config, truncated)), seq.slice(0, 3), { mtp: true });
  const b = refForward(loadRefModel(writeModelDir(config, bf16)), seq.slice(0, 3), { mtp: true });
  assert.deepEqual(b.logits, a.logits);
  assert.deepEqual(b.mtpLogits, a.mtpLogits);
});

test("random V2 (q_proj, softmax + group_limited_greedy, YaRN 0.707): causality", () => {
  const { config, tensors } = randomModel("v2", 99);
  const m = loadRefModel(writeModelDir(config, tensors));
  const seq = [1, 4, 9, 4, 0];
  const long = refForward(m, seq, { mtp: true });
  assert.equal(long.mtpLogits, null); // num_nextn_predict_layers 0
  assert.ok(long.minTieGap > 0 && Number.isFinite(long.minTieGap), "long.minTieGap > 0 && Number.isFinite(long.minTieGap)");
  for (const n of [1, 3]) {
    const short = refForward(m, seq.slice(0, n));
    for (let i = 0; i < n; i++) close(short.logits[i]!, long.logits[i]!, 1e-13, `prefix ${n} row ${i}`);
  }
});
