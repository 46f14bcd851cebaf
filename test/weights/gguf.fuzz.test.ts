// Fuzzes the GGUF reader and the deepseek2 mapping on top of it: byte mutations of a valid file (every value and
// tensor type) and of a tiny model's deepseek2 GGUF (header only: metadata, tokenizer, tensor infos). A file either
// opens, and then every tensor is a whole number of blocks at an aligned offset inside the file and readInto returns
// its bytes (and a model's config, tensors and tokenizer all come out), or it fails with one line naming the file.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fc, fuzz, parsedOrRefused } from '../fuzz/harness.js';
import { scratchDir } from '../fuzz/scratch-dir.js';
import { mutatedBytes } from '../fuzz/mutators.js';
import { GgufFile, ggmlBytes, writeGguf, type GgmlType, type GgufTensorSpec, type GgufValue } from '../../src/weights/gguf.js';
import { initCheckpoint } from '../../src/model/init.js';
import { exportGgufFile } from '../../src/model/export.js';
import { openCheckpoint, readTokenizerFiles } from '../../src/model/model-files.js';
import { Tokenizer } from '../../src/tokenizer/bpe.js';

const dir = scratchDir('qiusuo-gguf-fuzz-');
const file = path.join(dir, 'x.gguf');

const META: [string, GgufValue][] = [
  ['general.architecture', { type: 'string', value: 'test' }],
  ['a.u8', { type: 'u8', value: 7 }], ['a.i16', { type: 'i16', value: -3 }], ['a.u32', { type: 'u32', value: 70000 }],
  ['a.f32', { type: 'f32', value: 0.5 }], ['a.bool', { type: 'bool', value: true }], ['a.u64', { type: 'u64', value: 2 ** 40 }],
  ['a.f64', { type: 'f64', value: -1.25 }], ['a.str', { type: 'string', value: 'héllo' }],
  ['a.list', { type: 'array', itemType: 'string', value: ['x', 'yz', ''] }], ['a.ints', { type: 'array', itemType: 'i32', value: [1, -2, 3] }],
];
const TYPES: GgmlType[] = ['F32', 'F16', 'BF16', 'Q8_0', 'Q4_0', 'Q4_K', 'Q6_K'];
const TENSORS: GgufTensorSpec[] = TYPES.map((type, i) => ({ name: `t.${type}`, type, ne: type.endsWith('_K') ? [256, 1] : [32, i + 1] }));
writeGguf(file, META, TENSORS, (i, spec, write) => write(Uint8Array.from({ length: ggmlBytes(spec.type, spec.ne) }, (_, j) => (i * 31 + j) & 255)));
const VALID = new Uint8Array(fs.readFileSync(file));

/** The invariant for an opened file, checked against the bytes it was opened from. */
function checkOpened(g: GgufFile, bytes: Uint8Array): void {
  const ranges = [...g.tensors.values()].map((t) => {
    assert.equal(t.byteLength, ggmlBytes(t.type, t.ne), t.name);
    assert.equal(t.offset % g.alignment, 0, `${t.name} offset`);
    assert.ok(t.offset + t.byteLength <= bytes.length, `${t.name} ends past the file`);
    const got = new Uint8Array(t.byteLength);
    g.readInto(t.name, got);
    assert.ok(Buffer.from(got).equals(Buffer.from(bytes.subarray(t.offset, t.offset + t.byteLength))), t.name);
    return [t.offset, t.offset + t.byteLength] as const;
  }).sort((a, b) => a[0] - b[0]);
  for (let i = 1; i < ranges.length; i++) assert.ok(ranges[i]![0] >= ranges[i - 1]![1], 'tensors overlap');
}

test('gguf: byte mutations of a valid file (every value type and tensor type)', async () => {
  await fuzz('GGUF file (bytes)', mutatedBytes(VALID), (bytes) => {
    fs.writeFileSync(file, bytes);
    parsedOrRefused(() => GgufFile.open(file), file, (g) => {
      try { checkOpened(g, bytes); } finally { g.close(); }
    });
  });
});

// A tiny model's deepseek2 GGUF: only its header is mutated (the tensor data would only change the numbers).
const modelDir = path.join(dir, 'tiny');
initCheckpoint({ preset: 'tiny', out: modelDir, seed: 1, set: { num_hidden_layers: 2, vocab_size: 300 } });
const modelFile = path.join(dir, 'tiny.gguf');
exportGgufFile(modelDir, modelFile, 'q8_0');
const MODEL = new Uint8Array(fs.readFileSync(modelFile));
const DATA_START = (() => {
  const g = GgufFile.open(modelFile);
  try { return Math.min(...[...g.tensors.values()].map((t) => t.offset)); } finally { g.close(); }
})();
const mutated = path.join(dir, 'mutated.gguf');

