// A deepseek2 GGUF file as a checkpoint: its config.json (from the metadata) and its tensors under their Hugging
// Face names, each found inside the GGUF tensors by the one table of gguf-deepseek2-tensors.ts, so the loader reads
// a GGUF exactly as it reads a folder: at file offsets into the heap (or weight arenas), converting while streaming.
// - an expert is a byte range of its stacked tensor;
// - kv_b_proj is put back together from attn_k_b and attn_v_b (element by element for F32/F16/BF16, as F32 from
//   block-quantized ones), or read whole from a legacy attn_kv_b;
// - a sigmoid-routed file without exp_probs_b gets a zero correction bias (the same routing).
// Leaves out the file format (gguf.ts) and the tokenizer (tokenizer/gguf-tokenizer.ts).

import type { ModelConfig } from '../model/config.js';
import { parseConfig } from '../model/config.js';
import type { StoredDType } from './dtypes.js';
import type { GgmlType, GgufTensorInfo } from './gguf.js';
import { GgufFile } from './gguf.js';
import { configFromDeepseek2 } from './gguf-deepseek2-metadata.js';
import { deepseek2Tensors, kvBLayout } from './gguf-deepseek2-tensors.js';
import { decodeWeightRows } from './quantize.js';
import type { TensorEntry } from './safetensors.js';
import type { TensorSource } from './shards.js';

/** Where an HF tensor's bytes are. */
type Located =
  | { kind: 'range'; entry: TensorEntry; tensor: GgufTensorInfo; start: number }
  | { kind: 'kv_b'; entry: TensorEntry; k: GgufTensorInfo; v: GgufTensorInfo }
  | { kind: 'zeros'; entry: TensorEntry };

const FLOAT_TYPES: ReadonlySet<GgmlType> = new Set(['F32', 'F16', 'BF16']);

export const isGgufPath = (p: string): boolean => p.toLowerCase().endsWith('.gguf');

/** The config a GGUF's metadata describes, validated as a config.json would be. */
export function ggufConfig(file: GgufFile): ModelConfig {
  const embd = file.tensors.get('token_embd.weight');
  if (!embd) throw new Error(`${file.path}: no token_embd.weight tensor`);
  const raw = configFromDeepseek2(file, embd.ne[1] ?? 0, (t) => file.tensors.has(t));
  const cfg = parseConfig(raw, `${file.path} (GGUF metadata)`);
  checkCountsAgainstTensors(file, cfg);
  return cfg;
}

/**
 * The layer and expert counts against the tensors the file holds, before anything is sized by them: a corrupt count
 * (say 3e38 layers) would otherwise build a table of that many tensor names.
 */
function checkCountsAgainstTensors(file: GgufFile, c: ModelConfig): void {
  const L = c.numHiddenLayers;
  if (!file.tensors.has(`blk.${L - 1}.attn_norm.weight`) || file.tensors.has(`blk.${L}.attn_norm.weight`)) {
    throw new Error(`${file.path}: deepseek2.block_count is ${L}, which does not match the blk.N.attn_norm.weight tensors the file holds`);
  }
  if (c.nRoutedExperts === 0 || c.firstKDenseReplace >= L) return;
  const stacked = file.tensors.get(`blk.${c.firstKDenseReplace}.ffn_gate_exps.weight`);
  if (stacked?.ne[2] !== c.nRoutedExperts) {
    throw new Error(`${file.path}: deepseek2.expert_count is ${c.nRoutedExperts}, but blk.${c.firstKDenseReplace}.ffn_gate_exps.weight holds ${stacked ? `${stacked.ne[2] ?? 1} experts` : 'none'}`);
  }
}

export class GgufTensorSource implements TensorSource {
  private readonly located = new Map<string, Located>();
  private built: { name: string; bytes: Uint8Array } | null = null;

