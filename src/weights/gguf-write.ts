// GGUF v3 writer: validates the metadata and tensor specs first, then streams header, metadata, tensor infos and each
// tensor's bytes (as a producer hands them over, chunk by chunk) into a temp file that is renamed into place.
// Each tensor's data starts at a multiple of the alignment and is zero-padded to one, the last included (ggml reads the
// data section as the sum of padded sizes). Leaves out what the metadata or tensors mean.

import * as fs from 'node:fs';
import { writeFileAtomically } from './safetensors.js';
import {
  ALIGNMENT_KEY, GGML_MAX_NAME_BYTES, GGML_TYPE_ID, GGUF_ARRAY_TYPE_ID, GGUF_DEFAULT_ALIGNMENT, GGUF_MAGIC,
  GGUF_VALUE_TYPE_ID, GGUF_VERSION, alignUp, ggmlBytes, isPowerOfTwo,
  type GgufScalar, type GgufScalarType, type GgufTensorSpec, type GgufValue,
} from './gguf-types.js';

const CHUNK = 1 << 20;
const IO_CHUNK = 64 * 1024 * 1024;

const INT_RANGE: Partial<Record<GgufScalarType, [number, number]>> = {
  u8: [0, 0xff], i8: [-0x80, 0x7f], u16: [0, 0xffff], i16: [-0x8000, 0x7fff],
  u32: [0, 0xffffffff], i32: [-0x80000000, 0x7fffffff],
  u64: [0, Number.MAX_SAFE_INTEGER], i64: [Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER],
};

function writeAll(fd: number, data: Uint8Array): void {
  let done = 0;
  while (done < data.length) done += fs.writeSync(fd, data, done, Math.min(IO_CHUNK, data.length - done));
}

/** Little-endian values collected in one reusable buffer and written out when it fills: few syscalls for big headers. */
class ByteWriter {
  private readonly buf = Buffer.allocUnsafe(CHUNK);
  private used = 0;
  /** Bytes written so far, flushed or not. */
  total = 0;

  constructor(private readonly fd: number) {}

  private room(n: number): number {
    if (this.used + n > CHUNK) this.flush();
    const at = this.used;
    this.used += n;
    this.total += n;
    return at;
  }

  flush(): void {
    writeAll(this.fd, this.buf.subarray(0, this.used));
    this.used = 0;
  }

  u8(v: number): void { this.buf.writeUInt8(v, this.room(1)); }
  i8(v: number): void { this.buf.writeInt8(v, this.room(1)); }
  u16(v: number): void { this.buf.writeUInt16LE(v, this.room(2)); }
  i16(v: number): void { this.buf.writeInt16LE(v, this.room(2)); }
  u32(v: number): void { this.buf.writeUInt32LE(v, this.room(4)); }
  i32(v: number): void { this.buf.writeInt32LE(v, this.room(4)); }
  f32(v: number): void { this.buf.writeFloatLE(v, this.room(4)); }
  f64(v: number): void { this.buf.writeDoubleLE(v, this.room(8)); }
  u64(v: number): void { this.buf.writeBigUInt64LE(BigInt(v), this.room(8)); }
  i64(v: number): void { this.buf.writeBigInt64LE(BigInt(v), this.room(8)); }

  bytes(data: Uint8Array): void {
    if (data.length > CHUNK) {
      this.flush();
      writeAll(this.fd, data);
      this.total += data.length;
    } else {
      this.buf.set(data, this.room(data.length));
    }
  }

  string(s: string): void {
    const data = Buffer.from(s, 'utf8');
    this.u64(data.length);
    this.bytes(data);
  }

  zeros(n: number): void {
    this.bytes(new Uint8Array(n));
  }
}

/** Throws (naming `where`) unless `v` is a valid value of `type`. */
function checkScalar(type: GgufScalarType, v: GgufScalar, where: string): void {
  const range = INT_RANGE[type];
  const ok = range !== undefined ? typeof v === 'number' && Number.isInteger(v) && v >= range[0] && v <= range[1]
    : type === 'f32' || type === 'f64' ? typeof v === 'number'
      : type === 'bool' ? typeof v === 'boolean'
        : type === 'string' ? typeof v === 'string' : false;
  if (!ok) throw new Error(`${where}: ${JSON.stringify(v)} is not a valid ${type} value`);
}

function checkValue(v: GgufValue, where: string): void {
  if (v.type === 'array') {
    if (!Object.hasOwn(GGUF_VALUE_TYPE_ID, v.itemType)) throw new Error(`${where}: unknown array item type ${JSON.stringify(v.itemType)}`);
    if (!Array.isArray(v.value)) throw new Error(`${where}: an array value must be a JS array`);
    v.value.forEach((item, i) => checkScalar(v.itemType, item, `${where}[${i}]`));
  } else {
    if (!Object.hasOwn(GGUF_VALUE_TYPE_ID, v.type)) throw new Error(`${where}: unknown value type ${JSON.stringify(v.type)}`);
    checkScalar(v.type, v.value, where);
  }
}

function writeScalar(w: ByteWriter, type: GgufScalarType, v: GgufScalar): void {
  switch (type) {
    case 'u8': return w.u8(v as number);
    case 'i8': return w.i8(v as number);
    case 'u16': return w.u16(v as number);
    case 'i16': return w.i16(v as number);
    case 'u32': return w.u32(v as number);
    case 'i32': return w.i32(v as number);
    case 'f32': return w.f32(v as number);
    case 'u64': return w.u64(v as number);
    case 'i64': return w.i64(v as number);
    case 'f64': return w.f64(v as number);
    case 'bool': return w.u8(v ? 1 : 0);
    case 'string': return w.string(v as string);
  }
}

