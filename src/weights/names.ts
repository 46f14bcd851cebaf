// The one name map between config.json and checkpoint tensors: every tensor a DeepSeek-V3/V2 checkpoint holds,
// with its shape and whether it may be stored as FP8 with block scales. Loading checks against this table.
// Leaves out: reading bytes (shards.ts) and model structure (model/).

import type { ModelConfig } from '../model/config.js';
import { isMoeLayer, qHeadDim } from '../model/config.js';

export interface ExpectedTensor {
  readonly shape: readonly number[];
  readonly fp8Allowed: boolean;  // attention and expert/FFN projections; never embeddings, heads, router, norms, eh_proj
  readonly optional: boolean;    // MTP copies of the embedding and head (fall back to the main ones)
}

export function layerPrefix(i: number): string { return `model.layers.${i}.`; }

function decoderLayer(c: ModelConfig, i: number, add: (name: string, shape: number[], fp8: boolean, optional?: boolean) => void): void {
  const p = layerPrefix(i), D = c.hiddenSize, H = c.numAttentionHeads, R = c.kvLoraRank;
  add(`${p}input_layernorm.weight`, [D], false);
  add(`${p}post_attention_layernorm.weight`, [D], false);
  const a = `${p}self_attn.`;
  if (c.qLoraRank === null) {
    add(`${a}q_proj.weight`, [H * qHeadDim(c), D], true);
  } else {
    add(`${a}q_a_proj.weight`, [c.qLoraRank, D], true);
    add(`${a}q_a_layernorm.weight`, [c.qLoraRank], false);
    add(`${a}q_b_proj.weight`, [H * qHeadDim(c), c.qLoraRank], true);
  }
  add(`${a}kv_a_proj_with_mqa.weight`, [R + c.qkRopeHeadDim, D], true);
  add(`${a}kv_a_layernorm.weight`, [R], false);
  add(`${a}kv_b_proj.weight`, [H * (c.qkNopeHeadDim + c.vHeadDim), R], true);
  add(`${a}o_proj.weight`, [D, H * c.vHeadDim], true);
  const m = `${p}mlp.`;
  const swiglu = (prefix: string, inter: number) => {
    add(`${prefix}gate_proj.weight`, [inter, D], true);
    add(`${prefix}up_proj.weight`, [inter, D], true);
    add(`${prefix}down_proj.weight`, [D, inter], true);
  };
  if (!isMoeLayer(c, i)) { swiglu(m, c.intermediateSize); return; }
  add(`${m}gate.weight`, [c.nRoutedExperts, D], false);
  if (c.topkMethod === 'noaux_tc') add(`${m}gate.e_score_correction_bias`, [c.nRoutedExperts], false);
  for (let e = 0; e < c.nRoutedExperts; e++) swiglu(`${m}experts.${e}.`, c.moeIntermediateSize);
  if (c.nSharedExperts > 0) swiglu(`${m}shared_experts.`, c.moeIntermediateSize * c.nSharedExperts);
}

/** Tensors of the main model (embedding, decoder layers, final norm, head). */
export function mainTensors(c: ModelConfig): Map<string, ExpectedTensor> {
  const out = new Map<string, ExpectedTensor>();
  const add = (name: string, shape: number[], fp8Allowed: boolean, optional = false) => out.set(name, { shape, fp8Allowed, optional });
  add('model.embed_tokens.weight', [c.vocabSize, c.hiddenSize], false);
  for (let i = 0; i < c.numHiddenLayers; i++) decoderLayer(c, i, add);
  add('model.norm.weight', [c.hiddenSize], false);
  add('lm_head.weight', [c.vocabSize, c.hiddenSize], false, c.tieWordEmbeddings);
  return out;
}

/** Tensors of MTP module k (layer index num_hidden_layers + k). */
export function mtpTensors(c: ModelConfig, k: number): Map<string, ExpectedTensor> {
  const out = new Map<string, ExpectedTensor>();
  const add = (name: string, shape: number[], fp8Allowed: boolean, optional = false) => out.set(name, { shape, fp8Allowed, optional });
  const i = c.numHiddenLayers + k, p = layerPrefix(i), D = c.hiddenSize;
  add(`${p}enorm.weight`, [D], false);
  add(`${p}hnorm.weight`, [D], false);
  add(`${p}eh_proj.weight`, [D, 2 * D], false);
  add(`${p}embed_tokens.weight`, [c.vocabSize, D], false, true);
  add(`${p}shared_head.norm.weight`, [D], false);
  add(`${p}shared_head.head.weight`, [c.vocabSize, D], false, true);
  decoderLayer(c, i, add);
  return out;
}

export const SCALE_SUFFIX = '_scale_inv';

/** Block-scale shape of an FP8 weight [rows, cols] with blocks [bm, bn]. */
export function scaleShape(shape: readonly number[], block: readonly [number, number]): [number, number] {
  return [Math.ceil(shape[0] / block[0]), Math.ceil(shape[1] / block[1])];
}

/** Non-parameter buffers some exporters leave in checkpoints; ignored on load. */
export function isIgnorableBuffer(name: string): boolean {
  return name.endsWith('.rotary_emb.inv_freq');
}
