// `qiusuo init` streams its weights: the same bytes as the in-memory writer it replaced, the original repositories'
// shard layouts for the real presets (planned from names and shapes alone), and progress that counts every byte.
// Leaves out the writer's failure handling (test/weights/shards-stream.test.ts).

import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { initCheckpoint, initConfig, type InitOptions } from '../../src/model/init.js';
import { initWeights, randomTensors } from '../../src/model/init-weights.js';
import { PRESET_SHARD_LAYOUTS } from '../../src/model/presets.js';
import { planShardFiles, WeightStore } from '../../src/weights/shards.js';
import { DTYPE_BYTES } from '../../src/weights/dtypes.js';
import type { TensorSpec } from '../../src/weights/safetensors.js';

const BIN = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'bin', 'qiusuo.js');
const ROOT = fs.mkdtempSync(path.join(os.tmpdir(), 'qiusuo-init-stream-'));
after(() => fs.rmSync(ROOT, { recursive: true, force: true }));
let dirs = 0;
const tmpDir = (): string => path.join(ROOT, `d${dirs++}`);
const bytesOf = (s: TensorSpec): number => s.shape.reduce((a, b) => a * b, 1) * DTYPE_BYTES[s.dtype];

/** sha256 over each file's name and sha256, in name order: one digest for a whole checkpoint folder. */
function folderDigest(dir: string): string {
  const lines = fs.readdirSync(dir).sort().map((f) => `${f}\0${createHash('sha256').update(fs.readFileSync(path.join(dir, f))).digest('hex')}\n`);
  return createHash('sha256').update(lines.join('')).digest('hex');
}

// Digests of the folders the in-memory writer (commit 602b2f7: every tensor generated, then written whole) gave for
// these options. They cover F32/BF16/FP8, one file and shards, MTP copies left out, no query LoRA, tensors of more
// than one generation slab (vocab 20001 × 64; FP8 5000 × 256 with a partial last 128-row block), and odd sizes.
const BEFORE_STREAMING: { opts: Omit<InitOptions, 'out'>; digest: string }[] = [
  { opts: { preset: 'tiny', dtype: 'f32' }, digest: 'e8e967fb99f68ae12fd3b618815747da7a59bf8692ba6c24e38118b54af8c4a8' },
  { opts: { preset: 'tiny', dtype: 'bf16', seed: 7 }, digest: '09b5aa5a69a235d9acf06e0769f77be65b43e832ac7c5d433962a280869b725e' },
  { opts: { preset: 'tiny', dtype: 'fp8', seed: 3 }, digest: '1be1845ed6ba30f7b323ab5f48d471fe7c97fbdee9428f3b62d2a8b190f62969' },
  { opts: { preset: 'small', dtype: 'fp8', shardBytes: 300_000 }, digest: '11344261920a120d221a3baba4c1068332fafb89615ea3226eebf809bffb32f5' },
  { opts: { preset: 'tiny', dtype: 'bf16', shardBytes: 20_000, seed: 5 }, digest: '1ce12de7e3791724a7002fba49b8413b936f1737d18c7293cbc299077933414f' },
  { opts: { preset: 'tiny', dtype: 'f32', omitMtpCopies: true, seed: 9 }, digest: '1652fb117022a91c9c0304949016e7c66eabb82d829f1d45cc9bf71c98889958' },
  { opts: { preset: 'small', dtype: 'bf16', set: { q_lora_rank: null, vocab_size: 1001 }, seed: 2 }, digest: 'b738edb9f008a1a4229cac226724fde09dc2d3c3bca23c7d2013c75ee6100db6' },
  { opts: { preset: 'tiny', dtype: 'bf16', set: { vocab_size: 20001 }, seed: 4 }, digest: '97f01d1457cf4fe69bc8ba7f6ab988ab20ea9fbc67db708eea99439d527dcbf0' },
  { opts: { preset: 'small', dtype: 'fp8', set: { intermediate_size: 5000, num_hidden_layers: 2 }, seed: 6, shardBytes: 2_000_000 }, digest: 'cbc6c0bde35ce88fb1cf5fdee3d2dd3f34da3b71a98521a19fd4dbcf55ece576' },
  // odd-sized tensors and slabs: a stretch of the normal sequence that starts with the sin of the pair before
  { opts: { preset: 'tiny', dtype: 'bf16', set: { hidden_size: 63, vocab_size: 20001 }, seed: 10 }, digest: '7c7f10b7ba4f485eefc0db02c0390cdc599cd0ae24645702401d0fb74e41589d' },
  { opts: { preset: 'tiny', dtype: 'f32', set: { hidden_size: 63, vocab_size: 1001 }, seed: 11, shardBytes: 30_000 }, digest: '18e7a466db7e962c322c79bd69981f2c61ac17550221ded7606a21f8fc210d38' },
];

test('streamed init writes byte for byte the folders the in-memory writer wrote, with and without worker threads', () => {
  for (const threads of [0, 1, 2]) {
    for (const c of BEFORE_STREAMING) {
      const dir = tmpDir();
      initCheckpoint({ ...c.opts, out: dir, threads });
      assert.equal(folderDigest(dir), c.digest, `${JSON.stringify(c.opts)}, ${threads} threads`);
    }
  }
});

test('every tensor read back equals the one generated whole in memory (slab boundaries included)', () => {
  const opts = { preset: 'small', dtype: 'fp8' as const, set: { intermediate_size: 5000, vocab_size: 9001, num_hidden_layers: 2 }, seed: 8, shardBytes: 3_000_000 };
  const dir = tmpDir();
  const cfg = initCheckpoint({ ...opts, out: dir });
  const store = WeightStore.open(dir);
  try {
    const whole = randomTensors(cfg, 8, 'fp8');
    assert.deepEqual(store.names(), whole.map((t) => t.name));
    for (const t of whole) {
      const got = new Uint8Array(t.data.length);
      store.readInto(t.name, got);
      assert.ok(Buffer.from(got).equals(Buffer.from(t.data)), t.name);
    }
  } finally {
    store.close();
  }
});

