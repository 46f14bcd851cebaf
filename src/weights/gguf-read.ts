// GGUF reader: validates the header, the metadata and the tensor infos at open (never reading tensor data), then reads
// byte ranges of single tensors on demand into caller buffers. Versions 2 and 3 (same layout, as in ggml); v1 and
// big-endian files are refused. Nested arrays are refused, as ggml does.
//
// Decision on the data section: every tensor's offset must be a multiple of the alignment, its bytes must lie inside
// the file and not overlap another tensor's; unlike ggml, holes between tensors are accepted (ggml requires each
// offset to be the running sum of the padded sizes before it).

import * as fs from 'node:fs';
import { ByteReader } from './gguf-byte-reader.js';
import {
  ALIGNMENT_KEY, GGML_MAX_DIMS, GGML_TYPE_BY_ID, GGML_TYPE_NAMES, GGUF_ARRAY_TYPE_ID, GGUF_DEFAULT_ALIGNMENT, GGUF_MAGIC,
  GGUF_SCALAR_BY_ID, GGUF_SCALAR_MIN_BYTES, alignUp, ggmlBytes, isPowerOfTwo,
  type GgufScalar, type GgufScalarType, type GgufTensorInfo, type GgufValue,
} from './gguf-types.js';

const IO_CHUNK = 64 * 1024 * 1024; // largest single read of tensor data
// Smallest encodings, to refuse counts the file cannot hold before looping over them: a KV is a 1-byte key
// (8 + 1), a type (4) and a 1-byte value; a tensor info a 1-byte name (8 + 1), n_dims (4), one ne (8), type (4), offset (8).
const MIN_KV_BYTES = 8 + 1 + 4 + 1;
const MIN_TENSOR_INFO_BYTES = 8 + 1 + 4 + 8 + 4 + 8;

function readScalar(r: ByteReader, type: GgufScalarType): GgufScalar {
  switch (type) {
    case 'u8': return r.u8();
    case 'i8': return r.i8();
    case 'u16': return r.u16();
    case 'i16': return r.i16();
    case 'u32': return r.u32();
    case 'i32': return r.i32();
    case 'f32': return r.f32();
    case 'u64': return r.u64();
    case 'i64': return r.i64();
    case 'f64': return r.f64();
    case 'string': return r.string();
    case 'bool': {
      const b = r.u8();
      if (b > 1) r.fail(`bool byte is ${b}, must be 0 or 1`);
      return b === 1;
    }
  }
}

function scalarType(r: ByteReader, id: number, what: string): GgufScalarType {
  const type = GGUF_SCALAR_BY_ID.get(id);
  if (type === undefined) {
    r.fail(id === GGUF_ARRAY_TYPE_ID ? `${what} is an array: nested arrays are not supported` : `unknown ${what} ${id} (GGUF value types are 0..12)`);
  }
  return type;
}

function readValue(r: ByteReader): GgufValue {
  const typeId = r.u32();
  if (typeId !== GGUF_ARRAY_TYPE_ID) {
    const type = scalarType(r, typeId, 'value type');
    return { type, value: readScalar(r, type) };
  }
  const itemType = scalarType(r, r.u32(), 'array item type');
  const count = r.u64();
  if (count * GGUF_SCALAR_MIN_BYTES[itemType] > r.remaining) {
    r.fail(`array of ${count} ${itemType} values at byte ${r.pos - 8} runs past the end of the ${r.size}-byte file (truncated file or corrupt count)`);
  }
  const value = new Array<GgufScalar>(count);
  for (let i = 0; i < count; i++) value[i] = readScalar(r, itemType);
  return { type: 'array', itemType, value };
}

function readHeader(r: ByteReader): { version: number; nTensors: number; nKv: number } {
  const magic = r.bytes(4);
  if (magic.toString('latin1') !== GGUF_MAGIC) {
    r.fail(`not a GGUF file: magic is ${JSON.stringify(magic.toString('latin1'))}, expected "${GGUF_MAGIC}"`);
  }
  const version = r.u32();
  if (version === 1) r.fail('GGUF version 1 is not supported (only 2 and 3; v1 used 32-bit counts)');
  if ((version & 0xffff) === 0 && version !== 0) r.fail(`GGUF version ${version} looks byte-swapped: big-endian GGUF files are not supported`);
  if (version !== 2 && version !== 3) r.fail(`unsupported GGUF version ${version} (only 2 and 3)`);
  const nTensors = r.i64();
  const nKv = r.i64();
  if (nTensors < 0 || nTensors * MIN_TENSOR_INFO_BYTES > r.remaining) {
    r.fail(`tensor count ${nTensors} is impossible for a ${r.size}-byte file`);
  }
  if (nKv < 0 || nKv * MIN_KV_BYTES > r.remaining) r.fail(`metadata count ${nKv} is impossible for a ${r.size}-byte file`);
  return { version, nTensors, nKv };
}

function readMetadata(r: ByteReader, nKv: number): Map<string, GgufValue> {
  const metadata = new Map<string, GgufValue>();
  for (let i = 0; i < nKv; i++) {
    r.context = `metadata key #${i}`;
    const key = r.string();
    if (key === '') r.fail('key is empty');
    r.context = `metadata key ${JSON.stringify(key)}`;
    if (metadata.has(key)) r.fail('key appears twice');
    metadata.set(key, readValue(r));
  }
  return metadata;
}

function alignmentOf(r: ByteReader, metadata: Map<string, GgufValue>): number {
  const v = metadata.get(ALIGNMENT_KEY);
  if (v === undefined) return GGUF_DEFAULT_ALIGNMENT;
  r.context = `metadata key "${ALIGNMENT_KEY}"`;
  if (v.type !== 'u32') r.fail(`has type ${v.type === 'array' ? `array of ${v.itemType}` : v.type}, must be u32`);
  if (!isPowerOfTwo(v.value as number)) r.fail(`${v.value} is not a power of two`);
  return v.value as number;
}

