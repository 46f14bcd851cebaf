// Checkpoint folders: sharded write + read back, single-file layout, layout switches, and one test per
// index/shard disagreement, each built by writing a good folder and then breaking it.

import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { WeightStore, writeShardedSafetensors } from '../../src/weights/shards.js';
import { writeSafetensors, type TensorToWrite } from '../../src/weights/safetensors.js';
import { encodeArray } from '../../src/weights/dtypes.js';

const made: string[] = [];
after(() => {
  for (const d of made) fs.rmSync(d, { recursive: true, force: true });
});

function tmpDir(): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'qiusuo-shards-'));
  made.push(d);
  return d;
}

function tensor(name: string, n: number, seed: number, dtype: TensorToWrite['dtype'] = 'F32'): TensorToWrite {
  const values = Float32Array.from({ length: n }, (_, i) => Math.sin(seed * 100 + i));
  return { name, dtype, shape: [n], data: encodeArray(values, dtype) };
}

// 40 + 40 | 40 + 20 | 40 bytes with a 90-byte limit → three shards
const TENSORS: TensorToWrite[] = [
  tensor('model.embed_tokens.weight', 10, 1),
  tensor('model.layers.0.input_layernorm.weight', 20, 2, 'BF16'),
  tensor('model.layers.0.self_attn.q_a_proj.weight', 40, 3, 'F8_E4M3'),
  tensor('model.layers.0.self_attn.q_a_proj.weight_scale_inv', 5, 4),
  tensor('lm_head.weight', 20, 5, 'F16'),
];
const INDEX = 'model.safetensors.index.json';
const SHARDS = ['model-00001-of-00003.safetensors', 'model-00002-of-00003.safetensors', 'model-00003-of-00003.safetensors'];

function readIndexJson(dir: string): { metadata: Record<string, unknown>; weight_map: Record<string, string> } {
  return JSON.parse(fs.readFileSync(path.join(dir, INDEX), 'utf8'));
}

function writeIndexJson(dir: string, index: unknown): void {
  fs.writeFileSync(path.join(dir, INDEX), typeof index === 'string' ? index : JSON.stringify(index));
}

function expectStoreError(dir: string, ...patterns: RegExp[]): void {
  assert.throws(
    () => WeightStore.open(dir),
    (e: unknown) => {
      assert.ok(e instanceof Error);
      for (const p of patterns) assert.match(e.message, p);
      return true;
    },
  );
}

const esc = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

