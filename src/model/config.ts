// config.json → a validated, typed ModelConfig (DeepSeek-V3, and DeepSeek-V2-style routing), plus the values derived
// from it (head dims, RoPE/YaRN frequencies, softmax scale). Every error names the file and the key.
// Leaves out: tensor names and shapes (weights/names.ts) and run settings (threads, precision).

import { preview } from '../util/json.js';

export type ScoringFunc = 'sigmoid' | 'softmax';
export type TopkMethod = 'noaux_tc' | 'greedy' | 'group_limited_greedy';

export interface RopeScaling {
  type: 'yarn';
  factor: number;
  originalMaxPositionEmbeddings: number;
  betaFast: number;
  betaSlow: number;
  mscale: number | null;        // null when absent (HF then uses get_mscale(factor) for cos/sin)
  mscaleAllDim: number | null;
  attentionFactor: number | null; // explicit cos/sin amplitude, overrides the mscale rule
}

export interface QuantizationConfig { quantMethod: 'fp8'; fmt: 'e4m3'; weightBlockSize: [number, number] }

export interface ModelConfig {
  modelType: 'deepseek_v3' | 'deepseek_v2';
  vocabSize: number;
  hiddenSize: number;               // D
  intermediateSize: number;         // dense FFN
  moeIntermediateSize: number;      // per routed expert
  numHiddenLayers: number;
  numAttentionHeads: number;        // H
  numKeyValueHeads: number;
  qLoraRank: number | null;
  kvLoraRank: number;               // R
  qkNopeHeadDim: number;
  qkRopeHeadDim: number;
  vHeadDim: number;
  nRoutedExperts: number;           // E (0 = all dense)
  nSharedExperts: number;
  numExpertsPerTok: number;         // K
  nGroup: number;
  topkGroup: number;
  topkMethod: TopkMethod;
  scoringFunc: ScoringFunc;
  normTopkProb: boolean;
  routedScalingFactor: number;
  firstKDenseReplace: number;
  moeLayerFreq: number;
  rmsNormEps: number;
  ropeTheta: number;
  ropeScaling: RopeScaling | null;
  ropeInterleave: boolean;
  maxPositionEmbeddings: number;
  numNextnPredictLayers: number;
  tieWordEmbeddings: boolean;
  bosTokenId: number | null;
  eosTokenId: number[];             // one or several stop ids
  quantization: QuantizationConfig | null;
  torchDtype: string | null;
  unknownKeys: string[];            // keys we neither use nor know to be harmless (reported, not fatal)
}

/**
 * Keys of HF bookkeeping that do not change the forward pass. Any other key we do not read is collected in
 * `unknownKeys` (a config from a newer exporter should still load; the CLI prints a warning).
 */
const IGNORED_KEYS = new Set([
  'architectures', 'auto_map', 'transformers_version', 'torch_dtype', 'use_cache', 'initializer_range',
  'hidden_act', 'attention_bias', 'attention_dropout', 'pretraining_tp', 'aux_loss_alpha', 'seq_aux',
  'ep_size', 'pad_token_id', '_name_or_path', 'dtype', 'head_dim', 'rope_parameters',
  'mlp_bias', 'output_router_logits', 'router_aux_loss_coef', 'return_dict', 'output_hidden_states',
  'output_attentions', 'chunk_size_feed_forward', 'is_encoder_decoder', 'qiusuo',
]);

class ConfigReader {
  readonly used = new Set<string>();
  constructor(private readonly raw: Record<string, unknown>, private readonly source: string) {}

  private fail(key: string, msg: string): never { throw new Error(`${this.source}: "${key}" ${msg}`); }

  has(key: string): boolean { return this.raw[key] !== undefined; }

  private get(key: string): unknown {
    this.used.add(key);
    if (!(key in this.raw)) this.fail(key, 'is missing');
    return this.raw[key];
  }

  int(key: string, min: number, fallback?: number): number {
    if (fallback !== undefined && !this.has(key)) { this.used.add(key); return fallback; }
    const v = this.get(key);
    if (typeof v !== 'number' || !Number.isInteger(v)) this.fail(key, `must be an integer, got ${preview(v)}`);
    if (v < min) this.fail(key, `must be ≥ ${min}, got ${v}`);
    return v;
  }

  intOrNull(key: string, min: number): number | null {
    if (!this.has(key)) { this.used.add(key); return null; }
    const v = this.get(key);
    return v === null ? null : this.int(key, min);
  }

  num(key: string, minExclusive: number, fallback?: number): number {
    if (fallback !== undefined && !this.has(key)) { this.used.add(key); return fallback; }
    const v = this.get(key);
    if (typeof v !== 'number' || !Number.isFinite(v)) this.fail(key, `must be a finite number, got ${preview(v)}`);
    if (!(v > minExclusive)) this.fail(key, `must be > ${minExclusive}, got ${v}`);
    return v;
  }

