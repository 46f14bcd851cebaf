// Float64 reference ("oracle") implementation of DeepSeek-V3 / DeepSeek-V2 (Hugging Face semantics).
//
// Written to be read, not to be fast: plain loops over Float64Array, full (non-cached) K/V, one token
// at a time. It shares no code with src/. The rules it follows are in /work/shared/docs/deepseek-v3.md;
// the few points where sources disagree are marked "CHOICE" below.

import { loadCheckpoint, type RefCheckpoint } from "./safetensors-f64.js";

export interface RefModel {
  config: any;
  dir: string;
  /** tensor decoded to float64 (cached); undefined when absent */
  get(name: string): Float64Array | undefined;
  shape(name: string): number[] | undefined;
  names(): string[];
}

export interface RefForwardResult {
  /** T rows of vocab_size logits; row i predicts token i+1 */
  logits: number[][];
  /** T-1 rows from the first MTP module (row i predicts token i+2), or null */
  mtpLogits: number[][] | null;
  /** smallest routing margin seen (k-th vs (k+1)-th selection score, and group score at the group cut),
   *  over every token of every MoE layer run (including the MTP layer); Infinity when there is none */
  minTieGap: number;
  /** every MoE layer run, in order (main layers, then the MTP layer): what its router saw and chose, per token */
  routing: RefLayerRouting[];
}

export interface RefLayerRouting {
  /** the layer's weight prefix, e.g. "model.layers.1.mlp" */
  prefix: string;
  /** per token: the unbiased scores s of all experts (sigmoid, or softmax) */
  scores: number[][];
  /** per token: the chosen experts */
  indices: number[][];
}

export function loadRefModel(dir: string): RefModel {
  const ckpt: RefCheckpoint = loadCheckpoint(dir);
  const cache = new Map<string, Float64Array | undefined>();
  return {
    config: ckpt.config,
    dir,
    get(name: string) {
      if (!cache.has(name)) cache.set(name, ckpt.get(name));
      return cache.get(name);
    },
    shape: (name) => ckpt.shape(name),
    names: () => ckpt.names(),
  };
}

// ---------------------------------------------------------------------------------------------
// Small numeric helpers
// ---------------------------------------------------------------------------------------------

/** RMSNorm: w * x / sqrt(mean(x^2) + eps) */
export function refRmsNorm(x: ArrayLike<number>, w: ArrayLike<number>, eps: number): Float64Array {
  const n = x.length;
  let sumSq = 0;
  for (let i = 0; i < n; i++) sumSq += x[i]! * x[i]!;
  const inv = 1 / Math.sqrt(sumSq / n + eps);
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) out[i] = w[i]! * (x[i]! * inv);
  return out;
}

/** y = W x with W stored [rows, cols] row-major (PyTorch Linear layout [out, in]). */
function linear(W: Float64Array, rows: number, cols: number, x: ArrayLike<number>): Float64Array {
  if (x.length !== cols) throw new Error(`linear: input has ${x.length} values, weight expects ${cols}`);
  const y = new Float64Array(rows);
  for (let r = 0; r < rows; r++) {
    let acc = 0;
    for (let c = 0; c < cols; c++) acc += W[r * cols + c]! * x[c]!;
    y[r] = acc;
  }
  return y;
}

function silu(z: number): number {
  return z / (1 + Math.exp(-z));
}

function sigmoid(z: number): number {
  return 1 / (1 + Math.exp(-z));
}

function softmaxInPlace(v: number[]): number[] {
  let max = -Infinity;
  for (const a of v) if (a > max) max = a;
  let sum = 0;
  for (let i = 0; i < v.length; i++) {
    v[i] = Math.exp(v[i]! - max);
    sum += v[i]!;
  }
  for (let i = 0; i < v.length; i++) v[i] = v[i]! / sum;
  return v;
}

