// `qiusuo export hf`: any checkpoint qiusuo reads (a GGUF above all) as a Hugging Face folder: config.json, the
// tokenizer files, and safetensors in shards of at most 5 GB (transformers' save_pretrained default). F32, F16,
// BF16 and FP8 (with its scales) tensors keep their bytes; block-quantized GGUF tensors, which safetensors cannot
// hold, are dequantized a slab of rows at a time to the chosen dtype.
// Leaves out where the tensors come from (TensorSource) and the config mapping (the caller's configToJson).

import * as fs from 'node:fs';
import * as path from 'node:path';
import { encodeArray, type ElementDType, type StoredDType } from './dtypes.js';
import { decodeWeightRows } from './quantize.js';
import type { TensorSpec } from './safetensors.js';
import { writeJsonAtomically } from './safetensors.js';
import { writeShards, type TensorSource } from './shards.js';

export type HfExportDType = 'bf16' | 'f16' | 'f32';
export const HF_EXPORT_DTYPES: readonly HfExportDType[] = ['bf16', 'f16', 'f32'];
const DTYPE: Record<HfExportDType, ElementDType> = { bf16: 'BF16', f16: 'F16', f32: 'F32' };
const KEPT: ReadonlySet<StoredDType> = new Set<StoredDType>(['F32', 'F16', 'BF16', 'F8_E4M3']);
const SHARD_BYTES = 5e9;
const SLAB_BYTES = 16 << 20;

export interface HfExportOptions { dtype: HfExportDType; force: boolean }

export function exportHf(store: TensorSource, config: Record<string, unknown>, tokenizer: { json: object; config: object } | null,
  out: string, opts: HfExportOptions): void {
  if (fs.existsSync(path.join(out, 'config.json')) && !opts.force) throw new Error(`${out} already holds a checkpoint (config.json); choose another --out or pass --force`);
  const names = store.names();
  const specs: TensorSpec[] = names.map((name) => {
    const e = store.entry(name);
    return { name, dtype: KEPT.has(e.dtype) ? e.dtype : DTYPE[opts.dtype], shape: [...e.shape] };
  });
  writeShards(out, specs, { split: { maxShardBytes: SHARD_BYTES }, digits: [5, 5] }, (i, spec, write) => {
    const e = store.entry(spec.name);
    if (e.dtype === spec.dtype) {
      for (let at = 0; at < e.byteLength; at += SLAB_BYTES) {
        const chunk = new Uint8Array(Math.min(SLAB_BYTES, e.byteLength - at));
        store.readInto(spec.name, chunk, at);
        write(chunk);
      }
      return;
    }
    const cols = e.shape[e.shape.length - 1]!, rows = e.byteLength === 0 ? 0 : e.shape.slice(0, -1).reduce((a, b) => a * b, 1);
    const rowBytes = e.byteLength / rows, slab = Math.max(1, Math.floor(SLAB_BYTES / rowBytes));
    for (let r0 = 0; r0 < rows; r0 += slab) {
      const n = Math.min(slab, rows - r0), bytes = new Uint8Array(n * rowBytes);
      store.readInto(spec.name, bytes, r0 * rowBytes);
      const x = new Float32Array(n * cols);
      decodeWeightRows({ dtype: e.dtype, bytes, shape: [n, cols] }, x);
      write(encodeArray(x, DTYPE[opts.dtype]));
    }
  });
  const json = (name: string, value: unknown) => writeJsonAtomically(path.join(out, name), value);
  if (tokenizer) {
    json('tokenizer.json', tokenizer.json);
    json('tokenizer_config.json', tokenizer.config);
  }
  json('config.json', config);
}
