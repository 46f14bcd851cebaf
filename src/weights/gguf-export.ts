// `qiusuo export gguf`: a checkpoint (any stored format) streamed into a GGUF v3 file that llama.cpp loads as
// `deepseek2`, a slab of rows at a time through float32 (so an FP8 or BF16 checkpoint of any size exports in
// bounded memory). Types as llama.cpp's converter chooses them: vectors and the router F32, everything else the
// chosen type; q4_0 keeps the embedding and the output head Q8_0 (as qiusuo's --weights q4 does); a matrix whose
// rows are not a multiple of 32 cannot be Q8_0/Q4_0 and is written F16, as the converter does, and reported.
// Leaves out what the tensors and keys are (gguf-deepseek2-*.ts) and the tokenizer keys (tokenizer/gguf-tokenizer.ts).

import type { ModelConfig } from '../model/config.js';
import { encodeArray } from './dtypes.js';
import type { GgmlType, GgufTensorSpec, GgufValue } from './gguf.js';
import { ggmlBytes, writeGguf } from './gguf.js';
import type { Deepseek2Tensor } from './gguf-deepseek2-tensors.js';
import { deepseek2Tensors, kvBLayout } from './gguf-deepseek2-tensors.js';
import { deepseek2Metadata } from './gguf-deepseek2-metadata.js';
import { SCALE_SUFFIX } from './names.js';
import { decodeWeightRows, quantizeRowQ4_0, quantizeRowQ8_0, type SourceWeight } from './quantize.js';
import type { TensorSource } from './shards.js';

export type GgufExportType = 'f32' | 'f16' | 'bf16' | 'q8_0' | 'q4_0';
export const GGUF_EXPORT_TYPES: readonly GgufExportType[] = ['f32', 'f16', 'bf16', 'q8_0', 'q4_0'];

/** llama.cpp's general.file_type (LLAMA_FTYPE_ALL_F32, MOSTLY_F16, MOSTLY_Q4_0, MOSTLY_Q8_0, MOSTLY_BF16). */
const FILE_TYPE: Record<GgufExportType, number> = { f32: 0, f16: 1, q4_0: 2, q8_0: 7, bf16: 32 };
const BASE_TYPE: Record<GgufExportType, GgmlType> = { f32: 'F32', f16: 'F16', bf16: 'BF16', q8_0: 'Q8_0', q4_0: 'Q4_0' };
const QUANT_ROW = 32;
/** Source bytes one step converts at most. */
const SLAB_BYTES = 16 << 20;

export interface GgufExportOptions {
  type: GgufExportType;
  /** general.name. */
  name: string;
  /** Called after each tensor with the tensors written so far and in all. */
  onProgress?: (done: number, total: number) => void;
}

export interface GgufExportResult { tensors: number; bytes: number; fallbacks: string[] }

/** The type a tensor is written as under `type`, and why it is not `type` when it is not. */
export function exportTypeOf(t: Deepseek2Tensor, type: GgufExportType): { type: GgmlType; fallback?: string } {
  if (t.role === 'vector' || t.role === 'router') return { type: 'F32' };
  // llama.cpp multiplies attn_k_b by a permuted q_nope; on a CPU with AMX its prebuilt puts F16 (and quantized)
  // weights in the AMX buffer, which takes contiguous inputs only, and the process aborts (GGML_ASSERT in
  // ggml-backend.cpp). F32 runs everywhere; the tensor is small (heads × kv_lora_rank × qk_nope_head_dim).
  if (t.part.kind === 'k_b') return { type: 'F32' };
  const wanted: GgmlType = type === 'q4_0' && t.role !== 'projection' ? 'Q8_0' : BASE_TYPE[type];
  if ((wanted === 'Q8_0' || wanted === 'Q4_0') && t.ne[0] % QUANT_ROW !== 0) {
    return { type: 'F16', fallback: `rows of ${t.ne[0]} values are not a multiple of ${QUANT_ROW}: F16` };
  }
  return { type: wanted };
}

/** Writes `store` (a checkpoint of config `cfg`) and the tokenizer keys as a deepseek2 GGUF at `out`. */
export function exportGguf(cfg: ModelConfig, store: TensorSource, tokenizerKeys: [string, GgufValue][], out: string,
  opts: GgufExportOptions): GgufExportResult {
  const metadata = [...deepseek2Metadata(cfg, opts.name, FILE_TYPE[opts.type]), ...tokenizerKeys];
  const plan = deepseek2Tensors(cfg);
  const fallbacks: string[] = [];
  const specs: GgufTensorSpec[] = plan.map((t) => {
    const { type, fallback } = exportTypeOf(t, opts.type);
    if (fallback) fallbacks.push(`${t.name} (${fallback})`);
    return { name: t.name, type, ne: t.ne };
  });
  const block = cfg.quantization?.weightBlockSize ?? [128, 128];
  const reader = new RowReader(store, block);
  let bytes = 0;
  writeGguf(out, metadata, specs, (i, spec, write) => {
    const part = plan[i]!.part;
    const emit = (x: Float32Array, cols: number) => { const b = encodeRows(x, cols, spec.type); bytes += b.length; write(b); };
    switch (part.kind) {
      case 'whole': reader.slabs(part.hf, emit); break;
      case 'stack': for (const hf of part.hf) reader.slabs(hf, emit); break;
      case 'k_b': case 'v_b': emit(splitKvB(reader.all(part.hf), cfg, part.kind), part.kind === 'k_b' ? cfg.qkNopeHeadDim : cfg.kvLoraRank); break;
    }
    opts.onProgress?.(i + 1, plan.length);
  });
  return { tensors: plan.length, bytes, fallbacks };
}