  bool(key: string, fallback?: boolean): boolean {
    if (fallback !== undefined && !this.has(key)) { this.used.add(key); return fallback; }
    const v = this.get(key);
    if (typeof v !== 'boolean') this.fail(key, `must be true or false, got ${preview(v)}`);
    return v;
  }

  oneOf<T extends string>(key: string, allowed: readonly T[], fallback?: T): T {
    if (fallback !== undefined && !this.has(key)) { this.used.add(key); return fallback; }
    const v = this.get(key);
    if (typeof v !== 'string' || !(allowed as readonly string[]).includes(v)) {
      this.fail(key, `must be one of ${allowed.map((a) => JSON.stringify(a)).join(', ')}, got ${preview(v)}`);
    }
    return v as T;
  }

  raw_(key: string): unknown { this.used.add(key); return this.raw[key]; }
  err(key: string, msg: string): never { this.fail(key, msg); }
}

function parseRopeScaling(r: ConfigReader, source: string): RopeScaling | null {
  const v = r.raw_('rope_scaling');
  if (v === null || v === undefined) return null;
  if (typeof v !== 'object' || Array.isArray(v)) r.err('rope_scaling', 'must be an object or null');
  const o = v as Record<string, unknown>;
  const kind = o.type ?? o.rope_type;
  if (kind !== 'yarn') r.err('rope_scaling', `type must be "yarn", got ${preview(kind)}`);
  const sub = new ConfigReader(o, `${source}: rope_scaling`);
  const scaling: RopeScaling = {
    type: 'yarn',
    factor: sub.num('factor', 0),
    originalMaxPositionEmbeddings: sub.int('original_max_position_embeddings', 1),
    betaFast: sub.num('beta_fast', 0, 32),
    betaSlow: sub.num('beta_slow', 0, 1),
    mscale: sub.has('mscale') ? sub.num('mscale', -Infinity) : null,
    mscaleAllDim: sub.has('mscale_all_dim') ? sub.num('mscale_all_dim', -Infinity) : null,
    attentionFactor: sub.has('attention_factor') ? sub.num('attention_factor', 0) : null,
  };
  return scaling;
}

function parseQuantization(r: ConfigReader): QuantizationConfig | null {
  const v = r.raw_('quantization_config');
  if (v === null || v === undefined) return null;
  if (typeof v !== 'object' || Array.isArray(v)) r.err('quantization_config', 'must be an object');
  const o = v as Record<string, unknown>;
  if (o.quant_method !== 'fp8') r.err('quantization_config', `quant_method must be "fp8", got ${preview(o.quant_method)}`);
  if (o.fmt !== undefined && o.fmt !== 'e4m3') r.err('quantization_config', `fmt must be "e4m3", got ${preview(o.fmt)}`);
  const b = o.weight_block_size ?? [128, 128];
  if (!Array.isArray(b) || b.length !== 2 || !b.every((x) => Number.isInteger(x) && x > 0)) {
    r.err('quantization_config', `weight_block_size must be two positive integers, got ${preview(b)}`);
  }
  return { quantMethod: 'fp8', fmt: 'e4m3', weightBlockSize: [b[0], b[1]] };
}

/** DeepSeek-V2's own code spells greedy "gready" in places; both mean plain top-k. */
function parseTopkMethod(r: ConfigReader, v2: boolean): TopkMethod {
  const m = r.oneOf('topk_method', ['noaux_tc', 'greedy', 'gready', 'group_limited_greedy'] as const, v2 ? 'greedy' : undefined);
  return m === 'gready' ? 'greedy' : m;
}

function parseEos(r: ConfigReader): number[] {
  const v = r.raw_('eos_token_id');
  if (v === undefined || v === null) return [];
  const list = Array.isArray(v) ? v : [v];
  if (!list.every((x) => Number.isInteger(x) && x >= 0)) r.err('eos_token_id', `must be a token id or a list of ids, got ${preview(v)}`);
  return list as number[];
}

