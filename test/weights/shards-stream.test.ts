// writeShards, the streaming checkpoint writer: a failure part-way (the data source throwing, or giving too few or too
// many bytes) leaves the folder exactly as it was — no new shard, no index, no temporary file — and the numbering
// schemes of real repositories are written and cleaned up as shards.
// Leaves out the in-memory wrapper's layouts and the reader's checks (shards.test.ts).

import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { shardFileName, WeightStore, writeShardedSafetensors, writeShards, type ShardLayout } from '../../src/weights/shards.js';
import type { TensorBytes, TensorSpec } from '../../src/weights/safetensors.js';

const ROOT = fs.mkdtempSync(path.join(os.tmpdir(), 'qiusuo-shards-stream-'));
after(() => fs.rmSync(ROOT, { recursive: true, force: true }));
let dirs = 0;
const tmpDir = (): string => fs.mkdtempSync(path.join(ROOT, `d${dirs++}-`));

/** Two layers of four F32 tensors, 64 bytes each: with 200-byte shards, three shards of 3, 3 and 2 tensors. */
const SPECS: TensorSpec[] = [0, 1].flatMap((l) => ['a', 'b', 'c', 'd'].map((n) => ({ name: `model.layers.${l}.${n}.weight`, dtype: 'F32' as const, shape: [4, 4] })));
const BY_SIZE: ShardLayout = { split: { maxShardBytes: 200 }, digits: [5, 5] };

/** Tensor i's 64 bytes, all equal to i, in two chunks. */
const good: TensorBytes = (i, _spec, write) => { write(new Uint8Array(32).fill(i)); write(new Uint8Array(32).fill(i)); };

/** Every file in `dir` with its bytes, to compare a folder before and after. */
function snapshot(dir: string): Map<string, Buffer> {
  return new Map(fs.readdirSync(dir).sort().map((f) => [f, fs.readFileSync(path.join(dir, f))]));
}

test('a complete write: shards, index, and the bytes the source gave', () => {
  const dir = tmpDir();
  writeShards(dir, SPECS, BY_SIZE, good);
  assert.deepEqual(fs.readdirSync(dir).sort(), ['model-00001-of-00003.safetensors', 'model-00002-of-00003.safetensors', 'model-00003-of-00003.safetensors', 'model.safetensors.index.json']);
  const store = WeightStore.open(dir);
  try {
    const got = new Uint8Array(64);
    store.readInto('model.layers.1.b.weight', got);
    assert.deepEqual(got, new Uint8Array(64).fill(5));
  } finally {
    store.close();
  }
});

const FAILURES: { what: string; bytes: TensorBytes; error: RegExp }[] = [
  { what: 'the source throws in the last shard', bytes: (i, s, w) => { if (i === 7) throw new Error('disk on fire'); good(i, s, w); }, error: /disk on fire/ },
  { what: 'the source throws in the first tensor', bytes: () => { throw new Error('no data'); }, error: /no data/ },
  { what: 'a tensor gets too few bytes', bytes: (i, s, w) => (i === 4 ? w(new Uint8Array(10)) : good(i, s, w)), error: /model-00002-of-00003\.safetensors: tensor "model\.layers\.1\.a\.weight": got 10 bytes but F32 \[4,4\] needs 64/ },
  { what: 'a tensor gets too many bytes', bytes: (i, s, w) => { good(i, s, w); if (i === 6) w(new Uint8Array(1)); }, error: /tensor "model\.layers\.1\.c\.weight": got more than the 64 bytes F32 \[4,4\] needs/ },
];

for (const f of FAILURES) {
  test(`${f.what}: the error says so and the folder is left as it was`, () => {
    const empty = tmpDir();
    assert.throws(() => writeShards(empty, SPECS, BY_SIZE, f.bytes), f.error);
    assert.deepEqual(fs.readdirSync(empty), [], 'no shard, no index, no temporary file');

    // over an existing checkpoint (init --force), the old one stays whole and loadable
    const existing = tmpDir();
    writeShards(existing, SPECS, { split: 'per-layer', digits: [0, 0] }, good);
    const before = snapshot(existing);
    assert.throws(() => writeShards(existing, SPECS, BY_SIZE, f.bytes), f.error);
    assert.deepEqual(snapshot(existing), before);
    WeightStore.open(existing).close();
  });
}

test('real repositories\' numbering: written, read back, and replaced by another numbering without leftovers', () => {
  assert.equal(shardFileName(3, 4, { split: 'per-layer', digits: [5, 6] }), 'model-00003-of-000004.safetensors');
  assert.equal(shardFileName(3, 27, { split: 'per-layer', digits: [0, 0] }), 'model-3-of-27.safetensors');
  const dir = tmpDir();
  writeShards(dir, SPECS, { split: { maxShardBytes: 200 }, digits: [5, 6] }, good);
  assert.ok(fs.existsSync(path.join(dir, 'model-00003-of-000003.safetensors')));
  writeShards(dir, SPECS, { split: 'per-layer', digits: [0, 0] }, good);
  assert.deepEqual(fs.readdirSync(dir).sort(), ['model-1-of-2.safetensors', 'model-2-of-2.safetensors', 'model.safetensors.index.json']);
  writeShardedSafetensors(dir, [], 100);
  assert.deepEqual(fs.readdirSync(dir), ['model.safetensors']);
});

test('temporary shards of a killed writer are removed by the next write; a live writer\'s are kept', () => {
  const dir = tmpDir();
  const dead = spawnSync(process.execPath, ['-e', '']).pid!; // a process that has exited
  const orphan = `model-00001-of-00003.safetensors.tmp-${dead}-0123456789ab`;
  const live = `model-00002-of-00003.safetensors.tmp-${process.pid}-0123456789ab`;
  for (const f of [orphan, live, 'notes.tmp-1-0123456789ab']) fs.writeFileSync(path.join(dir, f), 'partial');
  writeShards(dir, SPECS, BY_SIZE, good);
  const left = fs.readdirSync(dir);
  assert.ok(!left.includes(orphan), 'the dead writer\'s temporary is gone');
  assert.ok(left.includes(live) && left.includes('notes.tmp-1-0123456789ab'), 'a live writer\'s temporary and unrelated files stay');
});