/** attn_k_b (per head [R][nope], the key rows transposed) or attn_v_b (per head [v][R]) of kv_b_proj as float32. */
function splitKvB(kvB: Float32Array, cfg: ModelConfig, which: 'k_b' | 'v_b'): Float32Array {
  const { perHead, nope, v, heads, rank } = kvBLayout(cfg);
  if (which === 'v_b') {
    const out = new Float32Array(heads * v * rank);
    for (let h = 0; h < heads; h++) out.set(kvB.subarray((h * perHead + nope) * rank, (h * perHead + perHead) * rank), h * v * rank);
    return out;
  }
  const out = new Float32Array(heads * rank * nope);
  for (let h = 0; h < heads; h++) {
    for (let d = 0; d < nope; d++) {
      const row = (h * perHead + d) * rank;
      for (let r = 0; r < rank; r++) out[(h * rank + r) * nope + d] = kvB[row + r];
    }
  }
  return out;
}

/** Float32 rows of `cols` values as GGML `type` bytes. */
function encodeRows(x: Float32Array, cols: number, type: GgmlType): Uint8Array {
  switch (type) {
    case 'F32': return new Uint8Array(x.buffer, x.byteOffset, x.byteLength);
    case 'F16': case 'BF16': return encodeArray(x, type);
    case 'Q8_0': case 'Q4_0': {
      const rows = x.length / cols, out = new Uint8Array(ggmlBytes(type, [cols, rows])), rowBytes = out.length / rows;
      const quantize = type === 'Q8_0' ? quantizeRowQ8_0 : quantizeRowQ4_0;
      for (let r = 0; r < rows; r++) quantize(x.subarray(r * cols, (r + 1) * cols), out, r * rowBytes);
      return out;
    }
    default: throw new Error(`GGUF export writes F32, F16, BF16, Q8_0 and Q4_0, not ${type}`);
  }
}

/** Reads a checkpoint tensor as float32 rows, a slab at a time (whole FP8 scale blocks per slab). */
class RowReader {
  constructor(private readonly store: TensorSource, private readonly block: readonly number[]) {}

  /** Calls emit(rows as float32, cols) for consecutive slabs of the tensor's rows. */
  slabs(name: string, emit: (x: Float32Array, cols: number) => void): void {
    const e = this.store.entry(name);
    const cols = e.shape[e.shape.length - 1]!, rows = e.shape.length === 1 ? 1 : e.shape[0]!;
    const rowBytes = e.byteLength / rows;
    const fp8 = e.dtype === 'F8_E4M3';
    const unit = fp8 ? this.block[0]! : 1;
    const slab = Math.max(unit, Math.floor(SLAB_BYTES / rowBytes / unit) * unit);
    const scales = fp8 ? this.scales(name) : undefined;
    const scaleCols = Math.ceil(cols / this.block[1]!);
    for (let r0 = 0; r0 < rows; r0 += slab) {
      const n = Math.min(slab, rows - r0);
      const bytes = new Uint8Array(n * rowBytes);
      this.store.readInto(name, bytes, r0 * rowBytes);
      const src: SourceWeight = { dtype: e.dtype, bytes, shape: [n, cols] };
      if (scales) {
        src.scaleInv = scales.subarray((r0 / unit) * scaleCols, Math.ceil((r0 + n) / unit) * scaleCols);
        src.block = [this.block[0]!, this.block[1]!];
      }
      const x = new Float32Array(n * cols);
      decodeWeightRows(src, x);
      emit(x, cols);
    }
  }

  /** The whole tensor as float32. */
  all(name: string): Float32Array {
    const parts: Float32Array[] = [];
    this.slabs(name, (x) => parts.push(x));
    if (parts.length === 1) return parts[0]!;
    const out = new Float32Array(parts.reduce((n, p) => n + p.length, 0));
    let at = 0;
    for (const p of parts) { out.set(p, at); at += p.length; }
    return out;
  }

  private scales(name: string): Float32Array {
    const s = this.store.entry(name + SCALE_SUFFIX);
    const out = new Float32Array(s.byteLength / 4);
    this.store.readInto(name + SCALE_SUFFIX, new Uint8Array(out.buffer));
    return out;
  }
}