test('gguf: header mutations of a deepseek2 model (metadata, tokenizer, tensor infos) load or are refused cleanly', async () => {
  const header = MODEL.subarray(0, DATA_START), data = MODEL.subarray(DATA_START);
  await fuzz('GGUF deepseek2 model (header mutated)', mutatedBytes(header), (h) => {
    fs.writeFileSync(mutated, Buffer.concat([h, data]));
    parsedOrRefused(() => openCheckpoint(mutated), mutated, ({ store }) => {
      try {
        for (const name of store.names()) store.readInto(name, new Uint8Array(store.entry(name).byteLength));
      } finally {
        store.close();
      }
    });
    parsedOrRefused(() => readTokenizerFiles(mutated), mutated, (files) => {
      parsedOrRefused(() => Tokenizer.fromJSON(files!.json, mutated), mutated, (t) => { t.encode('The jury said 42 times'); });
    });
  }, { runs: 150 });
});

/** A value of any GGUF type, or an array of one. */
const anyValue: fc.Arbitrary<GgufValue> = fc.oneof(
  fc.record({ type: fc.constantFrom('u8', 'i8', 'u16', 'i16', 'u32', 'i32' as const), value: fc.integer({ min: -1, max: 300 }) }).map((v) => ({ ...v, value: Math.abs(v.value) })),
  fc.record({ type: fc.constant('f32' as const), value: fc.constantFrom(0, -1, 0.5, 1e-6, 3e38) }),
  fc.record({ type: fc.constant('bool' as const), value: fc.boolean() }),
  fc.record({ type: fc.constant('string' as const), value: fc.constantFrom('', 'gpt2', 'llama', 'deepseek-v3', 'yarn', 'x y') }),
  fc.record({ type: fc.constant('array' as const), itemType: fc.constant('string' as const), value: fc.array(fc.constantFrom('a', 'Ġb', 'a b', ''), { maxLength: 4 }) }),
  fc.record({ type: fc.constant('array' as const), itemType: fc.constant('i32' as const), value: fc.array(fc.integer({ min: -1, max: 6 }), { maxLength: 4 }) }),
);

test('gguf: structural edits of a deepseek2 model (keys dropped or retyped, tensors dropped, renamed, reshaped, retyped) load or are refused cleanly', async () => {
  const g = GgufFile.open(modelFile);
  const meta = [...g.metadata], infos = [...g.tensors.values()].map((t) => ({ name: t.name, type: t.type, ne: [...t.ne] }));
  g.close();
  const edit = fc.oneof(
    fc.record({ op: fc.constant('dropKey' as const), k: fc.nat(meta.length - 1) }),
    fc.record({ op: fc.constant('setKey' as const), k: fc.nat(meta.length - 1), value: anyValue }),
    fc.record({ op: fc.constant('dropTensor' as const), t: fc.nat(infos.length - 1) }),
    fc.record({ op: fc.constant('renameTensor' as const), t: fc.nat(infos.length - 1), name: fc.constantFrom('token_embd.weight', 'output.weight', 'blk.0.attn_kv_b.weight', 'blk.9.attn_norm.weight', 'x') }),
    fc.record({ op: fc.constant('reshape' as const), t: fc.nat(infos.length - 1), ne: fc.array(fc.constantFrom(1, 2, 16, 32, 64, 256), { minLength: 1, maxLength: 3 }) }),
    fc.record({ op: fc.constant('retype' as const), t: fc.nat(infos.length - 1), type: fc.constantFrom(...TYPES) }),
  );
  await fuzz('GGUF deepseek2 model (structure edited)', fc.array(edit, { minLength: 1, maxLength: 3 }), (edits) => {
    const m = meta.map(([k, v]) => [k, v] as [string, GgufValue]);
    let t = infos.map((x) => ({ ...x, ne: [...x.ne] }));
    for (const e of edits) {
      if (e.op === 'dropKey') m.splice(e.k % m.length, 1);
      else if (e.op === 'setKey') m[e.k % m.length]![1] = e.value;
      else if (e.op === 'dropTensor') t.splice(e.t % t.length, 1);
      else if (e.op === 'renameTensor') t[e.t % t.length]!.name = e.name;
      else if (e.op === 'reshape') t[e.t % t.length]!.ne = e.ne;
      else t[e.t % t.length]!.type = e.type;
    }
    t = t.filter((x, i) => t.findIndex((y) => y.name === x.name) === i);
    try {
      writeGguf(mutated, m, t, (_i, spec, write) => write(new Uint8Array(ggmlBytes(spec.type, spec.ne)).fill(0x3c)));
    } catch {
      return; // the writer refuses it (a shape that is not whole blocks, a bad value): nothing to read
    }
    parsedOrRefused(() => openCheckpoint(mutated), mutated, ({ store }) => store.close());
    parsedOrRefused(() => readTokenizerFiles(mutated), mutated, (files) => {
      parsedOrRefused(() => Tokenizer.fromJSON(files!.json, mutated), mutated, (tok) => { tok.encode('The jury said 42 times'); });
    });
  });
});