export function parseConfig(raw: unknown, source = 'config.json'): ModelConfig {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new Error(`${source}: must be a JSON object`);
  const r = new ConfigReader(raw as Record<string, unknown>, source);
  const modelType = r.oneOf('model_type', ['deepseek_v3', 'deepseek_v2'] as const);
  const v2 = modelType === 'deepseek_v2';
  const nRouted = r.int('n_routed_experts', 0, v2 ? 0 : undefined);
  const cfg: ModelConfig = {
    modelType,
    vocabSize: r.int('vocab_size', 1),
    hiddenSize: r.int('hidden_size', 1),
    intermediateSize: r.int('intermediate_size', 1),
    moeIntermediateSize: r.int('moe_intermediate_size', 1),
    numHiddenLayers: r.int('num_hidden_layers', 1),
    numAttentionHeads: r.int('num_attention_heads', 1),
    numKeyValueHeads: r.int('num_key_value_heads', 1),
    qLoraRank: r.intOrNull('q_lora_rank', 1),
    kvLoraRank: r.int('kv_lora_rank', 1),
    qkNopeHeadDim: r.int('qk_nope_head_dim', 0),
    qkRopeHeadDim: r.int('qk_rope_head_dim', 2),
    vHeadDim: r.int('v_head_dim', 1),
    nRoutedExperts: nRouted,
    nSharedExperts: r.int('n_shared_experts', 0, 0),
    numExpertsPerTok: r.int('num_experts_per_tok', 1, nRouted === 0 ? 1 : undefined),
    nGroup: r.int('n_group', 1, 1),
    topkGroup: r.int('topk_group', 1, 1),
    topkMethod: parseTopkMethod(r, v2),
    scoringFunc: r.oneOf('scoring_func', ['sigmoid', 'softmax'] as const, v2 ? 'softmax' : undefined),
    normTopkProb: r.bool('norm_topk_prob', v2 ? false : undefined),
    routedScalingFactor: r.num('routed_scaling_factor', 0, 1),
    firstKDenseReplace: r.int('first_k_dense_replace', 0, 0),
    moeLayerFreq: r.int('moe_layer_freq', 1, 1),
    rmsNormEps: r.num('rms_norm_eps', 0),
    ropeTheta: r.num('rope_theta', 0),
    ropeScaling: parseRopeScaling(r, source),
    ropeInterleave: r.bool('rope_interleave', true),
    maxPositionEmbeddings: r.int('max_position_embeddings', 1),
    numNextnPredictLayers: r.int('num_nextn_predict_layers', 0, 0),
    tieWordEmbeddings: r.bool('tie_word_embeddings', false),
    bosTokenId: r.intOrNull('bos_token_id', 0),
    eosTokenId: parseEos(r),
    quantization: parseQuantization(r),
    torchDtype: typeof (raw as Record<string, unknown>).torch_dtype === 'string' ? (raw as Record<string, string>).torch_dtype : null,
    unknownKeys: [],
  };
  cfg.unknownKeys = Object.keys(raw as object).filter((key) => !r.used.has(key) && !IGNORED_KEYS.has(key));
  checkConsistency(cfg, source);
  return cfg;
}

function checkConsistency(c: ModelConfig, source: string): void {
  const bad = (key: string, msg: string): never => { throw new Error(`${source}: "${key}" ${msg}`); };
  if (c.numKeyValueHeads !== c.numAttentionHeads) {
    bad('num_key_value_heads', `must equal num_attention_heads (${c.numAttentionHeads}) for MLA, got ${c.numKeyValueHeads}`);
  }
  if (c.qkRopeHeadDim % 2 !== 0) bad('qk_rope_head_dim', `must be even, got ${c.qkRopeHeadDim}`);
  if (c.modelType === 'deepseek_v3') {
    if (c.scoringFunc !== 'sigmoid') bad('scoring_func', `must be "sigmoid" for deepseek_v3, got "${c.scoringFunc}"`);
    if (c.topkMethod !== 'noaux_tc') bad('topk_method', `must be "noaux_tc" for deepseek_v3, got "${c.topkMethod}"`);
  } else if (c.topkMethod === 'noaux_tc') {
    bad('topk_method', 'noaux_tc needs the deepseek_v3 router (e_score_correction_bias); use greedy or group_limited_greedy');
  }
  if (c.firstKDenseReplace > c.numHiddenLayers) {
    bad('first_k_dense_replace', `(${c.firstKDenseReplace}) exceeds num_hidden_layers (${c.numHiddenLayers})`);
  }
  if (c.nRoutedExperts > 0) {
    if (c.nRoutedExperts % c.nGroup !== 0) bad('n_group', `(${c.nGroup}) must divide n_routed_experts (${c.nRoutedExperts})`);
    if (c.topkGroup > c.nGroup) bad('topk_group', `(${c.topkGroup}) exceeds n_group (${c.nGroup})`);
    const perGroup = c.nRoutedExperts / c.nGroup;
    const grouped = c.topkMethod !== 'greedy';
    const reachable = grouped ? c.topkGroup * perGroup : c.nRoutedExperts;
    if (c.numExpertsPerTok > reachable) {
      bad('num_experts_per_tok', `(${c.numExpertsPerTok}) is more than the ${reachable} experts the kept groups can supply (topk_group ${c.topkGroup} × ${perGroup} experts per group)`);
    }
    if (c.topkMethod === 'noaux_tc' && perGroup < 2) bad('n_group', 'noaux_tc scores a group by its top-2 experts, so each group needs ≥ 2 experts');
  }
  if (c.ropeScaling && c.ropeScaling.originalMaxPositionEmbeddings > c.maxPositionEmbeddings) {
    bad('rope_scaling', `original_max_position_embeddings (${c.ropeScaling.originalMaxPositionEmbeddings}) exceeds max_position_embeddings (${c.maxPositionEmbeddings})`);
  }
  if (c.bosTokenId !== null && c.bosTokenId >= c.vocabSize) bad('bos_token_id', `(${c.bosTokenId}) is outside the vocabulary (${c.vocabSize})`);
  for (const id of c.eosTokenId) if (id >= c.vocabSize) bad('eos_token_id', `(${id}) is outside the vocabulary (${c.vocabSize})`);
}

