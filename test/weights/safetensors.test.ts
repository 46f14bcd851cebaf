// safetensors reader/writer: round trips for every dtype, on-demand reads into caller (shared) memory,
// and one test per malformed-file case, each built here by writing a good file and corrupting it.

import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { SafetensorsFile, writeSafetensors, type TensorToWrite } from '../../src/weights/safetensors.js';
import { decodeArray, encodeArray } from '../../src/weights/dtypes.js';

const made: string[] = [];
after(() => {
  for (const d of made) fs.rmSync(d, { recursive: true, force: true });
});

function tmpDir(): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'qiusuo-st-'));
  made.push(d);
  return d;
}

function bytesOf(values: number[], dtype: TensorToWrite['dtype']): Uint8Array {
  return encodeArray(new Float32Array(values), dtype);
}

const GOOD: TensorToWrite[] = [
  { name: 'a.f32', dtype: 'F32', shape: [2, 3], data: bytesOf([1, 2, 3, 4, 5, -6], 'F32') },
  { name: 'b.bf16', dtype: 'BF16', shape: [3], data: bytesOf([1.5, -2, 0.25], 'BF16') },
  { name: 'c.f16', dtype: 'F16', shape: [1, 2], data: bytesOf([65504, -0.5], 'F16') },
  { name: 'd.fp8', dtype: 'F8_E4M3', shape: [5], data: bytesOf([448, -448, 1, 2 ** -9, 0], 'F8_E4M3') },
  { name: 'e.scalar', dtype: 'F32', shape: [], data: bytesOf([7], 'F32') },
  { name: 'f.empty', dtype: 'BF16', shape: [4, 0], data: new Uint8Array(0) },
];

/** Writes a file byte by byte: u64 LE header length, header text (padded to 8), data. */
function craft(file: string, header: unknown, data: Uint8Array, headerLength?: bigint): void {
  let text = typeof header === 'string' ? header : JSON.stringify(header);
  while (Buffer.byteLength(text) % 8 !== 0) text += ' ';
  const json = Buffer.from(text, 'utf8');
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(headerLength ?? BigInt(json.length));
  fs.writeFileSync(file, Buffer.concat([len, json, data]));
}

/** A valid two-tensor header (8 + 4 bytes of F32) to be corrupted one field at a time. */
function goodHeader(): Record<string, any> {
  return {
    __metadata__: { format: 'pt' },
    w: { dtype: 'F32', shape: [2], data_offsets: [0, 8] },
    v: { dtype: 'F32', shape: [1], data_offsets: [8, 12] },
  };
}

function expectOpenError(file: string, ...patterns: RegExp[]): void {
  assert.throws(
    () => SafetensorsFile.open(file),
    (e: unknown) => {
      assert.ok(e instanceof Error);
      assert.ok(e.message.includes(file), `message names the file: ${e.message}`);
      for (const p of patterns) assert.match(e.message, p);
      return true;
    },
  );
}

test('round trip of every dtype, a scalar and an empty tensor, with metadata', () => {
  const dir = tmpDir();
  const file = path.join(dir, 'x.safetensors');
  writeSafetensors(file, GOOD, { format: 'pt', note: 'ünïcode' });
  assert.deepEqual(fs.readdirSync(dir), ['x.safetensors'], 'no temp file left behind');

  const raw = fs.readFileSync(file);
  const headerLen = Number(raw.readBigUInt64LE(0));
  assert.equal(headerLen % 8, 0, 'header padded to a multiple of 8');
  assert.equal(raw.length, 8 + headerLen + GOOD.reduce((s, t) => s + t.data.length, 0));

  const st = SafetensorsFile.open(file);
  try {
    assert.equal(st.path, file);
    assert.deepEqual(st.metadata, { format: 'pt', note: 'ünïcode' });
    assert.deepEqual([...st.entries.keys()], GOOD.map((t) => t.name), 'entries in file order');
    let offset = 8 + headerLen;
    for (const t of GOOD) {
      const e = st.entries.get(t.name)!;
      assert.deepEqual(e, { name: t.name, dtype: t.dtype, shape: t.shape, byteLength: t.data.length, file, fileOffset: offset });
      offset += t.data.length;
      const dest = new Uint8Array(e.byteLength);
      st.readInto(t.name, dest);
      assert.deepEqual(dest, t.data, t.name);
    }
    const fp8 = new Uint8Array(5);
    st.readInto('d.fp8', fp8);
    assert.deepEqual([...decodeArray(fp8, 'F8_E4M3')], [448, -448, 1, 2 ** -9, 0]);
  } finally {
    st.close();
  }
});

test('readInto fills a view into shared memory at an offset', () => {
  const dir = tmpDir();
  const file = path.join(dir, 'x.safetensors');
  writeSafetensors(file, GOOD);
  const st = SafetensorsFile.open(file);
  const heap = new Uint8Array(new SharedArrayBuffer(1024));
  const dest = heap.subarray(100, 124);
  st.readInto('a.f32', dest);
  st.close();
  assert.deepEqual([...decodeArray(dest.slice(), 'F32')], [1, 2, 3, 4, 5, -6]);
  assert.equal(heap[99], 0);
  assert.equal(heap[124], 0);
  assert.deepEqual(st.metadata, {}, 'no __metadata__ written → empty metadata');
});