function readTensorInfo(r: ByteReader, index: number, alignment: number, seen: Map<string, GgufTensorInfo>): GgufTensorInfo {
  r.context = `tensor info #${index}`;
  const name = r.string();
  r.context = `tensor ${JSON.stringify(name)}`;
  if (seen.has(name)) r.fail('name appears twice');
  const nDims = r.u32();
  if (nDims < 1 || nDims > GGML_MAX_DIMS) r.fail(`n_dims is ${nDims}, must be 1..${GGML_MAX_DIMS}`);
  const ne: number[] = [];
  for (let j = 0; j < nDims; j++) ne.push(r.i64());
  const typeId = r.u32();
  const type = GGML_TYPE_BY_ID.get(typeId);
  if (type === undefined) {
    const known = GGML_TYPE_NAMES.get(typeId);
    r.fail(known === undefined ? `unknown ggml type id ${typeId}` : `ggml type ${known} (id ${typeId}) is not supported (only F32, F16, BF16, Q8_0, Q4_0, Q4_K, Q6_K)`);
  }
  let byteLength = 0;
  try {
    byteLength = ggmlBytes(type, ne);
  } catch (e) {
    r.fail((e as Error).message);
  }
  const offset = r.u64();
  if (offset % alignment !== 0) r.fail(`data offset ${offset} is not a multiple of the alignment ${alignment}`);
  return { name, type, ne, offset, byteLength };
}

/** Turns data-section offsets into file offsets and checks that each tensor lies inside the file, overlapping none. */
function placeTensors(r: ByteReader, file: string, infos: GgufTensorInfo[], dataStart: number): void {
  for (const t of infos) {
    t.offset += dataStart;
    if (t.offset + t.byteLength > r.size) {
      throw new Error(`${file}: tensor ${JSON.stringify(t.name)}: data (bytes ${t.offset}..${t.offset + t.byteLength}) runs past the end of the ${r.size}-byte file (truncated?)`);
    }
  }
  const byOffset = [...infos].sort((a, b) => a.offset - b.offset);
  for (let i = 1; i < byOffset.length; i++) {
    const [prev, t] = [byOffset[i - 1]!, byOffset[i]!];
    if (t.offset < prev.offset + prev.byteLength) {
      throw new Error(`${file}: tensors ${JSON.stringify(prev.name)} and ${JSON.stringify(t.name)} overlap (bytes ${t.offset}..${prev.offset + prev.byteLength})`);
    }
  }
}

function readExactly(fd: number, dest: Uint8Array, position: number, what: () => string): void {
  let done = 0;
  while (done < dest.length) {
    const got = fs.readSync(fd, dest, done, Math.min(IO_CHUNK, dest.length - done), position + done);
    if (got === 0) throw new Error(`${what()}: unexpected end of file after ${done} of ${dest.length} bytes`);
    done += got;
  }
}

/** An open GGUF file: header, metadata and tensor infos in memory (in file order), tensor bytes read on demand. */
export class GgufFile {
  private fd: number | null;

  private constructor(
    readonly path: string,
    fd: number,
    readonly version: number,
    readonly alignment: number,
    readonly metadata: Map<string, GgufValue>,
    readonly tensors: Map<string, GgufTensorInfo>,
  ) {
    this.fd = fd;
  }

  /** Opens and fully validates everything but the tensor data; the file descriptor stays open until close(). */
  static open(path: string): GgufFile {
    let fd: number;
    try {
      fd = fs.openSync(path, 'r');
    } catch (e) {
      throw new Error(`${path}: cannot open GGUF file: ${(e as Error).message}`);
    }
    try {
      const r = new ByteReader(fd, path, fs.fstatSync(fd).size);
      const { version, nTensors, nKv } = readHeader(r);
      const metadata = readMetadata(r, nKv);
      const alignment = alignmentOf(r, metadata);
      const tensors = new Map<string, GgufTensorInfo>();
      for (let i = 0; i < nTensors; i++) {
        const info = readTensorInfo(r, i, alignment, tensors);
        tensors.set(info.name, info);
      }
      placeTensors(r, path, [...tensors.values()], alignUp(r.pos, alignment));
      return new GgufFile(path, fd, version, alignment, metadata, tensors);
    } catch (e) {
      fs.closeSync(fd);
      throw e;
    }
  }

  /** Reads tensor `name` into dest: all of it, or from byte `offset` of its data as many bytes as dest holds. */
  readInto(name: string, dest: Uint8Array, offset?: number): void {
    const info = this.tensors.get(name);
    if (info === undefined) throw new Error(`${this.path}: no tensor "${name}" in this file`);
    if (this.fd === null) throw new Error(`${this.path}: cannot read tensor "${name}": file is closed`);
    if (offset === undefined && dest.length !== info.byteLength) {
      throw new Error(`${this.path}: tensor "${name}" has ${info.byteLength} bytes but the destination holds ${dest.length}`);
    }
    const from = offset ?? 0;
    if (!Number.isSafeInteger(from) || from < 0 || from + dest.length > info.byteLength) {
      throw new Error(`${this.path}: tensor "${name}" has ${info.byteLength} bytes; cannot read ${dest.length} from byte ${offset}`);
    }
    readExactly(this.fd, dest, info.offset + from, () => `${this.path}: reading tensor "${name}"`);
  }

  close(): void {
    if (this.fd !== null) fs.closeSync(this.fd);
    this.fd = null;
  }
}
