// Reader and writer of one safetensors file: u64 LE header length N, N bytes of JSON header, raw LE data.
// The reader validates the whole header at open and then reads single tensors on demand into caller
// buffers (never the whole file). Leaves out dtype conversion (dtypes.ts) and multi-file folders (shards.ts).
//
// Decision on the data section: like the reference implementation, the tensors' byte ranges must tile
// it exactly — no overlaps, no holes, no trailing bytes. Anything else is rejected as a corrupt file.
// Not detected: duplicate tensor names in the header JSON (JSON.parse keeps the last one).

import * as fs from 'node:fs';
import { randomBytes } from 'node:crypto';
import { DTYPE_BYTES, parseDType, type ElementDType, type StoredDType } from './dtypes.js';
import { parseJson, preview } from '../util/json.js';

/** One tensor of one file: where its bytes lie (absolute file offset) and what they mean. */
export interface TensorEntry {
  name: string;
  dtype: StoredDType;
  shape: number[];
  byteLength: number;
  file: string;
  fileOffset: number;
}

/** What a safetensors header says about a tensor: known before any of its data exists. */
export interface TensorSpec {
  name: string;
  dtype: StoredDType;
  shape: number[];
}

export interface TensorToWrite extends TensorSpec {
  data: Uint8Array;
}

/**
 * Produces the bytes of tensor `spec` (number `index` in the file) by calling `write` with consecutive chunks, so a
 * writer never needs a tensor's data whole, let alone a file's.
 */
export type TensorBytes = (index: number, spec: TensorSpec, write: (chunk: Uint8Array) => void) => void;

const MAX_HEADER_BYTES = 100_000_000; // the reference reader's limit against absurd headers
const IO_CHUNK = 64 * 1024 * 1024; // largest single read/write
const METADATA_KEY = '__metadata__';

type ParsedHeader = { metadata: Record<string, string>; entries: Map<string, TensorEntry> };

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function isCount(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

/** Bytes of a tensor; throws (with `where`) if the shape is malformed or its size overflows. */
function tensorBytes(dtype: ElementDType, shape: unknown, where: string): number {
  if (!Array.isArray(shape)) throw new Error(`${where}: shape must be an array of integers, got ${preview(shape)}`);
  let n = DTYPE_BYTES[dtype];
  for (const d of shape) {
    if (!isCount(d)) throw new Error(`${where}: shape ${preview(shape)} has a dimension that is not a non-negative integer`);
    n *= d;
    if (!Number.isSafeInteger(n)) throw new Error(`${where}: shape ${preview(shape)} is too large`);
  }
  return n;
}

/**
 * Validates a parsed header against the data section [dataStart, dataStart + dataLength) of `file`.
 * Entries come back in file-offset order.
 */
function validateHeader(file: string, header: unknown, dataStart: number, dataLength: number): ParsedHeader {
  if (!isPlainObject(header)) throw new Error(`${file}: safetensors header is not a JSON object`);
  let metadata: Record<string, string> = {};
  const ranges: { name: string; begin: number; end: number; entry: TensorEntry }[] = [];
  for (const [name, info] of Object.entries(header)) {
    if (name === METADATA_KEY) {
      if (!isPlainObject(info) || !Object.values(info).every((v) => typeof v === 'string')) {
        throw new Error(`${file}: "${METADATA_KEY}" must be an object of string values`);
      }
      metadata = info as Record<string, string>;
      continue;
    }
    const where = `${file}: tensor ${preview(name)}`;
    if (!isPlainObject(info)) throw new Error(`${where}: header entry is not an object`);
    for (const key of ['dtype', 'shape', 'data_offsets']) {
      if (!Object.hasOwn(info, key)) throw new Error(`${where}: header entry is missing "${key}"`);
    }
    if (typeof info.dtype !== 'string') throw new Error(`${where}: dtype must be a string`);
    const dtype = parseDType(info.dtype, where);
    const byteLength = tensorBytes(dtype, info.shape, where);
    const offs = info.data_offsets;
    if (!Array.isArray(offs) || offs.length !== 2 || !isCount(offs[0]) || !isCount(offs[1]) || offs[0] > offs[1]) {
      throw new Error(`${where}: data_offsets must be [begin, end] non-negative integers with begin <= end, got ${preview(offs)}`);
    }
    const [begin, end] = offs as [number, number];
    if (end > dataLength) {
      throw new Error(`${where}: data ends at ${end} but the data section has only ${dataLength} bytes (file truncated?)`);
    }
    if (end - begin !== byteLength) {
      throw new Error(`${where}: data_offsets span ${end - begin} bytes but ${dtype} ${preview(info.shape)} needs ${byteLength}`);
    }
    const entry: TensorEntry = { name, dtype, shape: [...(info.shape as number[])], byteLength, file, fileOffset: dataStart + begin };
    ranges.push({ name, begin, end, entry });
  }
  ranges.sort((a, b) => a.begin - b.begin || a.end - b.end);
  let cursor = 0;
  let previous = '';
  for (const r of ranges) {
    if (r.begin < cursor) {
      throw new Error(`${file}: tensors ${preview(previous)} and ${preview(r.name)} overlap (bytes ${r.begin}..${cursor} of the data section)`);
    }
    if (r.begin > cursor) {
      throw new Error(`${file}: bytes ${cursor}..${r.begin} of the data section (before tensor ${preview(r.name)}) belong to no tensor`);
    }
    cursor = r.end;
    previous = r.name;
  }
  if (cursor !== dataLength) {
    throw new Error(`${file}: data section has ${dataLength} bytes but its tensors cover only ${cursor} (trailing bytes)`);
  }
  return { metadata, entries: new Map(ranges.map((r) => [r.name, r.entry])) };
}

function readExactly(fd: number, dest: Uint8Array, position: number, what: () => string): void {
  let done = 0;
  while (done < dest.length) {
    const want = Math.min(IO_CHUNK, dest.length - done);
    const got = fs.readSync(fd, dest, done, want, position + done);
    if (got === 0) throw new Error(`${what()}: unexpected end of file after ${done} of ${dest.length} bytes`);
    done += got;
  }
}

function readHeader(file: string, fd: number): ParsedHeader {
  const size = fs.fstatSync(fd).size;
  if (size < 8) throw new Error(`${file}: truncated safetensors file (${size} bytes; the header length alone takes 8)`);
  const lenBuf = Buffer.alloc(8);
  readExactly(fd, lenBuf, 0, () => file);
  const n = lenBuf.readBigUInt64LE(0);
  if (n > BigInt(MAX_HEADER_BYTES)) {
    throw new Error(`${file}: header length ${n} exceeds the ${MAX_HEADER_BYTES}-byte limit (not a safetensors file?)`);
  }
  const headerLen = Number(n);
  if (8 + headerLen > size) {
    throw new Error(`${file}: header length ${headerLen} runs past the end of the ${size}-byte file (truncated?)`);
  }
  const raw = Buffer.alloc(headerLen);
  readExactly(fd, raw, 8, () => file);
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(raw);
  } catch {
    throw new Error(`${file}: safetensors header is not valid UTF-8`);
  }
  if (!text.startsWith('{')) throw new Error(`${file}: safetensors header is not a JSON object (does not start with "{")`);
  const header = parseJson(text, `${file}: safetensors header is not valid JSON`);
  return validateHeader(file, header, 8 + headerLen, size - 8 - headerLen);
}

