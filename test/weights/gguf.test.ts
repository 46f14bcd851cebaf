// GGUF file layer: round trips of every metadata value type and every tensor type (bytes exact, offsets aligned),
// streaming writes, typed getters, and one corruption test per validation rule. Fixtures are written by writeGguf and
// then corrupted at byte positions found by searching for the key or tensor name they belong to.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import fsDefault from 'node:fs';
import { syncBuiltinESMExports } from 'node:module';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  GGML_BLOCK, GGML_TYPE_ID, GgufFile, ggmlBytes, metaArray, metaArrayOpt, metaBool, metaBoolOpt, metaNumber, metaNumberOpt,
  metaString, metaStringOpt, writeGguf, type GgmlType, type GgufTensorSpec, type GgufValue,
} from '../../src/weights/gguf.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'qiusuo-gguf-'));
let fileCount = 0;
const freshPath = () => path.join(dir, `f${fileCount++}.gguf`);
const ALL_TYPES = Object.keys(GGML_BLOCK) as GgmlType[];

function randomBytes(n: number, seed: number): Uint8Array {
  const out = new Uint8Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = s >>> 24;
  }
  return out;
}

/** Writes a GGUF whose tensor i holds randomBytes(size, i + 1); returns its path. */
function build(metadata: [string, GgufValue][], tensors: GgufTensorSpec[], alignment?: number): string {
  const p = freshPath();
  writeGguf(p, metadata, tensors, (i, spec, write) => write(randomBytes(ggmlBytes(spec.type, spec.ne), i + 1)), alignment);
  return p;
}

/** A copy of `file` with `change` applied to its bytes. */
function corrupt(file: string, change: (b: Buffer) => Buffer | void): string {
  const b = fs.readFileSync(file);
  const p = freshPath();
  fs.writeFileSync(p, change(b) ?? b);
  return p;
}

/** Byte position just after the first occurrence of `text` (a key or tensor name) in the file. */
function after(b: Buffer, text: string): number {
  const at = b.indexOf(Buffer.from(text, 'utf8'));
  assert.ok(at >= 0, `${text} not in the file`);
  return at + Buffer.byteLength(text, 'utf8');
}

function refuses(file: string, ...patterns: RegExp[]): void {
  assert.throws(() => GgufFile.open(file), (e: Error) => {
    assert.ok(e.message.startsWith(`${file}: `), `message names the file: ${e.message}`);
    for (const p of patterns) assert.match(e.message, p);
    return true;
  });
}

const str = (value: string): GgufValue => ({ type: 'string', value });
const u32 = (value: number): GgufValue => ({ type: 'u32', value });
const BASE_META: [string, GgufValue][] = [['general.architecture', str('test')], ['general.name', str('a tiny model for tests')]];
const TWO_TENSORS: GgufTensorSpec[] = [
  { name: 'alpha', type: 'F32', ne: [8, 2] }, // 64 bytes: data ends on an alignment boundary
  { name: 'beta', type: 'Q8_0', ne: [64, 2] }, // 136 bytes
];

test('ggml type ids and block layouts are those of ggml.h / ggml-common.h', () => {
  assert.deepEqual(GGML_TYPE_ID, { F32: 0, F16: 1, Q4_0: 2, Q8_0: 8, Q4_K: 12, Q6_K: 14, BF16: 30 });
  assert.deepEqual(GGML_BLOCK, {
    F32: { values: 1, bytes: 4 }, F16: { values: 1, bytes: 2 }, BF16: { values: 1, bytes: 2 }, Q8_0: { values: 32, bytes: 34 },
    Q4_0: { values: 32, bytes: 18 }, Q4_K: { values: 256, bytes: 144 }, Q6_K: { values: 256, bytes: 210 },
  });
});

