// Fuzzes the safetensors reader (header length, JSON header, byte ranges) and the shard index of a checkpoint
// folder: valid files mutated byte-wise and header-wise, and files built from scratch. A file either opens, and then
// its tensors tile the data section exactly, each shape × dtype = its byte length and readInto returns those bytes,
// or it fails with one line naming the file.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fc, fuzz, parsedOrRefused } from '../fuzz/harness.js';
import { scratchDir } from '../fuzz/scratch-dir.js';
import { mutatedBytes, mutatedJsonText, mutatedJsonValue, wrongValue } from '../fuzz/mutators.js';
import { SafetensorsFile, writeSafetensors, type TensorToWrite } from '../../src/weights/safetensors.js';
import { WeightStore, writeShardedSafetensors } from '../../src/weights/shards.js';
import { DTYPE_BYTES, type StoredDType } from '../../src/weights/dtypes.js';

const dir = scratchDir('qiusuo-st-fuzz-');
const file = path.join(dir, 'x.safetensors');

const TENSORS: TensorToWrite[] = [
  { name: 'model.embed_tokens.weight', dtype: 'BF16', shape: [4, 3], data: Uint8Array.from({ length: 24 }, (_, i) => i) },
  { name: 'w', dtype: 'F32', shape: [2], data: Uint8Array.from({ length: 8 }, (_, i) => 100 + i) },
  { name: 'scalar', dtype: 'F16', shape: [], data: Uint8Array.of(1, 2) },
  { name: 'empty', dtype: 'F8_E4M3', shape: [3, 0], data: new Uint8Array(0) },
  { name: 'q.fp8', dtype: 'F8_E4M3', shape: [5], data: Uint8Array.of(9, 8, 7, 6, 5) },
];
writeSafetensors(file, TENSORS, { format: 'pt' });
const VALID = new Uint8Array(fs.readFileSync(file));
const headerLength = (b: Uint8Array): number => Number(Buffer.from(b.buffer, b.byteOffset, 8).readBigUInt64LE(0));
const VALID_HEADER = JSON.parse(Buffer.from(VALID.subarray(8, 8 + headerLength(VALID))).toString('utf8'));
const VALID_DATA = VALID.subarray(8 + headerLength(VALID));

/** The invariant for an opened file, checked against the bytes it was opened from. */
function checkOpened(st: SafetensorsFile, bytes: Uint8Array): void {
  const dataStart = 8 + headerLength(bytes);
  const entries = [...st.entries.values()].sort((a, b) => a.fileOffset - b.fileOffset || a.byteLength - b.byteLength);
  let cursor = dataStart;
  for (const e of entries) {
    assert.equal(e.fileOffset, cursor, `tensor ${JSON.stringify(e.name)} does not start where the previous one ends`);
    assert.ok(Object.hasOwn(DTYPE_BYTES, e.dtype), `dtype ${e.dtype}`);
    assert.equal(e.shape.reduce((n, d) => n * d, DTYPE_BYTES[e.dtype as StoredDType]), e.byteLength);
    const got = new Uint8Array(e.byteLength);
    st.readInto(e.name, got);
    assert.deepEqual(got, bytes.subarray(e.fileOffset, e.fileOffset + e.byteLength));
    cursor += e.byteLength;
  }
  assert.equal(cursor, bytes.length, 'the tensors do not cover the data section exactly');
  for (const v of Object.values(st.metadata)) assert.equal(typeof v, 'string');
}

function openCase(bytes: Uint8Array): void {
  fs.writeFileSync(file, bytes);
  parsedOrRefused(() => SafetensorsFile.open(file), file, (st) => {
    try { checkOpened(st, bytes); } finally { st.close(); }
  });
}

/** A file: u64 LE header length (or `declaredLength`), the header text, the data bytes. */
function fileOf(headerText: string, data: Uint8Array, declaredLength?: bigint): Uint8Array {
  const json = Buffer.from(headerText, 'utf8');
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(declaredLength ?? BigInt(json.length));
  return new Uint8Array(Buffer.concat([len, json, data]));
}

test('safetensors: byte mutations of a valid file (truncate, flip, splice, duplicate, delete)', async () => {
  await fuzz('safetensors file (bytes)', mutatedBytes(VALID), openCase);
});

test('safetensors: header mutations (wrong types, huge numbers, deep nesting, duplicate keys)', async () => {
  const asValue = mutatedJsonValue(VALID_HEADER).map((h) => JSON.stringify(h) ?? 'null');
  const asText = mutatedJsonText(JSON.stringify(VALID_HEADER, null, 1));
  const data = fc.oneof(fc.constant(VALID_DATA), mutatedBytes(VALID_DATA));
  await fuzz('safetensors file (header mutated)', fc.tuple(fc.oneof(asValue, asText), data), ([h, d]) => openCase(fileOf(h, d)));
});