/** An open safetensors file: validated header in memory, tensor bytes read on demand. */
export class SafetensorsFile {
  private fd: number | null;

  private constructor(
    readonly path: string,
    fd: number,
    readonly metadata: Record<string, string>,
    readonly entries: Map<string, TensorEntry>,
  ) {
    this.fd = fd;
  }

  /** Opens and fully validates the header; the file descriptor stays open until close(). */
  static open(path: string): SafetensorsFile {
    let fd: number;
    try {
      fd = fs.openSync(path, 'r');
    } catch (e) {
      throw new Error(`${path}: cannot open safetensors file: ${(e as Error).message}`);
    }
    try {
      const { metadata, entries } = readHeader(path, fd);
      return new SafetensorsFile(path, fd, metadata, entries);
    } catch (e) {
      fs.closeSync(fd);
      throw e;
    }
  }

  /** Reads tensor `name` into `dest` (exactly byteLength bytes), in chunks of at most 64 MiB. */
  /** Reads tensor `name` into dest: all of it, or from byte `offset` of its data as many bytes as dest holds. */
  readInto(name: string, dest: Uint8Array, offset?: number): void {
    const entry = this.entries.get(name);
    if (entry === undefined) throw new Error(`${this.path}: no tensor "${name}" in this file`);
    if (this.fd === null) throw new Error(`${this.path}: cannot read tensor "${name}": file is closed`);
    if (offset === undefined && dest.length !== entry.byteLength) {
      throw new Error(`${this.path}: tensor "${name}" has ${entry.byteLength} bytes but the destination holds ${dest.length}`);
    }
    if (offset !== undefined && (offset < 0 || offset + dest.length > entry.byteLength)) {
      throw new Error(`${this.path}: tensor "${name}" has ${entry.byteLength} bytes; cannot read ${dest.length} from byte ${offset}`);
    }
    readExactly(this.fd, dest, entry.fileOffset + (offset ?? 0), () => `${this.path}: reading tensor "${name}"`);
  }

  close(): void {
    if (this.fd !== null) fs.closeSync(this.fd);
    this.fd = null;
  }
}