/** Indices of the k largest values; ties: the lower index wins. */
function topkIndices(values: ArrayLike<number>, k: number): number[] {
  const idx = Array.from({ length: values.length }, (_, i) => i);
  idx.sort((a, b) => (values[b]! !== values[a]! ? values[b]! - values[a]! : a - b));
  return idx.slice(0, k);
}

/** Sorted-descending copy. */
function sortedDesc(values: ArrayLike<number>): number[] {
  return Array.from(values).sort((a, b) => b - a);
}

// ---------------------------------------------------------------------------------------------
// RoPE / YaRN
// ---------------------------------------------------------------------------------------------

/** YaRN magnitude scale: f <= 1 ? 1 : 0.1 * m * ln(f) + 1 */
export function refGetMscale(factor: number, mscale: number = 1): number {
  if (factor <= 1) return 1;
  return 0.1 * mscale * Math.log(factor) + 1;
}

export interface RefRopeParams {
  /** d/2 inverse frequencies, d = qk_rope_head_dim */
  invFreq: Float64Array;
  /** multiplies cos and sin (HF "attention_scaling") */
  attentionFactor: number;
  /** softmax scale applied to q.k */
  softmaxScale: number;
  /** true: rotate adjacent pairs (2i, 2i+1); false: half-split pairs (i, i + d/2) */
  interleave: boolean;
}

export function refRopeParams(config: any): RefRopeParams {
  const d: number = config.qk_rope_head_dim;
  const theta: number = config.rope_theta ?? 10000;
  const qkHeadDim: number = config.qk_nope_head_dim + config.qk_rope_head_dim;
  const interleave = config.rope_interleave !== false;
  const half = d / 2;
  const posFreq = new Float64Array(half);
  for (let i = 0; i < half; i++) posFreq[i] = Math.pow(theta, (2 * i) / d);

  const rs = config.rope_scaling;
  const invFreq = new Float64Array(half);
  let attentionFactor = 1;
  let softmaxScale = Math.pow(qkHeadDim, -0.5);
  const type = rs ? (rs.rope_type ?? rs.type ?? "default") : "default";
  if (!rs || type === "default") {
    for (let i = 0; i < half; i++) invFreq[i] = 1 / posFreq[i]!;
    return { invFreq, attentionFactor, softmaxScale, interleave };
  }
  if (type !== "yarn") throw new Error(`reference: unsupported rope_scaling type ${type}`);

  const orig: number = rs.original_max_position_embeddings ?? config.max_position_embeddings;
  const factor: number = rs.factor ?? config.max_position_embeddings / orig;
  const betaFast: number = rs.beta_fast || 32;
  const betaSlow: number = rs.beta_slow || 1;
  // c(r) = d * ln(orig / (2 pi r)) / (2 ln theta)
  const c = (r: number) => (d * Math.log(orig / (2 * Math.PI * r))) / (2 * Math.log(theta));
  const low = Math.max(Math.floor(c(betaFast)), 0);
  let high = Math.min(Math.ceil(c(betaSlow)), d - 1);
  if (low === high) high += 0.001;
  for (let i = 0; i < half; i++) {
    const ramp = Math.min(Math.max((i - low) / (high - low), 0), 1);
    invFreq[i] = (1 / (factor * posFreq[i]!)) * ramp + (1 / posFreq[i]!) * (1 - ramp);
  }
  // CHOICE (HF _compute_yarn_parameters): ratio only when both mscale and mscale_all_dim are set (truthy),
  // otherwise get_mscale(factor) with m = 1. The original remote code defaults mscale=1, mscale_all_dim=0,
  // which agrees except when only `mscale` is given. "attention_factor" in the config overrides.
  const mscale = rs.mscale;
  const mscaleAllDim = rs.mscale_all_dim;
  if (rs.attention_factor !== undefined && rs.attention_factor !== null) attentionFactor = rs.attention_factor;
  else if (mscale && mscaleAllDim) attentionFactor = refGetMscale(factor, mscale) / refGetMscale(factor, mscaleAllDim);
  else attentionFactor = refGetMscale(factor);
  // Softmax-scale correction (HF V3 and DeepSeek remote code): only when mscale_all_dim is truthy.
  if (mscaleAllDim) {
    const m = refGetMscale(factor, mscaleAllDim);
    softmaxScale = softmaxScale * m * m;
  }
  return { invFreq, attentionFactor, softmaxScale, interleave };
}