test('progress counts every weight byte, in order, up to the total', () => {
  const seen: [number, number][] = [];
  const dir = tmpDir();
  initCheckpoint({ preset: 'tiny', dtype: 'bf16', out: dir, shardBytes: 50_000, onProgress: (w, t) => seen.push([w, t]) });
  const index = JSON.parse(fs.readFileSync(path.join(dir, 'model.safetensors.index.json'), 'utf8'));
  const total = index.metadata.total_size as number;
  assert.deepEqual(seen[0], [0, total]);
  assert.deepEqual(seen.at(-1), [total, total]);
  for (let i = 1; i < seen.length; i++) assert.ok(seen[i]![0] > seen[i - 1]![0] && seen[i]![1] === total, `call ${i}`);
});

test('deepseek-v2-lite is planned as the original: model-0000k-of-000004, 8.6 + 8.6 + 8.6 + 5.6 GB in BF16', () => {
  const cfg = initConfig({ preset: 'deepseek-v2-lite', out: '', dtype: 'bf16' });
  const files = planShardFiles(initWeights(cfg, 0, 'bf16').specs, PRESET_SHARD_LAYOUTS['deepseek-v2-lite']!, bytesOf);
  assert.deepEqual(files.map((f) => f.file), [1, 2, 3, 4].map((k) => `model-0000${k}-of-000004.safetensors`));
  const gb = files.map((f) => Number((f.tensors.reduce((s, t) => s + bytesOf(t), 0) / 1e9).toFixed(1)));
  assert.deepEqual(gb, [8.6, 8.6, 8.6, 5.6]);
});

test('moonlight-16b-a3b is planned as the original: model-k-of-27, one decoder layer each', () => {
  const cfg = initConfig({ preset: 'moonlight-16b-a3b', out: '', dtype: 'bf16' });
  const files = planShardFiles(initWeights(cfg, 0, 'bf16').specs, PRESET_SHARD_LAYOUTS['moonlight-16b-a3b']!, bytesOf);
  assert.equal(files.length, 27);
  files.forEach((f, k) => {
    assert.equal(f.file, `model-${k + 1}-of-27.safetensors`);
    const layers = new Set(f.tensors.flatMap((t) => /^model\.layers\.(\d+)\./.exec(t.name)?.[1] ?? []));
    assert.deepEqual([...layers], [String(k)], f.file);
  });
  assert.equal(files[0]!.tensors[0]!.name, 'model.embed_tokens.weight');
  assert.deepEqual(files[26]!.tensors.slice(-2).map((t) => t.name), ['model.norm.weight', 'lm_head.weight']);
  const total = files.reduce((s, f) => s + f.tensors.reduce((a, t) => a + bytesOf(t), 0), 0);
  assert.equal(Math.round(total / 1e9), 32);
});

test('a shrunken moonlight init is written in that layout and reads back', () => {
  const dir = tmpDir();
  initCheckpoint({
    preset: 'moonlight-16b-a3b', dtype: 'bf16', out: dir,
    set: { num_hidden_layers: 3, hidden_size: 64, intermediate_size: 96, moe_intermediate_size: 32, vocab_size: 1000, kv_lora_rank: 32, qk_nope_head_dim: 16, qk_rope_head_dim: 8, v_head_dim: 16, num_attention_heads: 2, num_key_value_heads: 2 },
  });
  const shards = fs.readdirSync(dir).filter((f) => f.endsWith('.safetensors')).sort();
  assert.deepEqual(shards, ['model-1-of-3.safetensors', 'model-2-of-3.safetensors', 'model-3-of-3.safetensors']);
  const store = WeightStore.open(dir);
  try {
    assert.equal(store.entry('lm_head.weight').file, path.join(dir, 'model-3-of-3.safetensors'));
    assert.equal(store.entry('model.layers.1.mlp.experts.63.up_proj.weight').file, path.join(dir, 'model-2-of-3.safetensors'));
  } finally {
    store.close();
  }
});

test('`qiusuo init --preset deepseek-v2-lite` with a shrunken vocabulary writes a checkpoint that runs', () => {
  const dir = tmpDir();
  const shrink = ['num_hidden_layers=2', 'hidden_size=64', 'intermediate_size=96', 'moe_intermediate_size=32', 'vocab_size=1000', 'kv_lora_rank=32', 'qk_nope_head_dim=16', 'qk_rope_head_dim=8', 'v_head_dim=16', 'num_attention_heads=2', 'num_key_value_heads=2'];
  const init = spawnSync(process.execPath, [BIN, 'init', '--preset', 'deepseek-v2-lite', '--dtype', 'bf16', '--out', dir, ...shrink.flatMap((s) => ['--set', s])], { encoding: 'utf8' });
  assert.equal(init.status, 0, init.stderr);
  const config = JSON.parse(fs.readFileSync(path.join(dir, 'config.json'), 'utf8'));
  assert.deepEqual([config.model_type, config.topk_method, config.scoring_func, config.vocab_size], ['deepseek_v2', 'greedy', 'softmax', 1000]);
  const forward = spawnSync(process.execPath, [BIN, 'forward', '--model', dir, '--tokens', '1,2,3'], { encoding: 'utf8' });
  assert.equal(forward.status, 0, forward.stderr);
  assert.equal(JSON.parse(forward.stdout).logits.length, 3);
});