test('readInto with a wrong-size buffer names the tensor and the file', () => {
  const dir = tmpDir();
  const file = path.join(dir, 'x.safetensors');
  writeSafetensors(file, GOOD);
  const st = SafetensorsFile.open(file);
  assert.throws(() => st.readInto('a.f32', new Uint8Array(23)), (e: Error) => {
    assert.ok(e.message.includes(file));
    assert.match(e.message, /"a\.f32" has 24 bytes but the destination holds 23/);
    return true;
  });
  assert.throws(() => st.readInto('nope', new Uint8Array(1)), /no tensor "nope"/);
  st.close();
  st.close(); // idempotent
  assert.throws(() => st.readInto('a.f32', new Uint8Array(24)), /file is closed/);
});

test('writing over an existing file replaces it', () => {
  const dir = tmpDir();
  const file = path.join(dir, 'x.safetensors');
  writeSafetensors(file, GOOD);
  writeSafetensors(file, [GOOD[0]!]);
  const st = SafetensorsFile.open(file);
  assert.deepEqual([...st.entries.keys()], ['a.f32']);
  st.close();
  assert.deepEqual(fs.readdirSync(dir), ['x.safetensors']);
});

test('writer rejects bad tensors, naming the file and tensor, and leaves nothing behind', () => {
  const dir = tmpDir();
  const file = path.join(dir, 'x.safetensors');
  const t = GOOD[0]!;
  assert.throws(() => writeSafetensors(file, [{ ...t, data: new Uint8Array(5) }]), /x\.safetensors: tensor "a\.f32": data has 5 bytes but F32 \[2,3\] needs 24/);
  assert.throws(() => writeSafetensors(file, [t, t]), /tensor "a\.f32": name appears twice/);
  assert.throws(() => writeSafetensors(file, [{ ...t, name: '__metadata__' }]), /reserved/);
  assert.throws(() => writeSafetensors(file, [{ ...t, dtype: 'I8' as 'F32' }]), /tensor "a\.f32": unsupported dtype "I8"/);
  assert.throws(() => writeSafetensors(file, [{ ...t, shape: [-2, -3] }]), /not a non-negative integer/);
  assert.deepEqual(fs.readdirSync(dir), []);
});

test('missing file: error names the file', () => {
  expectOpenError(path.join(tmpDir(), 'absent.safetensors'), /cannot open/);
});

// ---- malformed files: each case built from a good file or header, then corrupted -------------------

test('file shorter than 8 bytes is reported truncated', () => {
  const file = path.join(tmpDir(), 'short.safetensors');
  writeSafetensors(file, GOOD);
  fs.truncateSync(file, 5);
  expectOpenError(file, /truncated/, /5 bytes/);
});

test('header length past the end of the file is reported', () => {
  const file = path.join(tmpDir(), 'cut.safetensors');
  writeSafetensors(file, GOOD);
  const headerLen = Number(fs.readFileSync(file).readBigUInt64LE(0));
  fs.truncateSync(file, 8 + headerLen - 3);
  expectOpenError(file, /header length \d+ runs past the end/);
});

test('absurdly large header length is refused before reading it', () => {
  const file = path.join(tmpDir(), 'huge.safetensors');
  craft(file, goodHeader(), new Uint8Array(12), 2n ** 63n);
  expectOpenError(file, /exceeds the 100000000-byte limit/);
  craft(file, goodHeader(), new Uint8Array(12), 100_000_001n);
  expectOpenError(file, /exceeds/);
});

test('header that is not valid JSON', () => {
  const file = path.join(tmpDir(), 'json.safetensors');
  craft(file, '{"w": {"dtype": "F32",', new Uint8Array(0));
  expectOpenError(file, /not valid JSON/);
});