test('sharded write (3 shards) and read back through WeightStore', () => {
  const dir = tmpDir();
  writeShardedSafetensors(dir, TENSORS, 90);
  assert.deepEqual(fs.readdirSync(dir).sort(), [...SHARDS, INDEX].sort(), 'shards + index, no temp files');

  const index = readIndexJson(dir);
  assert.equal(index.metadata.total_size, TENSORS.reduce((s, t) => s + t.data.length, 0));
  assert.deepEqual(index.weight_map, {
    'lm_head.weight': SHARDS[2],
    'model.embed_tokens.weight': SHARDS[0],
    'model.layers.0.input_layernorm.weight': SHARDS[0],
    'model.layers.0.self_attn.q_a_proj.weight': SHARDS[1],
    'model.layers.0.self_attn.q_a_proj.weight_scale_inv': SHARDS[1],
  });
  assert.deepEqual(Object.keys(index.weight_map), Object.keys(index.weight_map).sort());

  const store = WeightStore.open(dir);
  try {
    assert.equal(store.dir, dir);
    assert.deepEqual(store.names(), TENSORS.map((t) => t.name), 'on-disk order');
    for (const t of TENSORS) {
      assert.ok(store.has(t.name));
      const e = store.entry(t.name);
      assert.equal(e.file, path.join(dir, index.weight_map[t.name]!));
      assert.equal(e.dtype, t.dtype);
      assert.deepEqual(e.shape, t.shape);
      const dest = new Uint8Array(e.byteLength);
      store.readInto(t.name, dest);
      assert.deepEqual(dest, t.data, t.name);
    }
    assert.ok(!store.has('model.norm.weight'));
    assert.throws(() => store.entry('model.norm.weight'), (e: Error) => e.message.includes('"model.norm.weight"') && e.message.includes(dir));
    assert.throws(() => store.readInto('model.norm.weight', new Uint8Array(1)), /"model\.norm\.weight" not found/);
    assert.throws(() => store.readInto('lm_head.weight', new Uint8Array(39)), /lm_head\.weight" has 40 bytes but the destination holds 39/);
  } finally {
    store.close();
  }
});

test('a tensor larger than the shard limit gets a shard of its own', () => {
  const dir = tmpDir();
  writeShardedSafetensors(dir, [tensor('a', 2, 1), tensor('big', 100, 2), tensor('c', 2, 3)], 16);
  assert.deepEqual(Object.values(readIndexJson(dir).weight_map).sort(), [
    'model-00001-of-00003.safetensors',
    'model-00002-of-00003.safetensors',
    'model-00003-of-00003.safetensors',
  ]);
  const store = WeightStore.open(dir);
  assert.equal(store.entry('big').byteLength, 400);
  store.close();
});

test('one shard is written as plain model.safetensors without an index', () => {
  const dir = tmpDir();
  writeShardedSafetensors(dir, TENSORS, 1 << 20);
  assert.deepEqual(fs.readdirSync(dir), ['model.safetensors']);
  const store = WeightStore.open(dir);
  assert.deepEqual(store.names(), TENSORS.map((t) => t.name));
  const dest = new Uint8Array(40);
  store.readInto('model.embed_tokens.weight', dest);
  assert.deepEqual(dest, TENSORS[0]!.data);
  store.close();
});

test('rewriting a folder in the other layout removes the stale files', () => {
  const dir = tmpDir();
  writeShardedSafetensors(dir, TENSORS, 1 << 20);
  writeShardedSafetensors(dir, TENSORS, 90);
  assert.deepEqual(fs.readdirSync(dir).sort(), [...SHARDS, INDEX].sort());
  fs.writeFileSync(path.join(dir, 'notes.txt'), 'kept');
  writeShardedSafetensors(dir, TENSORS, 1 << 20);
  assert.deepEqual(fs.readdirSync(dir).sort(), ['model.safetensors', 'notes.txt']);
  WeightStore.open(dir).close();
});

test('a folder with one differently named .safetensors file and no index is accepted', () => {
  const dir = tmpDir();
  writeSafetensors(path.join(dir, 'weights.safetensors'), TENSORS.slice(0, 2));
  const store = WeightStore.open(dir);
  assert.deepEqual(store.names(), [TENSORS[0]!.name, TENSORS[1]!.name]);
  store.close();
});

test('writer rejects a tensor name used twice', () => {
  assert.throws(() => writeShardedSafetensors(tmpDir(), [TENSORS[0]!, TENSORS[0]!], 10), /"model\.embed_tokens\.weight" appears twice/);
});

// ---- broken folders ------------------------------------------------------------------------------

test('missing folder, and folder without any checkpoint file', () => {
  const dir = tmpDir();
  expectStoreError(path.join(dir, 'nope'), /nope: checkpoint folder does not exist/);
  expectStoreError(dir, new RegExp(`${esc(dir)}: no model\\.safetensors`));
});

test('several .safetensors files without an index: the index is required', () => {
  const dir = tmpDir();
  writeShardedSafetensors(dir, TENSORS, 90);
  fs.rmSync(path.join(dir, INDEX));
  expectStoreError(dir, new RegExp(esc(dir)), /3 \.safetensors files/, /model\.safetensors\.index\.json/, /index is required/);
});

// ---- layouts as transformers resolves them: model.safetensors, then the index, then (refused) PyTorch pickles ----

/** A folder holding model.safetensors and, beside it, the same tensors as three shards with their index. */
function bothLayouts(): string {
  const dir = tmpDir();
  writeShardedSafetensors(dir, TENSORS, 90);
  writeSafetensors(path.join(dir, 'model.safetensors'), TENSORS);
  return dir;
}

function expectSingleFileLoaded(dir: string): void {
  const store = WeightStore.open(dir);
  try {
    assert.deepEqual(store.names(), TENSORS.map((t) => t.name));
    for (const t of TENSORS) assert.equal(store.entry(t.name).file, path.join(dir, 'model.safetensors'));
    const dest = new Uint8Array(TENSORS[2]!.data.length);
    store.readInto(TENSORS[2]!.name, dest);
    assert.deepEqual(dest, TENSORS[2]!.data);
  } finally {
    store.close();
  }
}

test('model.safetensors with an index naming that same file: the single file is loaded', () => {
  const dir = tmpDir();
  writeSafetensors(path.join(dir, 'model.safetensors'), TENSORS);
  writeIndexJson(dir, { metadata: { total_size: 0 }, weight_map: Object.fromEntries(TENSORS.map((t) => [t.name, 'model.safetensors'])) });
  expectSingleFileLoaded(dir);
});

test('model.safetensors beside shards that agree with it: the single file wins, as in transformers', () => {
  expectSingleFileLoaded(bothLayouts());
});

test('model.safetensors beside a stray .safetensors file or PyTorch files: the single file is loaded', () => {
  const dir = tmpDir();
  writeSafetensors(path.join(dir, 'model.safetensors'), TENSORS);
  writeSafetensors(path.join(dir, 'consolidated.safetensors'), [tensor('other', 3, 9)]);
  fs.writeFileSync(path.join(dir, 'pytorch_model.bin'), 'not read');
  expectSingleFileLoaded(dir);
});

test('both layouts, but the index names a shard that is missing: refused, naming the index, the file loaded and the shard', () => {
  const dir = bothLayouts();
  fs.rmSync(path.join(dir, SHARDS[2]!));
  expectStoreError(dir, new RegExp(`${esc(path.join(dir, INDEX))} contradicts ${esc(path.join(dir, 'model.safetensors'))}`),
    /names shard model-00003-of-00003\.safetensors \(holding e\.g\. tensor "lm_head\.weight"\), which does not exist/);
});

test('both layouts, but a shard and model.safetensors disagree on a tensor: refused, naming both files and the tensor', () => {
  const dir = bothLayouts();
  const shrunk = { ...TENSORS[4]!, shape: [10], data: TENSORS[4]!.data.subarray(0, 20) };
  writeSafetensors(path.join(dir, SHARDS[2]!), [shrunk]);
  expectStoreError(dir, /tensor "lm_head\.weight" is F16 \[20\] there but F16 \[10\]/, new RegExp(esc(path.join(dir, SHARDS[2]!))));
});

test('both layouts, but the index places a tensor in model.safetensors that it lacks: refused', () => {
  const dir = tmpDir();
  writeSafetensors(path.join(dir, 'model.safetensors'), TENSORS.slice(0, 4));
  writeIndexJson(dir, { weight_map: Object.fromEntries(TENSORS.map((t) => [t.name, 'model.safetensors'])) });
  expectStoreError(dir, /places tensor "lm_head\.weight" there, but that file has no such tensor/);
});

test('both layouts, but a shard lacks a tensor that model.safetensors has, or the reverse: refused', () => {
  const dir = bothLayouts();
  writeSafetensors(path.join(dir, SHARDS[2]!), [tensor('unrelated', 2, 7)]);
  expectStoreError(dir, new RegExp(`places tensor "lm_head\\.weight" in ${esc(path.join(dir, SHARDS[2]!))}, which has no such tensor`));
  const dir2 = bothLayouts();
  writeSafetensors(path.join(dir2, 'model.safetensors'), TENSORS.slice(0, 4));
  expectStoreError(dir2, /tensor "lm_head\.weight" is in .*model-00003-of-00003\.safetensors but not in model\.safetensors/);
});

test('only PyTorch pickle checkpoints: refused with the reason and what to do', () => {
  const dir = tmpDir();
  for (const f of ['pytorch_model-00001-of-00002.bin', 'pytorch_model-00002-of-00002.bin', 'pytorch_model.bin.index.json']) fs.writeFileSync(path.join(dir, f), '');
  expectStoreError(dir, new RegExp(esc(dir)), /PyTorch pickle checkpoints \(pytorch_model-00001-of-00002\.bin, pytorch_model-00002-of-00002\.bin, pytorch_model\.bin\.index\.json\)/,
    /unpickling can run code/, /convert them to safetensors/);
});

test('index that is not valid JSON', () => {
  const dir = tmpDir();
  writeShardedSafetensors(dir, TENSORS, 90);
  writeIndexJson(dir, '{"weight_map": {');
  expectStoreError(dir, new RegExp(esc(path.join(dir, INDEX))), /cannot read the shard index/);
});

test('index errors stay on one line: JSON syntax, and shard names with line breaks (found by fuzzing)', () => {
  const dir = tmpDir();
  writeShardedSafetensors(dir, TENSORS, 90);
  const weightMap = readIndexJson(dir).weight_map;
  writeIndexJson(dir, '{\n"weight_map": x\n}');
  expectStoreError(dir, /cannot read the shard index: /, /^[^\n]*$/);
  writeIndexJson(dir, { weight_map: { ...weightMap, extra: 'a\nb' } });
  expectStoreError(dir, /shard a\\nb \(holding e\.g\. tensor "extra"\) does not exist/, /^[^\n]*$/);
});

test('index without weight_map', () => {
  const dir = tmpDir();
  writeShardedSafetensors(dir, TENSORS, 90);
  writeIndexJson(dir, { metadata: { total_size: 1 } });
  expectStoreError(dir, new RegExp(esc(path.join(dir, INDEX))), /missing "weight_map"/);
});

test('index that is not an object, or whose metadata is not an object', () => {
  const dir = tmpDir();
  writeShardedSafetensors(dir, TENSORS, 90);
  const weightMap = readIndexJson(dir).weight_map;
  writeIndexJson(dir, '[]');
  expectStoreError(dir, /shard index is not a JSON object/);
  writeIndexJson(dir, { weight_map: weightMap, metadata: 5 });
  expectStoreError(dir, /"metadata" is not an object/);
});

test('index mapping a tensor to a path outside the folder', () => {
  const dir = tmpDir();
  writeShardedSafetensors(dir, TENSORS, 90);
  const index = readIndexJson(dir);
  index.weight_map['lm_head.weight'] = '../elsewhere.safetensors';
  writeIndexJson(dir, index);
  expectStoreError(dir, /tensor "lm_head\.weight" maps to "\.\.\/elsewhere\.safetensors", not a file name in the folder/);
});

test('shard named in the index does not exist: names the shard and a tensor', () => {
  const dir = tmpDir();
  writeShardedSafetensors(dir, TENSORS, 90);
  fs.rmSync(path.join(dir, SHARDS[2]!));
  expectStoreError(dir, new RegExp(`shard ${esc(SHARDS[2]!)}`), /tensor "lm_head\.weight"/, /does not exist/);
});

test('tensor listed in the index but absent from its shard', () => {
  const dir = tmpDir();
  writeShardedSafetensors(dir, TENSORS, 90);
  const index = readIndexJson(dir);
  index.weight_map['model.norm.weight'] = SHARDS[2]!;
  writeIndexJson(dir, index);
  expectStoreError(dir, /tensor "model\.norm\.weight" is listed for shard model-00003-of-00003\.safetensors/, new RegExp(`${esc(path.join(dir, SHARDS[2]!))} has no such tensor`));
});

test('tensor present in a shard but not in the index', () => {
  const dir = tmpDir();
  writeShardedSafetensors(dir, TENSORS, 90);
  const index = readIndexJson(dir);
  delete index.weight_map['model.layers.0.self_attn.q_a_proj.weight_scale_inv'];
  writeIndexJson(dir, index);
  const shard = esc(path.join(dir, SHARDS[1]!));
  expectStoreError(dir, new RegExp(`${shard}: tensor "model\\.layers\\.0\\.self_attn\\.q_a_proj\\.weight_scale_inv" is in this shard but the index`));
});

test('a shard of the set that the index maps nothing to', () => {
  const dir = tmpDir();
  writeShardedSafetensors(dir, TENSORS, 90);
  const index = readIndexJson(dir);
  delete index.weight_map['lm_head.weight']; // the only tensor of shard 3
  writeIndexJson(dir, index);
  expectStoreError(dir, new RegExp(esc(path.join(dir, INDEX))), /shard model-00003-of-00003\.safetensors is in the folder but the index maps no tensor to it/);
});

test('unrelated .safetensors files next to an index are ignored', () => {
  const dir = tmpDir();
  writeShardedSafetensors(dir, TENSORS, 90);
  writeSafetensors(path.join(dir, 'consolidated.safetensors'), [tensor('other', 3, 9)]);
  const store = WeightStore.open(dir);
  assert.ok(!store.has('other'));
  store.close();
});

test('tensor in one shard that the index places in another', () => {
  const dir = tmpDir();
  writeShardedSafetensors(dir, TENSORS, 90);
  const index = readIndexJson(dir);
  index.weight_map['model.layers.0.self_attn.q_a_proj.weight_scale_inv'] = SHARDS[0]!; // really in shard 2
  writeIndexJson(dir, index);
  expectStoreError(dir, /tensor "model\.layers\.0\.self_attn\.q_a_proj\.weight_scale_inv" is listed for shard model-00001-of-00003\.safetensors/);
});

test('the same tensor stored in two shards', () => {
  const dir = tmpDir();
  writeShardedSafetensors(dir, TENSORS, 90);
  writeSafetensors(path.join(dir, SHARDS[0]!), [TENSORS[0]!, TENSORS[1]!, TENSORS[4]!]); // lm_head also in shard 1
  expectStoreError(dir, new RegExp(`${esc(path.join(dir, SHARDS[0]!))}: tensor "lm_head\\.weight" is in this shard but the index`));
});

test('a corrupt shard: the error names the shard file', () => {
  const dir = tmpDir();
  writeShardedSafetensors(dir, TENSORS, 90);
  const shard = path.join(dir, SHARDS[1]!);
  fs.truncateSync(shard, fs.statSync(shard).size - 1);
  expectStoreError(dir, new RegExp(esc(shard)), /truncated/);
});