function writeAll(fd: number, data: Uint8Array): void {
  let done = 0;
  while (done < data.length) done += fs.writeSync(fd, data, done, Math.min(IO_CHUNK, data.length - done));
}

/** Writes `path` via a temporary file and a rename, so readers never see a half-written file. */
export function writeFileAtomically(path: string, write: (fd: number) => void): void {
  const tmp = `${path}.tmp-${process.pid}-${randomBytes(6).toString('hex')}`;
  const fd = fs.openSync(tmp, 'wx');
  try {
    write(fd);
    fs.fsyncSync(fd);
  } catch (e) {
    fs.closeSync(fd);
    fs.rmSync(tmp, { force: true });
    throw e;
  }
  fs.closeSync(fd);
  try {
    fs.renameSync(tmp, path);
  } catch (e) {
    fs.rmSync(tmp, { force: true });
    throw e;
  }
}

/** `value` as indented JSON in `file`, written temp-then-rename. */
export function writeJsonAtomically(file: string, value: unknown): void {
  const text = JSON.stringify(value, null, 2) + '\n';
  writeFileAtomically(file, (fd) => { fs.writeSync(fd, text); });
}

/**
 * The u64 header length and the JSON header (padded with spaces to a multiple of 8 bytes, so the data section starts
 * 8-aligned) for `specs` laid back to back in order, with an optional string→string `__metadata__`; and each
 * tensor's byte size. Refuses reserved or repeated names, unknown dtypes and malformed shapes, naming `path`.
 */
export function safetensorsHeader(path: string, specs: readonly TensorSpec[], metadata?: Record<string, string>): { head: Buffer; sizes: number[] } {
  const header: Record<string, unknown> = Object.create(null); // so a tensor named "__proto__" stays a key
  if (metadata !== undefined) {
    if (!isPlainObject(metadata) || !Object.values(metadata).every((v) => typeof v === 'string')) {
      throw new Error(`${path}: metadata must be an object of string values`);
    }
    header[METADATA_KEY] = metadata;
  }
  const sizes: number[] = [];
  let offset = 0;
  for (const t of specs) {
    const where = `${path}: tensor "${t.name}"`;
    if (t.name === METADATA_KEY) throw new Error(`${where}: this name is reserved for metadata`);
    if (Object.hasOwn(header, t.name)) throw new Error(`${where}: name appears twice`);
    const dtype = parseDType(t.dtype, where);
    const bytes = tensorBytes(dtype, t.shape, where);
    header[t.name] = { dtype, shape: t.shape, data_offsets: [offset, offset + bytes] };
    sizes.push(bytes);
    offset += bytes;
  }
  const json = Buffer.from(JSON.stringify(header), 'utf8');
  const padded = Math.ceil(json.length / 8) * 8;
  const head = Buffer.alloc(8 + padded, 0x20);
  head.writeBigUInt64LE(BigInt(padded));
  json.copy(head, 8);
  return { head, sizes };
}

/**
 * Writes a whole safetensors file into the open `fd` (at its current position): the header of `specs`, then each
 * tensor's bytes as `bytes` produces them, checking that each tensor gets exactly the bytes its shape needs.
 */
export function writeSafetensorsTo(fd: number, path: string, specs: readonly TensorSpec[], bytes: TensorBytes, metadata?: Record<string, string>): void {
  const { head, sizes } = safetensorsHeader(path, specs, metadata);
  writeAll(fd, head);
  specs.forEach((spec, i) => {
    let got = 0;
    bytes(i, spec, (chunk) => {
      got += chunk.length;
      if (got > sizes[i]!) throw new Error(`${path}: tensor "${spec.name}": got more than the ${sizes[i]} bytes ${spec.dtype} ${JSON.stringify(spec.shape)} needs`);
      writeAll(fd, chunk);
    });
    if (got !== sizes[i]) throw new Error(`${path}: tensor "${spec.name}": got ${got} bytes but ${spec.dtype} ${JSON.stringify(spec.shape)} needs ${sizes[i]}`);
  });
}

/** Writes tensors held in memory (in the given order, back to back) via temp + rename; see safetensorsHeader. */
export function writeSafetensors(path: string, tensors: TensorToWrite[], metadata?: Record<string, string>): void {
  const { sizes } = safetensorsHeader(path, tensors, metadata);
  tensors.forEach((t, i) => {
    if (t.data.length !== sizes[i]) {
      throw new Error(`${path}: tensor "${t.name}": data has ${t.data.length} bytes but ${t.dtype} ${JSON.stringify(t.shape)} needs ${sizes[i]}`);
    }
  });
  writeFileAtomically(path, (fd) => writeSafetensorsTo(fd, path, tensors, (i, _spec, write) => write(tensors[i]!.data), metadata));
}