  constructor(private readonly file: GgufFile, readonly cfg: ModelConfig) {
    const used = new Set<string>();
    const get = (name: string): GgufTensorInfo => {
      const t = file.tensors.get(name);
      if (!t) throw new Error(`${file.path}: tensor ${name} is missing (the metadata describes ${describe(cfg)})`);
      used.add(name);
      return t;
    };
    for (const t of deepseek2Tensors(cfg)) {
      const part = t.part;
      if (part.kind === 'v_b') continue; // placed with k_b
      if (part.kind === 'k_b') {
        this.placeKvB(part.hf, `blk.${t.name.split('.')[1]}.`, get, used);
        continue;
      }
      if (part.kind === 'whole' && t.name.endsWith('exp_probs_b.bias') && !file.tensors.has(t.name)) {
        const shape = [...t.ne].reverse();
        this.located.set(part.hf, { kind: 'zeros', entry: this.entryOf(part.hf, 'F32', shape, shape[0]! * 4, `${t.name} (absent: zero)`, 0) });
        continue;
      }
      const info = get(t.name);
      checkNe(file, info, t.ne);
      const names = part.kind === 'whole' ? [part.hf] : part.hf;
      const each = info.byteLength / names.length;
      const shape = names.length === 1 ? [...t.ne].reverse() : [...t.ne.slice(0, 2)].reverse();
      names.forEach((hf, e) => {
        const where = names.length === 1 ? info.name : `${info.name}, expert ${e}`;
        this.located.set(hf, { kind: 'range', tensor: info, start: e * each, entry: this.entryOf(hf, info.type, shape, each, where, info.offset + e * each) });
      });
    }
    const extra = [...file.tensors.keys()].filter((n) => !used.has(n));
    if (extra.length > 0) {
      throw new Error(`${file.path}: tensor ${extra[0]} is not part of a deepseek2 model of this configuration (${describe(cfg)})${extra.length > 1 ? ` (and ${extra.length - 1} more)` : ''}`);
    }
  }

  get dir(): string { return this.file.path; }
  has(name: string): boolean { return this.located.has(name); }
  names(): string[] { return [...this.located.keys()]; }
  files(): string[] { return [this.file.path]; }

  entry(name: string): TensorEntry {
    const l = this.located.get(name);
    if (!l) throw new Error(`tensor "${name}" not found in ${this.file.path}`);
    return l.entry;
  }

  readInto(name: string, dest: Uint8Array, offset?: number): void {
    const l = this.located.get(name);
    if (!l) throw new Error(`tensor "${name}" not found in ${this.file.path}`);
    const at = offset ?? 0, n = l.entry.byteLength;
    if (offset === undefined ? dest.length !== n : at < 0 || at + dest.length > n) {
      throw new Error(`tensor "${name}": cannot read ${dest.length} bytes from byte ${at} of its ${n} in ${this.file.path}`);
    }
    switch (l.kind) {
      case 'range': this.file.readInto(l.tensor.name, dest, l.start + at); return;
      case 'zeros': dest.fill(0); return;
      case 'kv_b': dest.set(this.kvB(name, l).subarray(at, at + dest.length)); return;
    }
  }

  close(): void { this.file.close(); }

  private entryOf(name: string, dtype: StoredDType, shape: number[], byteLength: number, where: string, fileOffset: number): TensorEntry {
    return { name, dtype, shape, byteLength, file: `${this.file.path} (${where})`, fileOffset };
  }

