// Tiny safetensors writer for the reference tests (test helper, not a test).
// F32 tensors from numbers; any other dtype from raw little-endian bytes.

import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export interface WTensor {
  shape: number[];
  /** numbers (written as F32) or raw bytes (written with `dtype`) */
  data: ArrayLike<number> | Uint8Array;
  dtype?: string;
}

export function safetensorsBytes(tensors: Record<string, WTensor>): Uint8Array {
  const header: Record<string, unknown> = { __metadata__: { format: "pt" } };
  const blobs: Uint8Array[] = [];
  let offset = 0;
  for (const [name, t] of Object.entries(tensors)) {
    let bytes: Uint8Array;
    let dtype: string;
    if (t.data instanceof Uint8Array) {
      if (!t.dtype) throw new Error(`${name}: raw bytes need a dtype`);
      bytes = t.data;
      dtype = t.dtype;
    } else {
      const numel = t.shape.reduce((a, d) => a * d, 1);
      if (t.data.length !== numel) throw new Error(`${name}: ${t.data.length} values for shape [${t.shape}]`);
      bytes = new Uint8Array(numel * 4);
      const view = new DataView(bytes.buffer);
      for (let i = 0; i < numel; i++) view.setFloat32(i * 4, t.data[i]!, true);
      dtype = "F32";
    }
    header[name] = { dtype, shape: t.shape, data_offsets: [offset, offset + bytes.length] };
    blobs.push(bytes);
    offset += bytes.length;
  }
  const headerBytes = new TextEncoder().encode(JSON.stringify(header));
  const out = new Uint8Array(8 + headerBytes.length + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(headerBytes.length), true);
  out.set(headerBytes, 8);
  let p = 8 + headerBytes.length;
  for (const b of blobs) {
    out.set(b, p);
    p += b.length;
  }
  return out;
}

/** Write config.json plus one model.safetensors (or, with `shards` > 1, round-robin shards and an index). */
export function writeModelDir(config: unknown, tensors: Record<string, WTensor>, shards = 1, dir?: string): string {
  const out = dir ?? mkdtempSync(join(tmpdir(), "qiusuo-ref-"));
  mkdirSync(out, { recursive: true });
  writeFileSync(join(out, "config.json"), JSON.stringify(config, null, 2));
  if (shards <= 1) {
    writeFileSync(join(out, "model.safetensors"), safetensorsBytes(tensors));
    return out;
  }
  const parts: Record<string, WTensor>[] = Array.from({ length: shards }, () => ({}));
  const weightMap: Record<string, string> = {};
  const fileName = (i: number) => `model-${String(i + 1).padStart(5, "0")}-of-${String(shards).padStart(5, "0")}.safetensors`;
  Object.entries(tensors).forEach(([name, t], i) => {
    parts[i % shards]![name] = t;
    weightMap[name] = fileName(i % shards);
  });
  parts.forEach((p, i) => writeFileSync(join(out, fileName(i)), safetensorsBytes(p)));
  writeFileSync(join(out, "model.safetensors.index.json"), JSON.stringify({ metadata: {}, weight_map: weightMap }));
  return out;
}

/** Deterministic PRNG (mulberry32) for random tiny models. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** n values uniform in [-scale, scale], rounded to float32. */
export function randArray(next: () => number, n: number, scale: number): number[] {
  return Array.from({ length: n }, () => Math.fround((next() * 2 - 1) * scale));
}

/** Row-major identity-like matrix [rows, cols] with `value` on the diagonal. */
export function eye(rows: number, cols: number, value = 1): number[] {
  const out = new Array<number>(rows * cols).fill(0);
  for (let i = 0; i < Math.min(rows, cols); i++) out[i * cols + i] = value;
  return out;
}

export function zeros(n: number): number[] {
  return new Array<number>(n).fill(0);
}