test('header JSON errors and tensor names with line breaks stay on one line (found by fuzzing)', () => {
  const file = path.join(tmpDir(), 'lines.safetensors');
  craft(file, '{\n"w": x\n}', new Uint8Array(0));
  expectOpenError(file, /not valid JSON \(/, /^[^\n]*$/);
  craft(file, { 'a\nb': { dtype: 5, shape: [1], data_offsets: [0, 4] } }, new Uint8Array(4));
  expectOpenError(file, /tensor "a\\nb": dtype must be a string$/, /^[^\n]*$/);
});

test('a shape nested 10,000 deep is refused with a short message, not a stack overflow (found by fuzzing)', () => {
  const file = path.join(tmpDir(), 'deep.safetensors');
  craft(file, `{"w": {"dtype": "F32", "shape": ${'['.repeat(10_000)}${']'.repeat(10_000)}, "data_offsets": [0, 4]}}`, new Uint8Array(4));
  expectOpenError(file, /tensor "w": shape \[\[\[\[\.\.\.\]\]\]\] has a dimension that is not a non-negative integer$/);
});

test('header that is JSON but not an object', () => {
  const file = path.join(tmpDir(), 'array.safetensors');
  craft(file, '[1, 2, 3]', new Uint8Array(0));
  expectOpenError(file, /not a JSON object/);
});

test('header that is not valid UTF-8', () => {
  const file = path.join(tmpDir(), 'utf8.safetensors');
  writeSafetensors(file, GOOD);
  const raw = fs.readFileSync(file);
  raw[8 + 2] = 0xff; // inside the first key name
  fs.writeFileSync(file, raw);
  expectOpenError(file, /not valid UTF-8/);
});

const ENTRY_CASES: { title: string; mutate: (h: Record<string, any>) => void; message: RegExp }[] = [
  { title: 'entry missing dtype', mutate: (h) => delete h.w.dtype, message: /tensor "w": header entry is missing "dtype"/ },
  { title: 'entry missing shape', mutate: (h) => delete h.w.shape, message: /tensor "w": header entry is missing "shape"/ },
  { title: 'entry missing data_offsets', mutate: (h) => delete h.v.data_offsets, message: /tensor "v": header entry is missing "data_offsets"/ },
  { title: 'entry that is not an object', mutate: (h) => (h.w = [1, 2]), message: /tensor "w": header entry is not an object/ },
  { title: 'dtype of the wrong type', mutate: (h) => (h.w.dtype = 4), message: /tensor "w": dtype must be a string/ },
  { title: 'unknown dtype', mutate: (h) => (h.w.dtype = 'I64'), message: /tensor "w": unsupported dtype "I64" \(supported: F32, BF16, F16, F8_E4M3\)/ },
  { title: 'shape not an array', mutate: (h) => (h.w.shape = '2'), message: /tensor "w": shape must be an array/ },
  { title: 'negative shape dimension', mutate: (h) => (h.w.shape = [-2]), message: /tensor "w": shape \[-2\] has a dimension that is not a non-negative integer/ },
  { title: 'non-integer shape dimension', mutate: (h) => (h.w.shape = [2.5]), message: /tensor "w": shape \[2\.5\]/ },
  { title: 'data_offsets not a pair', mutate: (h) => (h.w.data_offsets = [0]), message: /tensor "w": data_offsets must be \[begin, end\]/ },
  { title: 'data_offsets not integers', mutate: (h) => (h.w.data_offsets = [0, '8']), message: /tensor "w": data_offsets must be/ },
  { title: 'data_offsets with begin > end', mutate: (h) => (h.w.data_offsets = [8, 0]), message: /tensor "w": data_offsets must be .*begin <= end/ },
  { title: 'byte size not dtype bytes × elements', mutate: (h) => (h.w.shape = [3]), message: /tensor "w": data_offsets span 8 bytes but F32 \[3\] needs 12/ },
  {
    title: 'overlapping tensors',
    mutate: (h) => {
      h.w.data_offsets = [0, 8];
      h.v.data_offsets = [4, 8];
      h.u = { dtype: 'F32', shape: [1], data_offsets: [8, 12] };
    },
    message: /tensors "w" and "v" overlap/,
  },
  {
    title: 'hole in the data section',
    mutate: (h) => {
      h.w.shape = [1];
      h.w.data_offsets = [0, 4];
    },
    message: /bytes 4\.\.8 of the data section \(before tensor "v"\) belong to no tensor/,
  },
  { title: 'trailing bytes after the last tensor', mutate: (h) => delete h.v, message: /data section has 12 bytes but its tensors cover only 8/ },
  { title: '__metadata__ with a non-string value', mutate: (h) => (h.__metadata__ = { step: 3 }), message: /"__metadata__" must be an object of string values/ },
  { title: '__metadata__ not an object', mutate: (h) => (h.__metadata__ = 'pt'), message: /"__metadata__" must be an object/ },
];

for (const c of ENTRY_CASES) {
  test(`malformed header: ${c.title}`, () => {
    const file = path.join(tmpDir(), 'bad.safetensors');
    craft(file, goodHeader(), new Uint8Array(12));
    SafetensorsFile.open(file).close(); // the uncorrupted header is accepted
    const h = goodHeader();
    c.mutate(h);
    craft(file, h, new Uint8Array(12));
    expectOpenError(file, c.message);
  });
}

test('tensor data past the end of the file (truncated data section)', () => {
  const file = path.join(tmpDir(), 'trunc.safetensors');
  writeSafetensors(file, GOOD);
  fs.truncateSync(file, fs.statSync(file).size - 3); // cuts into the last non-empty tensor, e.scalar
  expectOpenError(file, /tensor "e\.scalar": data ends at \d+ but the data section has only \d+ bytes \(file truncated\?\)/);
});

test('a tensor named "__proto__" is written and read as an ordinary name', () => {
  const file = path.join(tmpDir(), 'proto.safetensors');
  writeSafetensors(file, [{ ...GOOD[0]!, name: '__proto__' }]);
  const st = SafetensorsFile.open(file);
  assert.deepEqual([...st.entries.keys()], ['__proto__']);
  st.close();
});
