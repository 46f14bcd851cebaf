// Minimal, independent safetensors reader for the float64 reference ("oracle") implementation.
//
// It deliberately shares no code with src/: it is written to be obviously correct, not fast.
//
// Format: 8-byte little-endian header length N, then N bytes of JSON
//   { name: { dtype, shape, data_offsets: [begin, end] }, "__metadata__": {...} }
// then the raw little-endian tensor data; offsets are relative to the first byte after the header.
//
// Supported dtypes: F64, F32, BF16, F16, F8_E4M3 (e4m3fn). Every tensor is decoded to Float64Array.
// An F8_E4M3 tensor `<name>` is multiplied block-wise by `<name>_scale_inv` (any float dtype), of shape
// [ceil(M/bm), ceil(N/bn)] with [bm, bn] = config.quantization_config.weight_block_size (default [128, 128]):
//   W[i, j] = value(code[i, j]) * scale_inv[floor(i / bm), floor(j / bn)]   (edge blocks are partial).

import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";

export interface StTensorInfo {
  file: string;
  dtype: string;
  shape: number[];
  /** absolute byte offsets inside `file` */
  begin: number;
  end: number;
}

export interface RefCheckpoint {
  dir: string;
  config: any;
  /** all tensor names in the checkpoint (including `*_scale_inv`) */
  names(): string[];
  info(name: string): StTensorInfo | undefined;
  shape(name: string): number[] | undefined;
  /** the tensor decoded to float64 (FP8 already multiplied by its block scales); undefined if absent */
  get(name: string): Float64Array | undefined;
}

// ---------------------------------------------------------------------------------------------
// Scalar decoders
// ---------------------------------------------------------------------------------------------

/** float8 e4m3fn: 1 sign bit, 4 exponent bits (bias 7), 3 mantissa bits; no infinities;
 *  S.1111.111 (0x7F, 0xFF) is NaN; exponent 0 is subnormal: mantissa/8 * 2^(1-7). Max 448. */
export function decodeE4M3(code: number): number {
  const sign = (code & 0x80) !== 0 ? -1 : 1;
  const exponent = (code >> 3) & 0x0f;
  const mantissa = code & 0x07;
  if (exponent === 0x0f && mantissa === 0x07) return NaN;
  if (exponent === 0) return sign * (mantissa / 8) * Math.pow(2, 1 - 7);
  return sign * (1 + mantissa / 8) * Math.pow(2, exponent - 7);
}

/** IEEE half: 1 sign, 5 exponent (bias 15), 10 mantissa bits. */
export function decodeF16(bits: number): number {
  const sign = (bits & 0x8000) !== 0 ? -1 : 1;
  const exponent = (bits >> 10) & 0x1f;
  const mantissa = bits & 0x3ff;
  if (exponent === 0) return sign * (mantissa / 1024) * Math.pow(2, -14);
  if (exponent === 0x1f) return mantissa === 0 ? sign * Infinity : NaN;
  return sign * (1 + mantissa / 1024) * Math.pow(2, exponent - 15);
}

/** bfloat16: the upper 16 bits of an IEEE float32. */
export function decodeBF16(bits: number): number {
  const view = new DataView(new ArrayBuffer(4));
  view.setUint32(0, (bits & 0xffff) << 16 >>> 0, false);
  return view.getFloat32(0, false);
}

function bytesPerElement(dtype: string): number {
  switch (dtype) {
    case "F64":
      return 8;
    case "F32":
      return 4;
    case "BF16":
    case "F16":
      return 2;
    case "F8_E4M3":
      return 1;
    default:
      throw new Error(`safetensors-f64: unsupported dtype ${dtype}`);
  }
}

/** Decode `count` elements of `dtype` from `bytes` (little-endian) to float64. */
export function decodeRaw(bytes: Uint8Array, dtype: string, count: number): Float64Array {
  const out = new Float64Array(count);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (let i = 0; i < count; i++) {
    switch (dtype) {
      case "F64":
        out[i] = view.getFloat64(i * 8, true);
        break;
      case "F32":
        out[i] = view.getFloat32(i * 4, true);
        break;
      case "BF16":
        out[i] = decodeBF16(view.getUint16(i * 2, true));
        break;
      case "F16":
        out[i] = decodeF16(view.getUint16(i * 2, true));
        break;
      case "F8_E4M3":
        out[i] = decodeE4M3(bytes[i]!);
        break;
      default:
        throw new Error(`safetensors-f64: unsupported dtype ${dtype}`);
    }
  }
  return out;
}

/** Multiply an [rows, cols] matrix (row-major) by block scales `scaleInv` of shape
 *  [ceil(rows/bm), ceil(cols/bn)]: out[i, j] = values[i, j] * scaleInv[floor(i/bm), floor(j/bn)]. */