  /** kv_b_proj from attn_k_b + attn_v_b, or a legacy attn_kv_b read whole. */
  private placeKvB(hf: string, blk: string, get: (name: string) => GgufTensorInfo, used: Set<string>): void {
    const c = this.cfg, { perHead, heads, rank } = kvBLayout(c), shape = [heads * perHead, rank];
    const legacy = this.file.tensors.get(`${blk}attn_kv_b.weight`);
    if (legacy && !this.file.tensors.has(`${blk}attn_k_b.weight`)) {
      used.add(legacy.name);
      checkNe(this.file, legacy, [rank, heads * perHead]);
      this.located.set(hf, { kind: 'range', tensor: legacy, start: 0, entry: this.entryOf(hf, legacy.type, shape, legacy.byteLength, legacy.name, legacy.offset) });
      return;
    }
    const k = get(`${blk}attn_k_b.weight`), v = get(`${blk}attn_v_b.weight`);
    checkNe(this.file, k, [c.qkNopeHeadDim, rank, heads]);
    checkNe(this.file, v, [rank, c.vHeadDim, heads]);
    const dtype: StoredDType = k.type === v.type && FLOAT_TYPES.has(k.type) ? k.type : 'F32';
    const bytes = shape[0]! * rank * (dtype === 'F32' ? 4 : 2);
    this.located.set(hf, { kind: 'kv_b', k, v, entry: this.entryOf(hf, dtype, shape, bytes, `${k.name} + ${v.name}`, k.offset) });
  }

  /** The assembled kv_b_proj bytes (kept while the same tensor is read in slabs). */
  private kvB(name: string, l: Extract<Located, { kind: 'kv_b' }>): Uint8Array {
    if (this.built?.name === name) return this.built.bytes;
    const { perHead, nope, v: vDim, heads, rank } = kvBLayout(this.cfg);
    const width = l.entry.dtype === 'F32' ? 4 : 2;
    const k = this.elements(l.k, l.entry.dtype), v = this.elements(l.v, l.entry.dtype);
    const out = new Uint8Array(l.entry.byteLength);
    // Element copies in the entry's width: k_b[h][r][d] is kv_b[h·perHead + d][r]; v_b[h][d][r] is kv_b[h·perHead + nope + d][r].
    for (let h = 0; h < heads; h++) {
      for (let d = 0; d < nope; d++) {
        for (let r = 0; r < rank; r++) {
          const from = ((h * rank + r) * nope + d) * width, to = ((h * perHead + d) * rank + r) * width;
          for (let b = 0; b < width; b++) out[to + b] = k[from + b]!;
        }
      }
      out.set(v.subarray(h * vDim * rank * width, (h + 1) * vDim * rank * width), (h * perHead + nope) * rank * width);
    }
    this.built = { name, bytes: out };
    return out;
  }

  /** A tensor's elements in `dtype` (its own bytes when it is stored so, else dequantized to F32). */
  private elements(t: GgufTensorInfo, dtype: StoredDType): Uint8Array {
    const raw = new Uint8Array(t.byteLength);
    this.file.readInto(t.name, raw);
    if (t.type === dtype) return raw;
    const cols = t.ne[0]!, rows = raw.length === 0 ? 0 : t.ne.slice(1).reduce((a, b) => a * b, 1);
    const x = new Float32Array(rows * cols);
    decodeWeightRows({ dtype: t.type, bytes: raw, shape: [rows, cols] }, x);
    return new Uint8Array(x.buffer);
  }
}

function describe(c: ModelConfig): string {
  return `${c.numHiddenLayers} layers, ${c.nRoutedExperts} routed experts, q_lora_rank ${c.qLoraRank ?? 'none'}`;
}

function checkNe(file: GgufFile, t: GgufTensorInfo, ne: readonly number[]): void {
  if (t.ne.length !== ne.length || t.ne.some((n, i) => n !== ne[i])) {
    throw new Error(`${file.path}: tensor ${t.name} has ne {${t.ne.join(', ')}}, the metadata implies {${ne.join(', ')}}`);
  }
}

/** Opens a deepseek2 GGUF as a config and a tensor source (close the source when done). */
export function openGguf(path: string): { cfg: ModelConfig; source: GgufTensorSource; file: GgufFile } {
  const file = GgufFile.open(path);
  try {
    const cfg = ggufConfig(file);
    return { cfg, source: new GgufTensorSource(file, cfg), file };
  } catch (e) {
    file.close();
    throw e;
  }
}