test('safetensors: files built from scratch (random tensors, offsets, lengths)', async () => {
  const dtype = fc.oneof({ arbitrary: fc.constantFrom('F32', 'BF16', 'F16', 'F8_E4M3'), weight: 8 }, fc.constantFrom('I8', 'f32', 'F64', ''), wrongValue());
  const shape = fc.oneof({ arbitrary: fc.array(fc.integer({ min: 0, max: 5 }), { maxLength: 4 }), weight: 8 }, wrongValue());
  // Offsets: back to back (null), shifted by a few bytes from there (overlaps and holes of the right length), or any pair.
  const offsets = fc.option(fc.oneof({ arbitrary: fc.integer({ min: -9, max: 3 }), weight: 3 }, fc.tuple(fc.integer({ min: -2, max: 200 }), fc.integer({ min: -2, max: 200 }))), { freq: 2 });
  const tensor = fc.record({ name: fc.oneof(fc.string({ maxLength: 8 }), fc.constantFrom('__metadata__', '__proto__', 'a"b', 'a\nb')), dtype, shape, offsets });
  const anyFile = fc.record({
    tensors: fc.array(tensor, { maxLength: 6 }),
    metadata: fc.option(fc.oneof(fc.dictionary(fc.string({ maxLength: 4 }), fc.string({ maxLength: 4 })), wrongValue())),
    extraData: fc.oneof({ arbitrary: fc.constant(0), weight: 3 }, fc.integer({ min: -4, max: 4 })),
    declared: fc.oneof({ arbitrary: fc.constant(null), weight: 5 }, fc.bigInt({ min: 0n, max: 300n }), fc.constantFrom(2n ** 64n - 1n, 2n ** 63n, 100_000_001n)),
  }).map(({ tensors, metadata, extraData, declared }) => {
    // Offsets are laid out back to back from the shapes unless the case gives its own.
    const header: Record<string, unknown> = {};
    if (metadata !== null) header.__metadata__ = metadata;
    let at = 0;
    for (const t of tensors) {
      const bytes = Array.isArray(t.shape) && typeof t.dtype === 'string' && t.dtype in DTYPE_BYTES
        ? (t.shape as unknown[]).reduce<number>((n, d) => n * (typeof d === 'number' ? d : 1), DTYPE_BYTES[t.dtype as StoredDType]) : 4;
      const size = Number.isInteger(bytes) && bytes >= 0 && bytes <= 4096 ? bytes : 4; // a huge shape gets a short data section
      const offsets = t.offsets === null ? [at, at + size] : typeof t.offsets === 'number' ? [at + t.offsets, at + t.offsets + size] : t.offsets;
      at = Math.max(at, offsets[1]!);
      Object.defineProperty(header, t.name, { value: { dtype: t.dtype, shape: t.shape, data_offsets: offsets }, enumerable: true, configurable: true, writable: true });
    }
    const data = Uint8Array.from({ length: Math.max(0, at + extraData) }, (_, i) => i & 255);
    return fileOf(JSON.stringify(header), data, declared ?? undefined);
  });
  await fuzz('safetensors file (from scratch)', anyFile, openCase);
});

// The shard index of a folder: two valid shards stay on disk, the index is mutated.
const shardDir = path.join(dir, 'sharded');
writeShardedSafetensors(shardDir, TENSORS, 16);
const INDEX = path.join(shardDir, 'model.safetensors.index.json');
const VALID_INDEX = fs.readFileSync(INDEX, 'utf8');

function storeCase(indexText: string): void {
  fs.writeFileSync(INDEX, indexText);
  parsedOrRefused(() => WeightStore.open(shardDir), shardDir, (store) => {
    try {
      // The index can only have opened the folder if it maps exactly the shards' tensors, each to its own shard.
      const map = (JSON.parse(indexText) as { weight_map: Record<string, string> }).weight_map;
      assert.deepEqual(store.names().sort(), Object.keys(map).sort());
      for (const name of store.names()) assert.equal(path.basename(store.entry(name).file), map[name]);
    } finally {
      store.close();
    }
  });
}

test('shard index: mutated model.safetensors.index.json, and weight maps built from scratch', async () => {
  const asValue = mutatedJsonValue(JSON.parse(VALID_INDEX)).map((v) => JSON.stringify(v) ?? 'null');
  const shards = fs.readdirSync(shardDir).filter((f) => f.endsWith('.safetensors'));
  const shardName = fc.oneof(fc.constantFrom(...shards), fc.constantFrom('', '.', '..', '../x.safetensors', '/abs.safetensors', 'a\nb', 'model-00003-of-00002.safetensors', 'sub/x'));
  const tensorName = fc.oneof(fc.constantFrom(...TENSORS.map((t) => t.name)), fc.string({ maxLength: 4 }), fc.constant('a\nb'));
  const scratch = fc.record({ metadata: fc.option(wrongValue()), weight_map: fc.dictionary(tensorName, fc.oneof({ arbitrary: shardName, weight: 9 }, { arbitrary: wrongValue(), weight: 1 }), { maxKeys: 7 }) })
    .map((v) => JSON.stringify(v));
  const valid = JSON.parse(VALID_INDEX) as { weight_map: Record<string, string> };
  const remapped = fc.tuple(fc.constantFrom(...TENSORS.map((t) => t.name)), shardName)
    .map(([t, s]) => JSON.stringify({ ...valid, weight_map: { ...valid.weight_map, [t]: s } }));
  await fuzz('shard index json (mutated)', fc.oneof(asValue, mutatedJsonText(VALID_INDEX), scratch, remapped), storeCase);
});
