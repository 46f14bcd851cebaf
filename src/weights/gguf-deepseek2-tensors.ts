// The tensors of llama.cpp's `deepseek2` architecture and how each is made of a Hugging Face checkpoint's tensors,
// one table read both ways: the exporter builds each GGUF tensor from its parts, the importer finds each HF tensor
// inside the GGUF ones. Layouts (llama.cpp's converter and loader; ../shared/docs/gguf-deepseek2.md §3):
// - a GGUF `ne` is the PyTorch shape reversed, with the same bytes: [out, in] is ne {in, out}, never transposed;
// - routed experts are stacked on a new outer dim: ffn_{gate,up,down}_exps, expert e at e × one expert's bytes;
// - MLA's kv_b_proj [H·(nope+v), R] is split per head into attn_k_b, ne {nope, R, H}, the key rows transposed
//   (k_b[h][r][d] = kv_b[h·(nope+v)+d][r]), and attn_v_b, ne {R, v, H}, the value rows as they are;
// - e_score_correction_bias is exp_probs_b.bias; MTP layers are not written (llama.cpp's converter drops them too).
// Leaves out the metadata (gguf-deepseek2-metadata.ts) and the bytes (gguf-export.ts, gguf-source.ts).

import type { ModelConfig } from '../model/config.js';
import { isMoeLayer, qHeadDim } from '../model/config.js';
import { layerPrefix } from './names.js';

/** How a GGUF tensor is made of HF tensors. */
export type GgufPart =
  | { kind: 'whole'; hf: string }
  | { kind: 'stack'; hf: string[] }          // routed experts, expert e at index e
  | { kind: 'k_b'; hf: string }              // kv_b_proj's key rows, per head transposed
  | { kind: 'v_b'; hf: string };             // kv_b_proj's value rows, per head

export interface Deepseek2Tensor {
  readonly name: string;
  readonly ne: readonly number[];
  readonly part: GgufPart;
  /** What kind of parameter, for choosing its type: vectors and the router stay F32 (as llama.cpp's converter). */
  readonly role: 'vector' | 'router' | 'embedding' | 'head' | 'projection';
}

/** ne of an HF [out, in] matrix or [n] vector. */
const neOf = (shape: readonly number[]): number[] => [...shape].reverse();

/** Every tensor of the deepseek2 GGUF of a model with config `c`, in llama.cpp's converter's order. */
export function deepseek2Tensors(c: ModelConfig): Deepseek2Tensor[] {
  const D = c.hiddenSize, H = c.numAttentionHeads, R = c.kvLoraRank;
  const out: Deepseek2Tensor[] = [];
  const add = (name: string, ne: number[], part: GgufPart, role: Deepseek2Tensor['role']) => out.push({ name, ne, part, role });
  const whole = (name: string, hf: string, shape: number[], role: Deepseek2Tensor['role']) => add(name, neOf(shape), { kind: 'whole', hf }, role);
  whole('token_embd.weight', 'model.embed_tokens.weight', [c.vocabSize, D], 'embedding');
  for (let i = 0; i < c.numHiddenLayers; i++) {
    const p = layerPrefix(i), a = `${p}self_attn.`, m = `${p}mlp.`, b = `blk.${i}.`;
    whole(`${b}attn_norm.weight`, `${p}input_layernorm.weight`, [D], 'vector');
    if (c.qLoraRank === null) {
      whole(`${b}attn_q.weight`, `${a}q_proj.weight`, [H * qHeadDim(c), D], 'projection');
    } else {
      whole(`${b}attn_q_a.weight`, `${a}q_a_proj.weight`, [c.qLoraRank, D], 'projection');
      whole(`${b}attn_q_a_norm.weight`, `${a}q_a_layernorm.weight`, [c.qLoraRank], 'vector');
      whole(`${b}attn_q_b.weight`, `${a}q_b_proj.weight`, [H * qHeadDim(c), c.qLoraRank], 'projection');
    }
    whole(`${b}attn_kv_a_mqa.weight`, `${a}kv_a_proj_with_mqa.weight`, [R + c.qkRopeHeadDim, D], 'projection');
    whole(`${b}attn_kv_a_norm.weight`, `${a}kv_a_layernorm.weight`, [R], 'vector');
    add(`${b}attn_k_b.weight`, [c.qkNopeHeadDim, R, H], { kind: 'k_b', hf: `${a}kv_b_proj.weight` }, 'projection');
    add(`${b}attn_v_b.weight`, [R, c.vHeadDim, H], { kind: 'v_b', hf: `${a}kv_b_proj.weight` }, 'projection');
    whole(`${b}attn_output.weight`, `${a}o_proj.weight`, [D, H * c.vHeadDim], 'projection');
    whole(`${b}ffn_norm.weight`, `${p}post_attention_layernorm.weight`, [D], 'vector');
    const swiglu = (suffix: string, hfPrefix: string, inter: number) => {
      whole(`${b}ffn_gate${suffix}.weight`, `${hfPrefix}gate_proj.weight`, [inter, D], 'projection');
      whole(`${b}ffn_up${suffix}.weight`, `${hfPrefix}up_proj.weight`, [inter, D], 'projection');
      whole(`${b}ffn_down${suffix}.weight`, `${hfPrefix}down_proj.weight`, [D, inter], 'projection');
    };
    if (!isMoeLayer(c, i)) {
      swiglu('', m, c.intermediateSize);
      continue;
    }
    const E = c.nRoutedExperts, F = c.moeIntermediateSize;
    whole(`${b}ffn_gate_inp.weight`, `${m}gate.weight`, [E, D], 'router');
    if (c.topkMethod === 'noaux_tc') whole(`${b}exp_probs_b.bias`, `${m}gate.e_score_correction_bias`, [E], 'vector');
    const experts = (proj: string) => Array.from({ length: E }, (_, e) => `${m}experts.${e}.${proj}.weight`);
    add(`${b}ffn_gate_exps.weight`, [D, F, E], { kind: 'stack', hf: experts('gate_proj') }, 'projection');
    add(`${b}ffn_up_exps.weight`, [D, F, E], { kind: 'stack', hf: experts('up_proj') }, 'projection');
    add(`${b}ffn_down_exps.weight`, [F, D, E], { kind: 'stack', hf: experts('down_proj') }, 'projection');
    if (c.nSharedExperts > 0) swiglu('_shexp', `${m}shared_experts.`, F * c.nSharedExperts);
  }
  whole('output_norm.weight', 'model.norm.weight', [D], 'vector');
  if (!c.tieWordEmbeddings) whole('output.weight', 'lm_head.weight', [c.vocabSize, D], 'head');
  return out;
}

/** Rows of kv_b_proj per head, and where a head's key and value rows start. */
export function kvBLayout(c: ModelConfig): { perHead: number; nope: number; v: number; heads: number; rank: number } {
  return { perHead: c.qkNopeHeadDim + c.vHeadDim, nope: c.qkNopeHeadDim, v: c.vHeadDim, heads: c.numAttentionHeads, rank: c.kvLoraRank };
}