/** Decoder layers whose FFN is MoE (HF rule: experts present, i ≥ first_k_dense_replace, i % moe_layer_freq == 0). */
export function isMoeLayer(c: ModelConfig, i: number): boolean {
  return c.nRoutedExperts > 0 && i >= c.firstKDenseReplace && i % c.moeLayerFreq === 0;
}

export function moeLayerIndices(c: ModelConfig): number[] {
  const out: number[] = [];
  for (let i = 0; i < c.numHiddenLayers; i++) if (isMoeLayer(c, i)) out.push(i);
  return out;
}

export const qHeadDim = (c: ModelConfig): number => c.qkNopeHeadDim + c.qkRopeHeadDim;

/** Writes the config back in HF's key names (for `qiusuo init` and checkpoints). */
export function configToJson(c: ModelConfig): Record<string, unknown> {
  const json: Record<string, unknown> = {
    architectures: [c.modelType === 'deepseek_v3' ? 'DeepseekV3ForCausalLM' : 'DeepseekV2ForCausalLM'],
    model_type: c.modelType,
    vocab_size: c.vocabSize,
    hidden_size: c.hiddenSize,
    intermediate_size: c.intermediateSize,
    moe_intermediate_size: c.moeIntermediateSize,
    num_hidden_layers: c.numHiddenLayers,
    num_attention_heads: c.numAttentionHeads,
    num_key_value_heads: c.numKeyValueHeads,
    q_lora_rank: c.qLoraRank,
    kv_lora_rank: c.kvLoraRank,
    qk_nope_head_dim: c.qkNopeHeadDim,
    qk_rope_head_dim: c.qkRopeHeadDim,
    v_head_dim: c.vHeadDim,
    n_routed_experts: c.nRoutedExperts,
    n_shared_experts: c.nSharedExperts,
    num_experts_per_tok: c.numExpertsPerTok,
    n_group: c.nGroup,
    topk_group: c.topkGroup,
    topk_method: c.topkMethod,
    scoring_func: c.scoringFunc,
    norm_topk_prob: c.normTopkProb,
    routed_scaling_factor: c.routedScalingFactor,
    first_k_dense_replace: c.firstKDenseReplace,
    moe_layer_freq: c.moeLayerFreq,
    rms_norm_eps: c.rmsNormEps,
    rope_theta: c.ropeTheta,
    rope_scaling: c.ropeScaling && {
      type: 'yarn',
      factor: c.ropeScaling.factor,
      original_max_position_embeddings: c.ropeScaling.originalMaxPositionEmbeddings,
      beta_fast: c.ropeScaling.betaFast,
      beta_slow: c.ropeScaling.betaSlow,
      ...(c.ropeScaling.mscale !== null && { mscale: c.ropeScaling.mscale }),
      ...(c.ropeScaling.mscaleAllDim !== null && { mscale_all_dim: c.ropeScaling.mscaleAllDim }),
      ...(c.ropeScaling.attentionFactor !== null && { attention_factor: c.ropeScaling.attentionFactor }),
    },
    max_position_embeddings: c.maxPositionEmbeddings,
    num_nextn_predict_layers: c.numNextnPredictLayers,
    tie_word_embeddings: c.tieWordEmbeddings,
    bos_token_id: c.bosTokenId,
    eos_token_id: c.eosTokenId.length === 1 ? c.eosTokenId[0] : c.eosTokenId,
    hidden_act: 'silu',
    attention_bias: false,
    torch_dtype: c.torchDtype ?? 'float32',
  };
  if (!c.ropeInterleave) json.rope_interleave = false;
  if (c.quantization) {
    json.quantization_config = { quant_method: 'fp8', fmt: 'e4m3', activation_scheme: 'dynamic', weight_block_size: c.quantization.weightBlockSize };
  }
  return json;
}