function writeValue(w: ByteWriter, v: GgufValue): void {
  if (v.type === 'array') {
    w.u32(GGUF_ARRAY_TYPE_ID);
    w.u32(GGUF_VALUE_TYPE_ID[v.itemType]);
    w.u64(v.value.length);
    for (const item of v.value) writeScalar(w, v.itemType, item);
  } else {
    w.u32(GGUF_VALUE_TYPE_ID[v.type]);
    writeScalar(w, v.type, v.value);
  }
}

/** The metadata as written: checked, in order, with general.alignment added if not the default. */
function checkedMetadata(path: string, metadata: Iterable<[string, GgufValue]>, alignment: number): [string, GgufValue][] {
  const entries: [string, GgufValue][] = [];
  const keys = new Set<string>();
  for (const [key, value] of metadata) {
    const where = `${path}: metadata key ${JSON.stringify(key)}`;
    if (typeof key !== 'string' || key === '') throw new Error(`${path}: metadata key ${JSON.stringify(key)} must be a non-empty string`);
    if (keys.has(key)) throw new Error(`${where}: appears twice`);
    if (key === ALIGNMENT_KEY) throw new Error(`${where}: pass the alignment as writeGguf's argument instead`);
    checkValue(value, where);
    keys.add(key);
    entries.push([key, value]);
  }
  if (alignment !== GGUF_DEFAULT_ALIGNMENT) entries.push([ALIGNMENT_KEY, { type: 'u32', value: alignment }]);
  return entries;
}

/** Each tensor's data size, after checking names (unique, under ggml's 64-byte limit), types and shapes. */
function checkedSizes(path: string, tensors: readonly GgufTensorSpec[]): number[] {
  const names = new Set<string>();
  return tensors.map((t) => {
    const where = `${path}: tensor ${JSON.stringify(t.name)}`;
    if (typeof t.name !== 'string' || t.name === '') throw new Error(`${where}: name must be a non-empty string`);
    if (Buffer.byteLength(t.name, 'utf8') > GGML_MAX_NAME_BYTES) throw new Error(`${where}: name is over ggml's ${GGML_MAX_NAME_BYTES}-byte limit`);
    if (names.has(t.name)) throw new Error(`${where}: name appears twice`);
    names.add(t.name);
    if (!Object.hasOwn(GGML_TYPE_ID, t.type)) throw new Error(`${where}: unknown ggml type ${JSON.stringify(t.type)}`);
    try {
      return ggmlBytes(t.type, t.ne);
    } catch (e) {
      throw new Error(`${where}: ${(e as Error).message}`);
    }
  });
}

/**
 * Streams a GGUF v3 file to `path` (temp file + rename; nothing is left behind on error): header, metadata in the
 * given order, tensor infos, then each tensor's bytes from `bytes(i, spec, write)`, which may call `write` any number
 * of times; the total must be exactly ggmlBytes(spec). Data starts are aligned to `alignment` (a power of two, default
 * 32, written as general.alignment only when not 32).
 */
export function writeGguf(
  path: string,
  metadata: Iterable<[string, GgufValue]>,
  tensors: readonly GgufTensorSpec[],
  bytes: (index: number, spec: GgufTensorSpec, write: (chunk: Uint8Array) => void) => void,
  alignment = GGUF_DEFAULT_ALIGNMENT,
): void {
  if (!isPowerOfTwo(alignment)) throw new Error(`${path}: alignment ${alignment} must be a power of two (u32)`);
  const entries = checkedMetadata(path, metadata, alignment);
  const sizes = checkedSizes(path, tensors);
  writeFileAtomically(path, (fd) => {
    const w = new ByteWriter(fd);
    w.bytes(Buffer.from(GGUF_MAGIC, 'latin1'));
    w.u32(GGUF_VERSION);
    w.i64(tensors.length);
    w.i64(entries.length);
    for (const [key, value] of entries) {
      w.string(key);
      writeValue(w, value);
    }
    let offset = 0;
    tensors.forEach((t, i) => {
      w.string(t.name);
      w.u32(t.ne.length);
      for (const n of t.ne) w.i64(n);
      w.u32(GGML_TYPE_ID[t.type]);
      w.u64(offset);
      offset += alignUp(sizes[i]!, alignment);
    });
    w.zeros(alignUp(w.total, alignment) - w.total);
    w.flush();
    tensors.forEach((spec, i) => {
      let got = 0;
      bytes(i, spec, (chunk) => {
        got += chunk.length;
        if (got > sizes[i]!) throw new Error(`${path}: tensor ${JSON.stringify(spec.name)}: got more than the ${sizes[i]} bytes ${spec.type} ${JSON.stringify(spec.ne)} needs`);
        w.bytes(chunk);
      });
      if (got !== sizes[i]) throw new Error(`${path}: tensor ${JSON.stringify(spec.name)}: got ${got} bytes but ${spec.type} ${JSON.stringify(spec.ne)} needs ${sizes[i]}`);
      w.zeros(alignUp(sizes[i]!, alignment) - sizes[i]!);
    });
    w.flush();
  });
}