export function applyBlockScale(
  values: Float64Array,
  rows: number,
  cols: number,
  scaleInv: Float64Array,
  blockRows: number,
  blockCols: number,
): Float64Array {
  const scaleRows = Math.ceil(rows / blockRows);
  const scaleCols = Math.ceil(cols / blockCols);
  if (values.length !== rows * cols) throw new Error("applyBlockScale: values length mismatch");
  if (scaleInv.length !== scaleRows * scaleCols) {
    throw new Error(`applyBlockScale: scale_inv has ${scaleInv.length} values, expected ${scaleRows}x${scaleCols}`);
  }
  const out = new Float64Array(rows * cols);
  for (let i = 0; i < rows; i++) {
    for (let j = 0; j < cols; j++) {
      const s = scaleInv[Math.floor(i / blockRows) * scaleCols + Math.floor(j / blockCols)]!;
      out[i * cols + j] = values[i * cols + j]! * s;
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// File parsing
// ---------------------------------------------------------------------------------------------

/** Parse the header of one safetensors file; returns the tensors it holds (absolute offsets). */
export function readSafetensorsHeader(path: string, bytes?: Uint8Array): Map<string, StTensorInfo> {
  const buf = bytes ?? readFileSync(path);
  if (buf.length < 8) throw new Error(`${path}: too short for a safetensors file`);
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const headerLen = Number(view.getBigUint64(0, true));
  if (8 + headerLen > buf.length) throw new Error(`${path}: header length ${headerLen} past end of file`);
  const headerText = new TextDecoder().decode(buf.subarray(8, 8 + headerLen));
  const header = JSON.parse(headerText) as Record<string, any>;
  const dataStart = 8 + headerLen;
  const out = new Map<string, StTensorInfo>();
  for (const [name, entry] of Object.entries(header)) {
    if (name === "__metadata__") continue;
    const dtype = String(entry.dtype);
    const shape = (entry.shape as number[]).map((d) => Number(d));
    const [b, e] = entry.data_offsets as [number, number];
    const numel = shape.reduce((a, d) => a * d, 1);
    if (e - b !== numel * bytesPerElement(dtype)) {
      throw new Error(`${path}: tensor ${name} has ${e - b} bytes, expected ${numel} x ${dtype}`);
    }
    if (dataStart + e > buf.length) throw new Error(`${path}: tensor ${name} runs past end of file`);
    out.set(name, { file: path, dtype, shape, begin: dataStart + b, end: dataStart + e });
  }
  return out;
}

/** Open a Hugging Face checkpoint folder: config.json plus model.safetensors, or the shards listed in
 *  model.safetensors.index.json (weight_map). */
export function loadCheckpoint(dir: string): RefCheckpoint {
  const configPath = join(dir, "config.json");
  const config = existsSync(configPath) ? JSON.parse(readFileSync(configPath, "utf8")) : {};

  const files: string[] = [];
  const indexPath = join(dir, "model.safetensors.index.json");
  const wantedFileOf = new Map<string, string>();
  if (existsSync(indexPath)) {
    const index = JSON.parse(readFileSync(indexPath, "utf8"));
    const weightMap = index.weight_map as Record<string, string>;
    for (const [name, file] of Object.entries(weightMap)) {
      wantedFileOf.set(name, file);
      if (!files.includes(file)) files.push(file);
    }
  } else if (existsSync(join(dir, "model.safetensors"))) {
    files.push("model.safetensors");
  } else {
    throw new Error(`${dir}: neither model.safetensors nor model.safetensors.index.json`);
  }

  const fileBytes = new Map<string, Uint8Array>();
  const tensors = new Map<string, StTensorInfo>();
  for (const file of files) {
    const path = join(dir, file);
    const bytes = readFileSync(path);
    fileBytes.set(path, bytes);
    for (const [name, info] of readSafetensorsHeader(path, bytes)) {
      const wanted = wantedFileOf.get(name);
      if (wanted !== undefined && wanted !== file) continue; // the index says it lives elsewhere
      tensors.set(name, info);
    }
  }
  for (const [name, file] of wantedFileOf) {
    if (!tensors.has(name)) throw new Error(`${dir}: index lists ${name} in ${file}, but that file lacks it`);
  }

  const block = config?.quantization_config?.weight_block_size as number[] | undefined;
  const blockRows = block?.[0] ?? 128;
  const blockCols = block?.[1] ?? 128;

  function decode(info: StTensorInfo): Float64Array {
    const bytes = fileBytes.get(info.file)!.subarray(info.begin, info.end);
    const numel = info.shape.reduce((a, d) => a * d, 1);
    return decodeRaw(bytes, info.dtype, numel);
  }

  return {
    dir,
    config,
    names: () => [...tensors.keys()],
    info: (name) => tensors.get(name),
    shape: (name) => tensors.get(name)?.shape.slice(),
    get(name: string): Float64Array | undefined {
      const info = tensors.get(name);
      if (info === undefined) return undefined;
      const values = decode(info);
      if (info.dtype !== "F8_E4M3") return values;
      const scaleInfo = tensors.get(`${name}_scale_inv`);
      if (scaleInfo === undefined) throw new Error(`${name} is F8_E4M3 but ${name}_scale_inv is missing`);
      if (info.shape.length !== 2) throw new Error(`${name}: F8_E4M3 block scaling needs a 2-D tensor`);
      const [rows, cols] = info.shape as [number, number];
      const want = [Math.ceil(rows / blockRows), Math.ceil(cols / blockCols)];
      if (scaleInfo.shape.length !== 2 || scaleInfo.shape[0] !== want[0] || scaleInfo.shape[1] !== want[1]) {
        throw new Error(`${name}_scale_inv has shape [${scaleInfo.shape}], expected [${want}]`);
      }
      return applyBlockScale(values, rows, cols, decode(scaleInfo), blockRows, blockCols);
    },
  };
}