test('ggmlBytes: blocks per row times rows; refuses partial blocks, non-positive dims, >4 dims, overflow', () => {
  const cases: [GgmlType, number[], number][] = [
    ['F32', [3, 5], 60], ['F16', [7], 14], ['BF16', [2, 3, 4, 5], 240], ['Q8_0', [64, 3], 204],
    ['Q4_0', [32, 1, 2], 36], ['Q4_K', [512, 2], 576], ['Q6_K', [256, 3], 630],
  ];
  for (const [type, ne, bytes] of cases) assert.equal(ggmlBytes(type, ne), bytes, `${type} ${ne}`);
  assert.throws(() => ggmlBytes('Q8_0', [48, 2]), /ne\[0\] = 48 is not a multiple of Q8_0's block of 32 values/);
  assert.throws(() => ggmlBytes('Q4_K', [128]), /not a multiple of Q4_K's block of 256/);
  assert.throws(() => ggmlBytes('F32', [4, 0]), /ne\[1\] = 0 is not a positive integer/);
  assert.throws(() => ggmlBytes('F32', [4, -2]), /ne\[1\] = -2/);
  assert.throws(() => ggmlBytes('F32', [4.5]), /ne\[0\] = 4.5/);
  assert.throws(() => ggmlBytes('F32', []), /1 to 4 dimensions/);
  assert.throws(() => ggmlBytes('F32', [1, 1, 1, 1, 1]), /1 to 4 dimensions/);
  assert.throws(() => ggmlBytes('F32', [2 ** 20, 2 ** 20, 2 ** 20]), /too large/);
});

test('every metadata value type and array item type round-trips, in the given order', () => {
  const meta: [string, GgufValue][] = [
    ['u8', { type: 'u8', value: 255 }], ['i8', { type: 'i8', value: -128 }],
    ['u16', { type: 'u16', value: 65535 }], ['i16', { type: 'i16', value: -32768 }],
    ['u32', { type: 'u32', value: 4294967295 }], ['i32', { type: 'i32', value: -2147483648 }],
    ['f32', { type: 'f32', value: Math.fround(-1.5e-7) }],
    ['bool.t', { type: 'bool', value: true }], ['bool.f', { type: 'bool', value: false }],
    ['string', str('héllo, 世界 🙂')], ['string.empty', str('')],
    ['u64', { type: 'u64', value: Number.MAX_SAFE_INTEGER }], ['i64', { type: 'i64', value: Number.MIN_SAFE_INTEGER }],
    ['f64', { type: 'f64', value: Math.PI }],
    ['a.u8', { type: 'array', itemType: 'u8', value: [0, 1, 255] }],
    ['a.i8', { type: 'array', itemType: 'i8', value: [-128, 0, 127] }],
    ['a.u16', { type: 'array', itemType: 'u16', value: [0, 65535] }],
    ['a.i16', { type: 'array', itemType: 'i16', value: [-32768, 32767] }],
    ['a.u32', { type: 'array', itemType: 'u32', value: [0, 4294967295] }],
    ['a.i32', { type: 'array', itemType: 'i32', value: [-2147483648, 2147483647] }],
    ['a.f32', { type: 'array', itemType: 'f32', value: [0.5, -2, Math.fround(0.1)] }],
    ['a.bool', { type: 'array', itemType: 'bool', value: [true, false, true] }],
    ['a.string', { type: 'array', itemType: 'string', value: ['a', '', 'Ġthe', '<｜begin▁of▁sentence｜>'] }],
    ['a.u64', { type: 'array', itemType: 'u64', value: [0, 2 ** 40 + 3] }],
    ['a.i64', { type: 'array', itemType: 'i64', value: [-(2 ** 40) - 3, 7] }],
    ['a.f64', { type: 'array', itemType: 'f64', value: [Math.E, -0.1] }],
    ['a.empty', { type: 'array', itemType: 'i32', value: [] }],
  ];
  const f = GgufFile.open(build(meta, []));
  assert.deepEqual([...f.metadata.entries()], meta);
  assert.equal(f.version, 3);
  assert.equal(f.tensors.size, 0);
  f.close();
});

test('every tensor type round-trips byte for byte at aligned offsets; partial reads; general.alignment only when not 32', () => {
  for (const alignment of [32, 64, 1]) {
    const specs: GgufTensorSpec[] = ALL_TYPES.map((type, i) => ({ name: `t.${type}`, type, ne: [GGML_BLOCK[type].values * (i + 1), 3] }));
    const file = build(BASE_META, specs, alignment === 32 ? undefined : alignment);
    const f = GgufFile.open(file);
    assert.equal(f.alignment, alignment);
    assert.equal(f.metadata.has('general.alignment'), alignment !== 32);
    if (alignment !== 32) assert.deepEqual(f.metadata.get('general.alignment'), { type: 'u32', value: alignment });
    assert.deepEqual([...f.tensors.keys()], specs.map((s) => s.name));
    specs.forEach((spec, i) => {
      const info = f.tensors.get(spec.name)!;
      assert.deepEqual({ type: info.type, ne: info.ne }, { type: spec.type, ne: spec.ne });
      assert.equal(info.byteLength, ggmlBytes(spec.type, spec.ne));
      assert.equal(info.offset % alignment, 0, `${spec.name} at ${info.offset}`);
      const want = randomBytes(info.byteLength, i + 1);
      const got = new Uint8Array(info.byteLength);
      f.readInto(spec.name, got);
      assert.deepEqual(got, want, spec.name);
      const part = new Uint8Array(5);
      f.readInto(spec.name, part, 7);
      assert.deepEqual(part, want.subarray(7, 12));
    });
    assert.throws(() => f.readInto('t.F32', new Uint8Array(3)), /tensor "t.F32" has 12 bytes but the destination holds 3/);
    assert.throws(() => f.readInto('t.F32', new Uint8Array(3), 10), /cannot read 3 from byte 10/);
    assert.throws(() => f.readInto('nope', new Uint8Array(3)), /no tensor "nope"/);
    f.close();
    assert.throws(() => f.readInto('t.F32', new Uint8Array(12)), /file is closed/);
  }
});

test('the file layout is what ggml expects: header fields, data offsets as running sums of padded sizes', () => {
  const b = fs.readFileSync(build(BASE_META, TWO_TENSORS));
  assert.equal(b.toString('latin1', 0, 4), 'GGUF');
  assert.equal(b.readUInt32LE(4), 3);
  assert.equal(b.readBigInt64LE(8), 2n);
  assert.equal(b.readBigInt64LE(16), 2n);
  const keyLen = b.readBigUInt64LE(24);
  assert.equal(b.toString('utf8', 32, 32 + Number(keyLen)), 'general.architecture');
  const betaInfo = after(b, 'beta');
  assert.equal(b.readUInt32LE(betaInfo), 2); // n_dims
  assert.deepEqual([b.readBigInt64LE(betaInfo + 4), b.readBigInt64LE(betaInfo + 12)], [64n, 2n]);
  assert.equal(b.readUInt32LE(betaInfo + 20), 8); // Q8_0
  assert.equal(b.readBigUInt64LE(betaInfo + 24), 64n); // alpha's 64 bytes, already a multiple of 32
  const dataStart = Math.ceil((betaInfo + 32) / 32) * 32;
  assert.equal(b.length, dataStart + 64 + 160); // beta's 136 bytes padded to 160
});

test('a file with no tensors', () => {
  const f = GgufFile.open(build(BASE_META, []));
  assert.equal(f.tensors.size, 0);
  assert.equal(metaString(f, 'general.architecture'), 'test');
  f.close();
});

test('a tensor written in many chunks reads back whole; the producer sees its index and spec', () => {
  const p = freshPath();
  const seen: string[] = [];
  writeGguf(p, BASE_META, TWO_TENSORS, (i, spec, write) => {
    seen.push(`${i}:${spec.name}`);
    const data = randomBytes(ggmlBytes(spec.type, spec.ne), 100 + i);
    for (let at = 0; at < data.length; at += 7) write(data.subarray(at, at + 7));
  });
  assert.deepEqual(seen, ['0:alpha', '1:beta']);
  const f = GgufFile.open(p);
  for (const [i, spec] of TWO_TENSORS.entries()) {
    const got = new Uint8Array(ggmlBytes(spec.type, spec.ne));
    f.readInto(spec.name, got);
    assert.deepEqual(got, randomBytes(got.length, 100 + i));
  }
  f.close();
});

test('a failed write leaves neither the file nor a temp file', () => {
  const sub = fs.mkdtempSync(path.join(dir, 'failed-'));
  const p = path.join(sub, 'out.gguf');
  const failures: [(i: number, spec: GgufTensorSpec, write: (c: Uint8Array) => void) => void, RegExp][] = [
    [(i, _s, write) => write(new Uint8Array(i === 1 ? 135 : 64)), /tensor "beta": got 135 bytes but Q8_0 \[64,2\] needs 136/],
    [(i, _s, write) => write(new Uint8Array(i === 1 ? 137 : 64)), /tensor "beta": got more than the 136 bytes/],
    [(i, _s, write) => { write(new Uint8Array(64)); if (i === 1) throw new Error('source failed'); }, /source failed/],
  ];
  for (const [bytes, message] of failures) {
    assert.throws(() => writeGguf(p, BASE_META, TWO_TENSORS, bytes), message);
    assert.deepEqual(fs.readdirSync(sub), []);
  }
});

test('writeGguf refuses bad metadata, tensor specs and alignments before creating anything', () => {
  const sub = fs.mkdtempSync(path.join(dir, 'refused-'));
  const p = path.join(sub, 'out.gguf');
  const none = () => assert.fail('no tensor bytes should be asked for');
  const cases: [[string, GgufValue][], GgufTensorSpec[], number | undefined, RegExp][] = [
    [[['k', { type: 'u8', value: 256 }]], [], undefined, /metadata key "k": 256 is not a valid u8 value/],
    [[['k', { type: 'u32', value: -1 }]], [], undefined, /-1 is not a valid u32/],
    [[['k', { type: 'i32', value: 1.5 }]], [], undefined, /1.5 is not a valid i32/],
    [[['k', { type: 'u64', value: 2 ** 53 }]], [], undefined, /not a valid u64/],
    [[['k', { type: 'string', value: 3 }]], [], undefined, /3 is not a valid string/],
    [[['k', { type: 'array', itemType: 'bool', value: [true, 1] }]], [], undefined, /metadata key "k"\[1\]: 1 is not a valid bool/],
    [[['k', { type: 'f16' as 'f32', value: 1 }]], [], undefined, /unknown value type "f16"/],
    [[['k', str('a')], ['k', str('b')]], [], undefined, /metadata key "k": appears twice/],
    [[['', str('a')]], [], undefined, /must be a non-empty string/],
    [[['general.alignment', u32(64)]], [], undefined, /pass the alignment as writeGguf's argument/],
    [[], [{ name: 'a', type: 'F32', ne: [1] }, { name: 'a', type: 'F32', ne: [1] }], undefined, /tensor "a": name appears twice/],
    [[], [{ name: 'x'.repeat(64), type: 'F32', ne: [1] }], undefined, /over ggml's 63-byte limit/],
    [[], [{ name: 'q', type: 'Q5_K' as GgmlType, ne: [256] }], undefined, /tensor "q": unknown ggml type "Q5_K"/],
    [[], [{ name: 'q', type: 'Q4_0', ne: [16] }], undefined, /tensor "q": ne \[16\]: ne\[0\] = 16 is not a multiple of Q4_0's block/],
    [[], [], 48, /alignment 48 must be a power of two/],
    [[], [], 0, /alignment 0 must be a power of two/],
  ];
  for (const [meta, tensors, alignment, message] of cases) {
    assert.throws(() => writeGguf(p, meta, tensors, none, alignment), (e: Error) => {
      assert.ok(e.message.startsWith(`${p}: `), e.message);
      assert.match(e.message, message);
      return true;
    });
    assert.deepEqual(fs.readdirSync(sub), []);
  }
});

test('typed metadata getters: values, missing keys, wrong types, Opt variants', () => {
  const file = build([
    ...BASE_META,
    ['n', u32(7)], ['eps', { type: 'f32', value: 0.25 }], ['flag', { type: 'bool', value: true }],
    ['ids', { type: 'array', itemType: 'i32', value: [1, 2] }],
  ], []);
  const f = GgufFile.open(file);
  assert.equal(metaString(f, 'general.name'), 'a tiny model for tests');
  assert.equal(metaNumber(f, 'n'), 7);
  assert.equal(metaNumber(f, 'n', ['u32', 'u64']), 7);
  assert.equal(metaNumber(f, 'eps', ['f32']), 0.25);
  assert.equal(metaBool(f, 'flag'), true);
  assert.deepEqual(metaArray(f, 'ids', ['i32', 'u32']), [1, 2]);
  assert.deepEqual(metaArray(f, 'ids'), [1, 2]);
  assert.equal(metaStringOpt(f, 'absent'), undefined);
  assert.equal(metaNumberOpt(f, 'absent'), undefined);
  assert.equal(metaBoolOpt(f, 'absent'), undefined);
  assert.equal(metaArrayOpt(f, 'absent'), undefined);
  assert.equal(metaNumberOpt(f, 'n', ['u32']), 7);
  const fails: [() => unknown, string][] = [
    [() => metaString(f, 'absent'), `${file}: metadata key "absent" is missing`],
    [() => metaNumber(f, 'absent'), `${file}: metadata key "absent" is missing`],
    [() => metaBool(f, 'absent'), `${file}: metadata key "absent" is missing`],
    [() => metaArray(f, 'absent'), `${file}: metadata key "absent" is missing`],
    [() => metaNumber(f, 'n', ['i32']), `${file}: metadata key "n" has type u32, expected i32`],
    [() => metaNumberOpt(f, 'n', ['i32', 'i64']), `${file}: metadata key "n" has type u32, expected i32|i64`],
    [() => metaNumber(f, 'general.name'), `${file}: metadata key "general.name" has type string, expected u8|i8|u16|i16|u32|i32|f32|u64|i64|f64`],
    [() => metaString(f, 'n'), `${file}: metadata key "n" has type u32, expected string`],
    [() => metaBool(f, 'ids'), `${file}: metadata key "ids" has type array of i32, expected bool`],
    [() => metaArray(f, 'ids', ['u32']), `${file}: metadata key "ids" has type array of i32, expected array of u32`],
    [() => metaArrayOpt(f, 'n'), `${file}: metadata key "n" has type u32, expected an array`],
  ];
  for (const [call, message] of fails) assert.throws(call, (e: Error) => e.message === message);
  f.close();
});

test('truncated files are refused at every stage, naming where', () => {
  const file = build(BASE_META, TWO_TENSORS);
  const b = fs.readFileSync(file);
  const cut = (n: number) => corrupt(file, (x) => x.subarray(0, n));
  refuses(cut(0), /the header/, /truncated/);
  refuses(cut(10), /the header: needs bytes 8\.\.16 but the file ends at 10/);
  refuses(cut(after(b, 'general.name') + 12), /metadata key "general.name"/, /truncated/);
  refuses(cut(after(b, 'alpha') - 2), /tensor info #0/, /truncated/);
  refuses(cut(after(b, 'beta') + 10), /tensor "beta"/, /truncated/);
  refuses(cut(b.length - 40), /tensor "beta": data \(bytes \d+\.\.\d+\) runs past the end of the \d+-byte file/);
});

test('bad magic, unsupported and byte-swapped versions', () => {
  const file = build(BASE_META, TWO_TENSORS);
  refuses(corrupt(file, (b) => void b.write('GGML', 0, 'latin1')), /not a GGUF file: magic is "GGML", expected "GGUF"/);
  refuses(corrupt(file, (b) => void b.writeUInt32LE(1, 4)), /GGUF version 1 is not supported/);
  refuses(corrupt(file, (b) => void b.writeUInt32LE(4, 4)), /unsupported GGUF version 4 \(only 2 and 3\)/);
  refuses(corrupt(file, (b) => void b.writeUInt32LE(0, 4)), /unsupported GGUF version 0/);
  refuses(corrupt(file, (b) => void b.writeUInt32BE(3, 4)), /looks byte-swapped: big-endian/);
  const v2 = GgufFile.open(corrupt(file, (b) => void b.writeUInt32LE(2, 4))); // same layout as v3, read by ggml too
  assert.equal(v2.version, 2);
  assert.equal(v2.tensors.size, 2);
  v2.close();
  refuses(corrupt(file, (b) => void b.writeBigInt64LE(-1n, 8)), /tensor count -1 is impossible/);
  refuses(corrupt(file, (b) => void b.writeBigInt64LE(1n << 40n, 16)), /metadata count 1099511627776 is impossible/);
});

test('string and array lengths past the end of the file are refused before allocating', () => {
  const file = build([...BASE_META, ['list', { type: 'array', itemType: 'u32', value: [1, 2, 3] }]], TWO_TENSORS);
  const b = fs.readFileSync(file);
  const nameValue = after(b, 'general.name') + 4; // the value's u64 length
  refuses(corrupt(file, (x) => void x.writeBigUInt64LE(1n << 40n, nameValue)),
    /metadata key "general.name": string of 1099511627776 bytes at byte \d+ runs past the end of the \d+-byte file/);
  refuses(corrupt(file, (x) => void x.writeBigUInt64LE(1n << 60n, nameValue)), /metadata key "general.name": u64 value 1152921504606846976 is beyond 2\^53/);
  refuses(corrupt(file, (x) => void x.writeBigUInt64LE(1n << 40n, after(b, 'alpha') - 5 - 8)), /tensor info #0: string of 1099511627776 bytes/);
  const count = after(b, 'list') + 8; // after the ARRAY tag and the item type
  refuses(corrupt(file, (x) => void x.writeBigUInt64LE(1n << 40n, count)), /metadata key "list": array of 1099511627776 u32 values at byte \d+ runs past the end/);
  refuses(corrupt(file, (x) => void x.writeBigUInt64LE(1n << 30n, count)), /array of 1073741824 u32 values/);
});

test('bad metadata: unknown value types, nested arrays, duplicate or empty keys, bad bools, invalid UTF-8', () => {
  const file = build([...BASE_META, ['k1', u32(1)], ['k2', { type: 'array', itemType: 'bool', value: [true] }]], TWO_TENSORS);
  const b = fs.readFileSync(file);
  refuses(corrupt(file, (x) => void x.writeUInt32LE(13, after(b, 'k1'))), /metadata key "k1": unknown value type 13 \(GGUF value types are 0\.\.12\)/);
  refuses(corrupt(file, (x) => void x.writeUInt32LE(99, after(b, 'k2') + 4)), /metadata key "k2": unknown array item type 99/);
  refuses(corrupt(file, (x) => void x.writeUInt32LE(9, after(b, 'k2') + 4)), /metadata key "k2": array item type is an array: nested arrays are not supported/);
  refuses(corrupt(file, (x) => void x.write('1', after(b, 'k2') - 1, 'latin1')), /metadata key "k1": key appears twice/);
  refuses(corrupt(file, (x) => void x.writeUInt8(2, after(b, 'k2') + 16)), /metadata key "k2": bool byte is 2, must be 0 or 1/);
  refuses(corrupt(file, (x) => void x.writeUInt8(0xff, after(b, 'general.name') + 12)), /metadata key "general.name": string at byte \d+ is not valid UTF-8/);
  // An empty key: "k1"'s length set to 0 (its bytes are then misread as the type, but the empty key is refused first).
  refuses(corrupt(file, (x) => void x.writeBigUInt64LE(0n, after(b, 'k1') - 2 - 8)), /metadata key #2: key is empty/);
});

test('bad tensor infos: types, n_dims, ne, duplicate names', () => {
  const file = build(BASE_META, TWO_TENSORS);
  const b = fs.readFileSync(file);
  const beta = after(b, 'beta'); // n_dims (u32), ne[0], ne[1] (i64), type (u32), offset (u64)
  refuses(corrupt(file, (x) => void x.writeUInt32LE(13, beta + 20)), /tensor "beta": ggml type Q5_K \(id 13\) is not supported \(only F32, F16, BF16, Q8_0, Q4_0, Q4_K, Q6_K\)/);
  refuses(corrupt(file, (x) => void x.writeUInt32LE(16, beta + 20)), /tensor "beta": ggml type IQ2_XXS \(id 16\)/);
  refuses(corrupt(file, (x) => void x.writeUInt32LE(99, beta + 20)), /tensor "beta": unknown ggml type id 99/);
  refuses(corrupt(file, (x) => void x.writeUInt32LE(0, beta)), /tensor "beta": n_dims is 0, must be 1\.\.4/);
  refuses(corrupt(file, (x) => void x.writeUInt32LE(5, beta)), /tensor "beta": n_dims is 5, must be 1\.\.4/);
  refuses(corrupt(file, (x) => void x.writeBigInt64LE(0n, beta + 12)), /tensor "beta": ne \[64,0\]: ne\[1\] = 0 is not a positive integer/);
  refuses(corrupt(file, (x) => void x.writeBigInt64LE(-3n, beta + 12)), /tensor "beta": ne \[64,-3\]: ne\[1\] = -3/);
  refuses(corrupt(file, (x) => void x.writeBigInt64LE(1n << 62n, beta + 12)), /tensor "beta": i64 value 4611686018427387904 is beyond ±2\^53/);
  refuses(corrupt(file, (x) => void x.writeBigInt64LE(1n << 50n, beta + 12)), /tensor "beta": ne \[64,1125899906842624\]: Q8_0 tensor of this shape is too large/);
  refuses(corrupt(file, (x) => void x.writeBigInt64LE(48n, beta + 4)), /tensor "beta": ne \[48,2\]: ne\[0\] = 48 is not a multiple of Q8_0's block of 32 values/);
});

test('bad data placement: misaligned, past the end of the file, overlapping', () => {
  const specs: GgufTensorSpec[] = [{ name: 'a0', type: 'F32', ne: [8] }, { name: 'a1', type: 'F32', ne: [8] }, { name: 'a2', type: 'F32', ne: [16] }];
  const file = build(BASE_META, specs);
  const b = fs.readFileSync(file);
  const offsetOf = (name: string) => after(b, name) + 4 + 8 + 4; // one dimension
  assert.equal(b.readBigUInt64LE(offsetOf('a2')), 64n);
  refuses(corrupt(file, (x) => void x.write('a0', after(b, 'a1') - 2, 'latin1')), /tensor "a0": name appears twice/);
  refuses(corrupt(file, (x) => void x.writeBigUInt64LE(48n, offsetOf('a2'))), /tensor "a2": data offset 48 is not a multiple of the alignment 32/);
  refuses(corrupt(file, (x) => void x.writeBigUInt64LE(32n, offsetOf('a2'))), /tensors "a1" and "a2" overlap \(bytes \d+\.\.\d+\)/);
  refuses(corrupt(file, (x) => void x.writeBigUInt64LE(0n, offsetOf('a1'))), /tensors "a0" and "a1" overlap/);
  refuses(corrupt(file, (x) => void x.writeBigUInt64LE(1n << 40n, offsetOf('a1'))), /tensor "a1": data \(bytes \d+\.\.\d+\) runs past the end of the \d+-byte file/);
  // A hole between tensors is accepted (see gguf-read.ts): a2 moved one alignment step further, into the file's tail.
  const moved = GgufFile.open(corrupt(file, (x) => {
    x.writeBigUInt64LE(96n, offsetOf('a2'));
    return Buffer.concat([x, Buffer.alloc(32)]);
  }));
  assert.equal(moved.tensors.get('a2')!.offset - moved.tensors.get('a0')!.offset, 96);
  moved.close();
});

test('bad general.alignment: wrong type, zero, not a power of two', () => {
  const file = build(BASE_META, TWO_TENSORS, 64);
  const b = fs.readFileSync(file);
  const key = after(b, 'general.alignment');
  assert.equal(b.readUInt32LE(key + 4), 64);
  refuses(corrupt(file, (x) => void x.writeUInt32LE(5, key)), /metadata key "general\.alignment": has type i32, must be u32/);
  refuses(corrupt(file, (x) => void x.writeUInt32LE(0, key + 4)), /metadata key "general\.alignment": 0 is not a power of two/);
  refuses(corrupt(file, (x) => void x.writeUInt32LE(48, key + 4)), /metadata key "general\.alignment": 48 is not a power of two/);
  // The alignment really governs the reading: at 16, alpha's offset (0) still fits but the data section moves.
  const at16 = GgufFile.open(corrupt(file, (x) => void x.writeUInt32LE(16, key + 4)));
  assert.equal(at16.alignment, 16);
  at16.close();
});

test('a 130k-token vocabulary header parses in well under a second, in few large reads', () => {
  const tokens = Array.from({ length: 130_000 }, (_, i) => `tok${i}Ġ${String.fromCharCode(0x4e00 + (i % 500))}`);
  const types = Array.from({ length: tokens.length }, (_, i) => (i % 7 === 0 ? 3 : 1));
  const file = build([
    ...BASE_META,
    ['tokenizer.ggml.tokens', { type: 'array', itemType: 'string', value: tokens }],
    ['tokenizer.ggml.token_type', { type: 'array', itemType: 'i32', value: types }],
  ], TWO_TENSORS);
  const size = fs.statSync(file).size;
  assert.ok(size > 2_000_000, `header of ${size} bytes spans several 1 MiB chunks`);
  const realReadSync = fsDefault.readSync;
  let reads = 0;
  fsDefault.readSync = ((...args: Parameters<typeof realReadSync>) => {
    reads++;
    return realReadSync(...args);
  }) as typeof realReadSync;
  syncBuiltinESMExports();
  let f: GgufFile;
  const t0 = performance.now();
  try {
    f = GgufFile.open(file);
  } finally {
    fsDefault.readSync = realReadSync;
    syncBuiltinESMExports();
  }
  const ms = performance.now() - t0;
  assert.ok(ms < 1000, `open took ${ms.toFixed(0)} ms`);
  assert.ok(reads <= Math.ceil(size / (1 << 20)) + 2, `${reads} reads for ${size} bytes`);
  assert.deepEqual(metaArray(f, 'tokenizer.ggml.tokens', ['string']), tokens);
  assert.deepEqual(metaArray(f, 'tokenizer.ggml.token_type', ['i32']), types);
  f.close();
});

test.after(() => fs.rmSync(dir, { recursive: true, force: true }));
