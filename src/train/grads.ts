// Gradients shaped like the parameters: the same ModelWeights structure holding f32 tensors, zeroed per step.
// Training keeps f32 master weights, so every parameter here is f32 too; MTP modules share the main model's
// embedding and output head (their gradients land in the main ones).

import type { Heap } from '../tensor/heap.js';
import type { Tensor } from '../tensor/tensor.js';
import { empty, byteLength, dispose } from '../tensor/tensor.js';
import type { ModelWeights, LayerWeights, SwiGluWeights, MtpWeights } from '../model/weights.js';

/** Every parameter tensor with a stable name (HF checkpoint names), for the optimizer and for reports. */
export interface NamedParam { name: string; w: Tensor; decay: boolean }

function layerParams(prefix: string, l: LayerWeights): NamedParam[] {
  const out: NamedParam[] = [];
  const add = (name: string, w: Tensor | null, decay = true) => { if (w) out.push({ name: prefix + name, w, decay }); };
  add('input_layernorm.weight', l.inputNorm, false);
  add('post_attention_layernorm.weight', l.postNorm, false);
  const a = l.attn;
  add('self_attn.q_a_proj.weight', a.qA); add('self_attn.q_a_layernorm.weight', a.qANorm, false);
  add('self_attn.q_b_proj.weight', a.qB); add('self_attn.q_proj.weight', a.q);
  add('self_attn.kv_a_proj_with_mqa.weight', a.kvA); add('self_attn.kv_a_layernorm.weight', a.kvANorm, false);
  add('self_attn.kv_b_proj.weight', a.kvB); add('self_attn.o_proj.weight', a.o);
  const swiglu = (p: string, s: SwiGluWeights) => { add(`${p}gate_proj.weight`, s.gate); add(`${p}up_proj.weight`, s.up); add(`${p}down_proj.weight`, s.down); };
  if (l.ffn.kind === 'dense') swiglu('mlp.', l.ffn.mlp);
  else {
    const m = l.ffn.moe;
    add('mlp.gate.weight', m.router);
    m.bank.gate.forEach((_, e) => swiglu(`mlp.experts.${e}.`, { gate: m.bank.gate[e], up: m.bank.up[e], down: m.bank.down[e] }));
    if (m.shared) swiglu('mlp.shared_experts.', m.shared);
  }
  return out;
}

/** The trainable parameters of a model, in a fixed order. The router bias is not one (it is set by balancing). */
export function namedParams(w: ModelWeights, numHiddenLayers: number): NamedParam[] {
  const out: NamedParam[] = [{ name: 'model.embed_tokens.weight', w: w.embed, decay: true }];
  w.layers.forEach((l, i) => out.push(...layerParams(`model.layers.${i}.`, l)));
  out.push({ name: 'model.norm.weight', w: w.norm, decay: false });
  if (w.head !== w.embed) out.push({ name: 'lm_head.weight', w: w.head, decay: true });
  w.mtp.forEach((m, k) => {
    const p = `model.layers.${numHiddenLayers + k}.`;
    out.push({ name: `${p}enorm.weight`, w: m.enorm, decay: false }, { name: `${p}hnorm.weight`, w: m.hnorm, decay: false },
      { name: `${p}eh_proj.weight`, w: m.ehProj, decay: true }, { name: `${p}shared_head.norm.weight`, w: m.norm, decay: false });
    out.push(...layerParams(p, m.layer));
  });
  for (const p of out) if (p.w.dtype !== 'f32') throw new Error(`training needs f32 master weights; ${p.name} is ${p.w.dtype}`);
  return out;
}

/** Makes MTP modules use the main embedding and head (the paper shares them; checkpoints store copies). */
export function shareMtpEmbeddings(w: ModelWeights): void {
  for (const m of w.mtp) { m.embed = w.embed; m.head = w.head; }
}

/** Zeroed f32 tensors in the same structure as `w` (shared tensors stay shared). */
export function gradsLike(heap: Heap, w: ModelWeights): ModelWeights {
  const made = new Map<Tensor, Tensor>();
  const g = (t: Tensor): Tensor => {
    let r = made.get(t);
    if (!r) { r = empty(heap, t.shape); made.set(t, r); }
    return r;
  };
  const g0 = (t: Tensor | null) => (t ? g(t) : null);
  const layer = (l: LayerWeights): LayerWeights => ({
    inputNorm: g(l.inputNorm), postNorm: g(l.postNorm),
    attn: { qA: g0(l.attn.qA), qANorm: g0(l.attn.qANorm), qB: g0(l.attn.qB), q: g0(l.attn.q), kvA: g(l.attn.kvA), kvANorm: g(l.attn.kvANorm), kvB: g(l.attn.kvB), o: g(l.attn.o) },
    ffn: l.ffn.kind === 'dense'
      ? { kind: 'dense', mlp: { gate: g(l.ffn.mlp.gate), up: g(l.ffn.mlp.up), down: g(l.ffn.mlp.down) } }
      : {
        kind: 'moe',
        moe: {
          router: g(l.ffn.moe.router), bias: null,
          bank: { gate: l.ffn.moe.bank.gate.map(g), up: l.ffn.moe.bank.up.map(g), down: l.ffn.moe.bank.down.map(g) },
          shared: l.ffn.moe.shared && { gate: g(l.ffn.moe.shared.gate), up: g(l.ffn.moe.shared.up), down: g(l.ffn.moe.shared.down) },
        },
      },
  });
  const mtp = (m: MtpWeights): MtpWeights => ({
    enorm: g(m.enorm), hnorm: g(m.hnorm), ehProj: g(m.ehProj), embed: g(m.embed), head: g(m.head), norm: g(m.norm), layer: layer(m.layer),
  });
  const out: ModelWeights = { embed: g(w.embed), layers: w.layers.map(layer), norm: g(w.norm), head: g(w.head), mtp: w.mtp.map(mtp), all: [], arenas: [] };
  out.all = [...made.values()];
  return out;
}

export function zeroGrads(g: ModelWeights): void { for (const t of g.all) t.heap.zero(t.ptr, byteLength(t)); }

export function disposeGrads(g: ModelWeights): void { for (const t of g.all) dispose(t); }