/** Rotate a rope sub-vector at position `pos`. Output keeps the input's dimension order. */
export function refApplyRope(
  x: ArrayLike<number>,
  pos: number,
  invFreq: ArrayLike<number>,
  attentionFactor: number,
  interleave: boolean,
): Float64Array {
  const d = x.length;
  const half = d / 2;
  const out = new Float64Array(d);
  for (let i = 0; i < half; i++) {
    const angle = pos * invFreq[i]!;
    const cos = Math.cos(angle) * attentionFactor;
    const sin = Math.sin(angle) * attentionFactor;
    const a = interleave ? 2 * i : i; // first element of the pair
    const b = interleave ? 2 * i + 1 : i + half; // second element of the pair
    out[a] = x[a]! * cos - x[b]! * sin;
    out[b] = x[a]! * sin + x[b]! * cos;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Router
// ---------------------------------------------------------------------------------------------

export interface RefRouteConfig {
  model_type?: string;
  n_routed_experts: number;
  num_experts_per_tok: number;
  n_group?: number | null;
  topk_group?: number | null;
  /** "noaux_tc" (V3), "greedy" / "group_limited_greedy" (V2); default by model_type */
  topk_method?: string | null;
  /** "sigmoid" (V3) or "softmax" (V2); default by topk_method */
  scoring_func?: string | null;
  norm_topk_prob?: boolean | null;
  routed_scaling_factor?: number | null;
}

export interface RefRouteResult {
  /** chosen experts, best first (ties: lower index first) */
  indices: number[];
  /** routing weights aligned with `indices` (after normalisation and routed_scaling_factor) */
  weights: number[];
  /** the unbiased scores s of all experts */
  scores: number[];
  /** selection score used for the final top-k (biased, masked groups set to 0) */
  choice: number[];
  /** kept groups (ascending); all groups when there is no group limitation */
  groups: number[];
  /** min(k-th minus (k+1)-th selection score, group score at the cut minus the next); Infinity if no cut */
  minTieGap: number;
}

function resolveTopkMethod(cfg: RefRouteConfig): string {
  let method = cfg.topk_method ?? (cfg.model_type === "deepseek_v2" ? "greedy" : "noaux_tc");
  if (method === "gready") method = "greedy"; // spelling used by the original DeepSeek-V2 remote code
  return method;
}

/** Scores from router logits: sigmoid (V3) or softmax over all experts (V2). */
export function refRouterScores(logits: ArrayLike<number>, cfg: RefRouteConfig): number[] {
  const method = resolveTopkMethod(cfg);
  const scoring = cfg.scoring_func ?? (method === "noaux_tc" ? "sigmoid" : "softmax");
  if (scoring === "sigmoid") return Array.from(logits, (z) => sigmoid(z));
  if (scoring === "softmax") return softmaxInPlace(Array.from(logits));
  throw new Error(`reference: unsupported scoring_func ${scoring}`);
}

/** Route from router logits (x . Wg^T). `bias` = e_score_correction_bias (noaux_tc only). */
export function refRoute(logits: ArrayLike<number>, cfg: RefRouteConfig, bias?: ArrayLike<number>): RefRouteResult {
  return refRouteScores(refRouterScores(logits, cfg), cfg, bias);
}

/** Route from already-activated scores s (sigmoid or softmax outputs). */
export function refRouteScores(
  scoresIn: ArrayLike<number>,
  cfg: RefRouteConfig,
  bias?: ArrayLike<number>,
): RefRouteResult {
  const scores = Array.from(scoresIn);
  const E = cfg.n_routed_experts;
  const k = cfg.num_experts_per_tok;
  if (scores.length !== E) throw new Error(`refRoute: ${scores.length} scores for ${E} experts`);
  const method = resolveTopkMethod(cfg);
  const nGroup = cfg.n_group ?? 1;
  const topkGroup = cfg.topk_group ?? nGroup;
  const scale = cfg.routed_scaling_factor ?? 1;
  const normTopk = cfg.norm_topk_prob ?? false;
  let minTieGap = Infinity;

  // 1. selection scores
  const choice = scores.slice();
  if (method === "noaux_tc" && bias !== undefined) {
    for (let e = 0; e < E; e++) choice[e] = scores[e]! + bias[e]!;
  }

  // 2. group limitation
  let groups = Array.from({ length: nGroup }, (_, g) => g);
  if (method === "noaux_tc" || method === "group_limited_greedy") {
    if (E % nGroup !== 0) throw new Error("refRoute: n_routed_experts not divisible by n_group");
    const per = E / nGroup;
    const groupScore: number[] = [];
    for (let g = 0; g < nGroup; g++) {
      const members = choice.slice(g * per, (g + 1) * per);
      const desc = sortedDesc(members);
      if (method === "noaux_tc") {
        // V3: sum of the group's top-2 biased scores
        let sum = 0;
        for (let j = 0; j < Math.min(2, desc.length); j++) sum += desc[j]!;
        groupScore.push(sum);
      } else {
        // V2 group_limited_greedy: the group's best score
        groupScore.push(desc[0]!);
      }
    }
    groups = topkIndices(groupScore, topkGroup).sort((a, b) => a - b);
    if (topkGroup < nGroup) {
      const gd = sortedDesc(groupScore);
      minTieGap = Math.min(minTieGap, gd[topkGroup - 1]! - gd[topkGroup]!);
    }
    // masked experts get selection score 0 (HF masked_fill(..., 0.0))
    for (let g = 0; g < nGroup; g++) {
      if (groups.includes(g)) continue;
      for (let e = g * per; e < (g + 1) * per; e++) choice[e] = 0;
    }
  } else if (method !== "greedy") {
    throw new Error(`reference: unsupported topk_method ${method}`);
  }

  // 3. top-k by selection score
  const indices = topkIndices(choice, k);
  if (k < E) {
    const cd = sortedDesc(choice);
    minTieGap = Math.min(minTieGap, cd[k - 1]! - cd[k]!);
  }

  // 4. weights: the UNBIASED scores of the chosen experts
  let weights = indices.map((e) => scores[e]!);
  // CHOICE: V3 (noaux_tc, HF DeepseekV3TopkRouter) normalises whenever norm_topk_prob is set, then multiplies by
  // routed_scaling_factor. V2 methods follow DeepSeek-V2's own code: normalise when norm_topk_prob and top_k > 1,
  // OTHERWISE multiply by routed_scaling_factor (never both; identical for the released V2 configs, norm false).
  const normalise = method === "noaux_tc" ? normTopk : normTopk && k > 1;
  if (normalise) {
    let sum = 0;
    for (const w of weights) sum += w;
    const denom = sum + 1e-20;
    weights = weights.map((w) => w / denom);
  }
  if (method === "noaux_tc" || !normalise) weights = weights.map((w) => w * scale);
  return { indices, weights, scores, choice, groups, minTieGap };
}

// ---------------------------------------------------------------------------------------------
// Model
// ---------------------------------------------------------------------------------------------

interface Ctx {
  m: RefModel;
  cfg: any;
  rope: RefRopeParams;
  minTieGap: number;
  routing: Map<string, RefLayerRouting>;
}

function mat(m: RefModel, name: string, rows: number, cols: number): Float64Array {
  const w = m.get(name);
  if (w === undefined) throw new Error(`reference: missing tensor ${name}`);
  const s = m.shape(name);
  if (!s || s.length !== 2 || s[0] !== rows || s[1] !== cols) {
    throw new Error(`reference: ${name} has shape [${s}], expected [${rows}, ${cols}]`);
  }
  return w;
}

function vec(m: RefModel, name: string, n: number): Float64Array {
  const w = m.get(name);
  if (w === undefined) throw new Error(`reference: missing tensor ${name}`);
  const s = m.shape(name);
  if (!s || s.length !== 1 || s[0] !== n) throw new Error(`reference: ${name} has shape [${s}], expected [${n}]`);
  return w;
}

function row(table: Float64Array, r: number, cols: number): Float64Array {
  return table.slice(r * cols, (r + 1) * cols);
}

/** SwiGLU MLP: down(silu(gate(x)) * up(x)) */
function mlp(m: RefModel, prefix: string, D: number, I: number, x: Float64Array): Float64Array {
  const g = linear(mat(m, `${prefix}.gate_proj.weight`, I, D), I, D, x);
  const u = linear(mat(m, `${prefix}.up_proj.weight`, I, D), I, D, x);
  const a = new Float64Array(I);
  for (let i = 0; i < I; i++) a[i] = silu(g[i]!) * u[i]!;
  return linear(mat(m, `${prefix}.down_proj.weight`, D, I), D, I, a);
}

function isMoeLayer(cfg: any, layer: number): boolean {
  if (!cfg.n_routed_experts) return false;
  const freq = cfg.moe_layer_freq ?? 1;
  return layer >= (cfg.first_k_dense_replace ?? 0) && layer % freq === 0;
}

function moe(ctx: Ctx, prefix: string, x: Float64Array): Float64Array {
  const { m, cfg } = ctx;
  const D: number = cfg.hidden_size;
  const E: number = cfg.n_routed_experts;
  const I: number = cfg.moe_intermediate_size;
  const logits = linear(mat(m, `${prefix}.gate.weight`, E, D), E, D, x);
  const bias = m.get(`${prefix}.gate.e_score_correction_bias`);
  const route = refRoute(logits, cfg as RefRouteConfig, bias);
  ctx.minTieGap = Math.min(ctx.minTieGap, route.minTieGap);
  let log = ctx.routing.get(prefix);
  if (!log) { log = { prefix, scores: [], indices: [] }; ctx.routing.set(prefix, log); }
  log.scores.push(route.scores);
  log.indices.push(route.indices);
  const out = new Float64Array(D);
  for (let j = 0; j < route.indices.length; j++) {
    const y = mlp(m, `${prefix}.experts.${route.indices[j]}`, D, I, x);
    for (let d = 0; d < D; d++) out[d] = out[d]! + route.weights[j]! * y[d]!;
  }
  if (cfg.n_shared_experts) {
    const y = mlp(m, `${prefix}.shared_experts`, D, I * cfg.n_shared_experts, x);
    for (let d = 0; d < D; d++) out[d] = out[d]! + y[d]!;
  }
  return out;
}

/** Multi-head latent attention, naive form (full K/V), causal over positions 0..T-1. */
function attention(ctx: Ctx, prefix: string, xs: Float64Array[]): Float64Array[] {
  const { m, cfg, rope } = ctx;
  const T = xs.length;
  const D: number = cfg.hidden_size;
  const H: number = cfg.num_attention_heads;
  const nope: number = cfg.qk_nope_head_dim;
  const dr: number = cfg.qk_rope_head_dim;
  const dv: number = cfg.v_head_dim;
  const r: number = cfg.kv_lora_rank;
  const qd = nope + dr;
  const qLora: number | null = cfg.q_lora_rank ?? null;

  const qNope: Float64Array[][] = []; // [t][h]
  const qRope: Float64Array[][] = [];
  const kNope: Float64Array[][] = [];
  const vals: Float64Array[][] = [];
  const kRope: Float64Array[] = []; // [t], shared by all heads
  for (let t = 0; t < T; t++) {
    const x = xs[t]!;
    let q: Float64Array;
    if (qLora) {
      const qa = linear(mat(m, `${prefix}.q_a_proj.weight`, qLora, D), qLora, D, x);
      // q_a_layernorm: eps 1e-6 always (HF constructs it without rms_norm_eps)
      const qn = refRmsNorm(qa, vec(m, `${prefix}.q_a_layernorm.weight`, qLora), 1e-6);
      q = linear(mat(m, `${prefix}.q_b_proj.weight`, H * qd, qLora), H * qd, qLora, qn);
    } else {
      q = linear(mat(m, `${prefix}.q_proj.weight`, H * qd, D), H * qd, D, x);
    }
    const kva = linear(mat(m, `${prefix}.kv_a_proj_with_mqa.weight`, r + dr, D), r + dr, D, x);
    const latent = kva.slice(0, r);
    // kv_a_layernorm: eps 1e-6 always
    const latentNorm = refRmsNorm(latent, vec(m, `${prefix}.kv_a_layernorm.weight`, r), 1e-6);
    const kv = linear(mat(m, `${prefix}.kv_b_proj.weight`, H * (nope + dv), r), H * (nope + dv), r, latentNorm);
    kRope.push(refApplyRope(kva.slice(r, r + dr), t, rope.invFreq, rope.attentionFactor, rope.interleave));
    const qn: Float64Array[] = [];
    const qr: Float64Array[] = [];
    const kn: Float64Array[] = [];
    const vv: Float64Array[] = [];
    for (let h = 0; h < H; h++) {
      qn.push(q.slice(h * qd, h * qd + nope));
      qr.push(refApplyRope(q.slice(h * qd + nope, (h + 1) * qd), t, rope.invFreq, rope.attentionFactor, rope.interleave));
      const base = h * (nope + dv);
      kn.push(kv.slice(base, base + nope));
      vv.push(kv.slice(base + nope, base + nope + dv));
    }
    qNope.push(qn);
    qRope.push(qr);
    kNope.push(kn);
    vals.push(vv);
  }

  const oProj = mat(m, `${prefix}.o_proj.weight`, D, H * dv);
  const outs: Float64Array[] = [];
  for (let t = 0; t < T; t++) {
    const concat = new Float64Array(H * dv);
    for (let h = 0; h < H; h++) {
      const scores: number[] = [];
      for (let s = 0; s <= t; s++) {
        let dot = 0;
        for (let i = 0; i < nope; i++) dot += qNope[t]![h]![i]! * kNope[s]![h]![i]!;
        for (let i = 0; i < dr; i++) dot += qRope[t]![h]![i]! * kRope[s]![i]!;
        scores.push(dot * rope.softmaxScale);
      }
      const p = softmaxInPlace(scores);
      for (let s = 0; s <= t; s++) {
        for (let i = 0; i < dv; i++) concat[h * dv + i] = concat[h * dv + i]! + p[s]! * vals[s]![h]![i]!;
      }
    }
    outs.push(linear(oProj, D, H * dv, concat));
  }
  return outs;
}

/** One decoder layer over a whole sequence (positions 0..T-1). */
function decoderLayer(ctx: Ctx, layer: number, hs: Float64Array[]): Float64Array[] {
  const { m, cfg } = ctx;
  const D: number = cfg.hidden_size;
  const eps: number = cfg.rms_norm_eps ?? 1e-6;
  const p = `model.layers.${layer}`;
  const inNorm = vec(m, `${p}.input_layernorm.weight`, D);
  const postNorm = vec(m, `${p}.post_attention_layernorm.weight`, D);
  const attnOut = attention(
    ctx,
    `${p}.self_attn`,
    hs.map((h) => refRmsNorm(h, inNorm, eps)),
  );
  const out: Float64Array[] = [];
  for (let t = 0; t < hs.length; t++) {
    const h = new Float64Array(D);
    for (let d = 0; d < D; d++) h[d] = hs[t]![d]! + attnOut[t]![d]!;
    const x = refRmsNorm(h, postNorm, eps);
    const f = isMoeLayer(cfg, layer) ? moe(ctx, `${p}.mlp`, x) : mlp(m, `${p}.mlp`, D, cfg.intermediate_size, x);
    for (let d = 0; d < D; d++) h[d] = h[d]! + f[d]!;
    out.push(h);
  }
  return out;
}

function lmHead(m: RefModel, cfg: any): Float64Array {
  const V: number = cfg.vocab_size;
  const D: number = cfg.hidden_size;
  if (m.get("lm_head.weight") !== undefined) return mat(m, "lm_head.weight", V, D);
  if (cfg.tie_word_embeddings) return mat(m, "model.embed_tokens.weight", V, D);
  throw new Error("reference: lm_head.weight missing and tie_word_embeddings is false");
}

export function refForward(m: RefModel, tokens: number[], opts?: { mtp?: boolean }): RefForwardResult {
  const cfg = m.config;
  const D: number = cfg.hidden_size;
  const V: number = cfg.vocab_size;
  const L: number = cfg.num_hidden_layers;
  const eps: number = cfg.rms_norm_eps ?? 1e-6;
  const ctx: Ctx = { m, cfg, rope: refRopeParams(cfg), minTieGap: Infinity, routing: new Map() };
  const embed = mat(m, "model.embed_tokens.weight", V, D);
  for (const t of tokens) if (!Number.isInteger(t) || t < 0 || t >= V) throw new Error(`reference: bad token ${t}`);

  // 1. embeddings (no scaling), decoder layers
  let hs = tokens.map((t) => row(embed, t, D));
  for (let l = 0; l < L; l++) hs = decoderLayer(ctx, l, hs);
  // 2. final norm + head; the normed states also feed the MTP module
  const normW = vec(m, "model.norm.weight", D);
  const head = lmHead(m, cfg);
  const normed = hs.map((h) => refRmsNorm(h, normW, eps));
  const logits = normed.map((n) => Array.from(linear(head, V, D, n)));

  // 3. MTP (first module only; layer index L)
  let mtpLogits: number[][] | null = null;
  if (opts?.mtp && (cfg.num_nextn_predict_layers ?? 0) >= 1) {
    const p = `model.layers.${L}`;
    const mtpEmbed =
      m.get(`${p}.embed_tokens.weight`) !== undefined ? mat(m, `${p}.embed_tokens.weight`, V, D) : embed;
    const mtpHead =
      m.get(`${p}.shared_head.head.weight`) !== undefined ? mat(m, `${p}.shared_head.head.weight`, V, D) : head;
    const enorm = vec(m, `${p}.enorm.weight`, D);
    const hnorm = vec(m, `${p}.hnorm.weight`, D);
    const ehProj = mat(m, `${p}.eh_proj.weight`, D, 2 * D);
    const xs: Float64Array[] = [];
    for (let i = 0; i + 1 < tokens.length; i++) {
      const concat = new Float64Array(2 * D);
      // EMBEDDING FIRST: [enorm(E[t_{i+1}]) | hnorm(model.norm(h_i))]
      concat.set(refRmsNorm(row(mtpEmbed, tokens[i + 1]!, D), enorm, eps), 0);
      concat.set(refRmsNorm(normed[i]!, hnorm, eps), D);
      xs.push(linear(ehProj, D, 2 * D, concat));
    }
    mtpLogits = [];
    if (xs.length > 0) {
      const ys = decoderLayer(ctx, L, xs);
      const shNorm = vec(m, `${p}.shared_head.norm.weight`, D);
      mtpLogits = ys.map((y) => Array.from(linear(mtpHead, V, D, refRmsNorm(y, shNorm, eps))));
    }
  }
  return { logits, mtpLogits, minTieGap: ctx.minTieGap, routing: [...ctx.routing.values()] };
}
