// Loading checkpoints through DeepSeekModel.load: every way a folder can disagree with its config.json is refused
// with a message naming the tensor (or key) and the file; sharded and single-file checkpoints give identical
// logits; the MTP module falls back to the main embedding/head when its copies are absent, and is optional.
// Fixtures are tiny checkpoints written by initCheckpoint and then edited tensor by tensor.
// Leaves out: safetensors/shard format errors below the name map (test/weights) and forward-pass numerics.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { initCheckpoint } from '../../src/model/init.js';
import { DeepSeekModel } from '../../src/model/transformer.js';
import { scoreTokens } from '../../src/generate/score.js';
import { SafetensorsFile, writeSafetensors, type TensorToWrite } from '../../src/weights/safetensors.js';
import { encodeArray, decodeArray } from '../../src/weights/dtypes.js';

const TOKENS = [256, 5, 17, 300, 42, 7];
const MTP = 'model.layers.2.'; // tiny: 2 decoder layers, so the MTP module is layer 2

let root: string;
let f32Dir: string;   // tiny, F32, one file
let fp8Dir: string;   // tiny, FP8 with block scales
let shardDir: string; // tiny, F32, same seed as f32Dir, split into shards

before(() => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'qiusuo-ckpt-'));
  f32Dir = path.join(root, 'f32');
  fp8Dir = path.join(root, 'fp8');
  shardDir = path.join(root, 'sharded');
  initCheckpoint({ preset: 'tiny', out: f32Dir, seed: 11 });
  initCheckpoint({ preset: 'tiny', out: fp8Dir, seed: 11, dtype: 'fp8' });
  initCheckpoint({ preset: 'tiny', out: shardDir, seed: 11, shardBytes: 300_000 });
});

after(() => fs.rmSync(root, { recursive: true, force: true }));

let copies = 0;

/** All tensors of a single-file checkpoint, in file order. */
function readTensors(dir: string): TensorToWrite[] {
  const f = SafetensorsFile.open(path.join(dir, 'model.safetensors'));
  try {
    return [...f.entries.values()].map((e) => {
      const data = new Uint8Array(e.byteLength);
      f.readInto(e.name, data);
      return { name: e.name, dtype: e.dtype, shape: [...e.shape], data };
    });
  } finally {
    f.close();
  }
}

/**
 * Copies a single-file checkpoint into a fresh folder, minus the tensors `drop` accepts, with `replace`d and
 * `add`ed ones, and config.json edited by `config`. Returns the new folder.
 */
function copyCheckpoint(src: string, o: {
  drop?: (name: string) => boolean;
  replace?: TensorToWrite[];
  add?: TensorToWrite[];
  config?: (c: Record<string, unknown>) => void;
} = {}): string {
  const dst = path.join(root, `copy-${copies++}`);
  fs.mkdirSync(dst);
  for (const f of ['tokenizer.json', 'tokenizer_config.json']) fs.copyFileSync(path.join(src, f), path.join(dst, f));
  const cfg = JSON.parse(fs.readFileSync(path.join(src, 'config.json'), 'utf8'));
  o.config?.(cfg);
  fs.writeFileSync(path.join(dst, 'config.json'), JSON.stringify(cfg, null, 2));
  const replace = new Map((o.replace ?? []).map((t) => [t.name, t]));
  const tensors = readTensors(src)
    .filter((t) => !o.drop?.(t.name))
    .map((t) => replace.get(t.name) ?? t);
  writeSafetensors(path.join(dst, 'model.safetensors'), [...tensors, ...(o.add ?? [])]);
  return dst;
}

const f32Tensor = (name: string, shape: number[], fill = 0.5): TensorToWrite => ({
  name, dtype: 'F32', shape, data: encodeArray(new Float32Array(shape.reduce((a, b) => a * b, 1)).fill(fill), 'F32'),
});

/** Asserts that loading `dir` fails with a message matching every pattern. */
function loadFails(dir: string, ...patterns: (RegExp | string)[]): void {
  assert.throws(() => DeepSeekModel.load(dir), (e: Error) => {
    for (const p of patterns) {
      if (typeof p === 'string') assert.ok(e.message.includes(p), `expected "${p}" in: ${e.message}`);
      else assert.match(e.message, p);
    }
    return true;
  });
}

function withModel<T>(dir: string, fn: (m: DeepSeekModel) => T): T {
  const m = DeepSeekModel.load(dir);
  try { return fn(m); } finally { m.dispose(); }
}

/** The FP8 checkpoint's weights dequantised by hand (code value × scale_inv of its 128×128 block), stored as F32. */
function dequantisedTwin(src: string): string {
  const all = readTensors(src);
  const byName = new Map(all.map((t) => [t.name, t]));
  const out: TensorToWrite[] = [];
  for (const t of all) {
    if (t.name.endsWith('_scale_inv')) continue;
    if (t.dtype !== 'F8_E4M3') { out.push(t); continue; }
    const scale = byName.get(`${t.name}_scale_inv`)!;
    const s = decodeArray(scale.data, 'F32'), v = decodeArray(t.data, 'F8_E4M3');
    const [M, N] = t.shape, SN = scale.shape[1];
    for (let i = 0; i < M; i++) for (let j = 0; j < N; j++) v[i * N + j] *= s[((i / 128) | 0) * SN + ((j / 128) | 0)];
    out.push({ name: t.name, dtype: 'F32', shape: t.shape, data: encodeArray(v, 'F32') });
  }
  const dst = copyCheckpoint(src, { config: (c) => { delete c.quantization_config; } });
  writeSafetensors(path.join(dst, 'model.safetensors'), out);
  return dst;
}

test('the unedited fixtures load; FP8 gives the logits of its dequantised F32 twin', () => {
  const f32 = withModel(f32Dir, (m) => scoreTokens(m, TOKENS, { mtp: true }));
  const fp8 = withModel(fp8Dir, (m) => scoreTokens(m, TOKENS, { mtp: true }));
  const twin = withModel(dequantisedTwin(fp8Dir), (m) => scoreTokens(m, TOKENS, { mtp: true }));
  assert.equal(f32.logits.length, TOKENS.length);
  assert.equal(f32.mtpLogits?.length, TOKENS.length - 1);
  const maxDiff = (a: Float32Array[], b: Float32Array[]) => {
    let d = 0;
    a.forEach((row, i) => row.forEach((v, j) => { d = Math.max(d, Math.abs(v - b[i][j])); }));
    return d;
  };
  assert.ok(maxDiff(fp8.logits, twin.logits) < 1e-4, `FP8 vs dequantised: ${maxDiff(fp8.logits, twin.logits)}`);
  assert.ok(maxDiff(fp8.mtpLogits!, twin.mtpLogits!) < 1e-4, `FP8 vs dequantised MTP: ${maxDiff(fp8.mtpLogits!, twin.mtpLogits!)}`);
  // ...and the quantisation is real: the same seed in F32 gives visibly different logits
  assert.ok(maxDiff(fp8.logits, f32.logits) > 1e-2);
  // a copy through the test helper is the same checkpoint
  const copy = withModel(copyCheckpoint(f32Dir), (m) => scoreTokens(m, TOKENS, { mtp: true }));
  assert.deepEqual(copy, f32);
});

test('a missing tensor is named, with its shape and the folder', () => {
  const name = 'model.layers.1.mlp.experts.3.up_proj.weight';
  const dir = copyCheckpoint(f32Dir, { drop: (n) => n === name });
  loadFails(dir, `missing tensor "${name}" (shape [32, 64])`, dir);
});

test('a missing router bias is named', () => {
  const name = 'model.layers.1.mlp.gate.e_score_correction_bias';
  const dir = copyCheckpoint(f32Dir, { drop: (n) => n === name });
  loadFails(dir, `missing tensor "${name}" (shape [8])`);
});

test('an unexpected extra tensor is named with its file', () => {
  const table = [
    'model.layers.1.mlp.experts.8.up_proj.weight', // a 9th expert of 8
    'model.layers.3.input_layernorm.weight',       // a layer past the MTP module
    'model.layers.0.mlp.gate.weight',              // a router on the dense layer
  ];
  for (const name of table) {
    const dir = copyCheckpoint(f32Dir, { add: [f32Tensor(name, [8, 64])] });
    loadFails(dir, `unexpected tensor "${name}" in ${path.join(dir, 'model.safetensors')}`, 'has no such parameter');
  }
});

test('rotary inv_freq buffers left by exporters are ignored', () => {
  const dir = copyCheckpoint(f32Dir, { add: [f32Tensor('model.layers.0.self_attn.rotary_emb.inv_freq', [4])] });
  const a = withModel(dir, (m) => scoreTokens(m, TOKENS).logits);
  const b = withModel(f32Dir, (m) => scoreTokens(m, TOKENS).logits);
  assert.deepEqual(a, b);
});

test('a tensor whose shape disagrees with config.json is named, with both shapes and the file', () => {
  const table: { name: string; edit: Parameters<typeof copyCheckpoint>[1]; tensor: string; got: string; want: string }[] = [
    {
      name: 'a wrongly shaped o_proj in the file',
      edit: { replace: [f32Tensor('model.layers.0.self_attn.o_proj.weight', [64, 48])] },
      tensor: 'model.layers.0.self_attn.o_proj.weight', got: '[64, 48]', want: '[64, 64]',
    },
    {
      // layer 0 is dense: its MLP is the first tensor whose shape follows intermediate_size
      name: 'config.json intermediate_size 96 instead of 128',
      edit: { config: (c) => { c.intermediate_size = 96; } },
      tensor: 'model.layers.0.mlp.gate_proj.weight', got: '[128, 64]', want: '[96, 64]',
    },
    {
      name: 'config.json hidden_size 96 instead of 64',
      edit: { config: (c) => { c.hidden_size = 96; } },
      tensor: 'model.embed_tokens.weight', got: '[512, 64]', want: '[512, 96]',
    },
    {
      name: 'config.json moe_intermediate_size 16 instead of 32',
      edit: { config: (c) => { c.moe_intermediate_size = 16; } },
      tensor: 'model.layers.1.mlp.experts.0.gate_proj.weight', got: '[32, 64]', want: '[16, 64]',
    },
  ];
  for (const c of table) {
    const dir = copyCheckpoint(f32Dir, c.edit);
    loadFails(dir, `tensor "${c.tensor}" in ${path.join(dir, 'model.safetensors')} has shape ${c.got}, config.json implies ${c.want}`);
  }
});

test('config.json that breaks the name map in other ways: q_lora_rank null expects q_proj', () => {
  const dir = copyCheckpoint(f32Dir, { config: (c) => { c.q_lora_rank = null; } });
  // the q_a/q_b tensors are now unexpected (the store is scanned for strays first)
  loadFails(dir, /unexpected tensor "model\.layers\.0\.self_attn\.q_a_proj\.weight" in .*model\.safetensors/);
});

test('an FP8 weight without its _scale_inv is refused, naming both tensors and the file', () => {
  const name = 'model.layers.0.self_attn.q_a_proj.weight';
  const dir = copyCheckpoint(fp8Dir, { drop: (n) => n === `${name}_scale_inv` });
  loadFails(dir, `tensor "${name}" in ${path.join(dir, 'model.safetensors')} is F8_E4M3 but its block scales "${name}_scale_inv" are missing`);
});

test('a block scale with the wrong shape or on a non-FP8 weight is refused', () => {
  const name = 'model.layers.0.self_attn.o_proj.weight';
  const wrong = copyCheckpoint(fp8Dir, { replace: [f32Tensor(`${name}_scale_inv`, [2, 1])] });
  loadFails(wrong, `tensor "${name}_scale_inv" in ${path.join(wrong, 'model.safetensors')} has shape [2, 1], blocks of [128, 128] need [1, 1]`);
  const stray = copyCheckpoint(f32Dir, { add: [f32Tensor(`${name}_scale_inv`, [1, 1])] });
  loadFails(stray, `tensor "${name}_scale_inv" in ${path.join(stray, 'model.safetensors')} scales a F32 weight`);
});

test('FP8 storage of a parameter that is never quantised (a norm, the router, the embedding) is refused', () => {
  const table: { name: string; shape: number[] }[] = [
    { name: 'model.norm.weight', shape: [64] },
    { name: 'model.layers.1.mlp.gate.weight', shape: [8, 64] },
    { name: 'model.embed_tokens.weight', shape: [512, 64] },
  ];
  for (const t of table) {
    const n = t.shape.reduce((a, b) => a * b, 1);
    const fp8: TensorToWrite = { name: t.name, dtype: 'F8_E4M3', shape: t.shape, data: new Uint8Array(n).fill(0x38) }; // 0x38 = 1.0
    const scale = f32Tensor(`${t.name}_scale_inv`, t.shape.length === 1 ? [1] : [Math.ceil(t.shape[0] / 128), 1], 1);
    const dir = copyCheckpoint(fp8Dir, { replace: [fp8], add: [scale] });
    loadFails(dir, `tensor "${t.name}" in ${path.join(dir, 'model.safetensors')} is F8_E4M3, but this parameter is never quantised`);
  }
});

test('a sharded checkpoint loads and gives the same logits (and MTP logits) as the single-file one', () => {
  const shards = fs.readdirSync(shardDir).filter((f) => f.endsWith('.safetensors')).sort();
  assert.ok(shards.length >= 3, `expected several shards, got ${shards.join(', ')}`);
  assert.ok(fs.existsSync(path.join(shardDir, 'model.safetensors.index.json')));
  assert.equal(fs.existsSync(path.join(shardDir, 'model.safetensors')), false);
  const sharded = withModel(shardDir, (m) => scoreTokens(m, TOKENS, { mtp: true }));
  const single = withModel(f32Dir, (m) => scoreTokens(m, TOKENS, { mtp: true }));
  assert.deepEqual(sharded, single);
});

test('an index naming a shard that is not there is refused, naming the shard and the index', () => {
  const dir = path.join(root, 'sharded-missing');
  fs.cpSync(shardDir, dir, { recursive: true });
  const shards = fs.readdirSync(dir).filter((f) => f.endsWith('.safetensors')).sort();
  const gone = shards[1];
  fs.rmSync(path.join(dir, gone));
  loadFails(dir, path.join(dir, 'model.safetensors.index.json'), `shard ${gone}`, 'does not exist');
});

test('config.json that is not valid JSON, or absent, is refused naming the file', () => {
  const bad = copyCheckpoint(f32Dir);
  fs.writeFileSync(path.join(bad, 'config.json'), '{"model_type": "deepseek_v3", ');
  loadFails(bad, `${path.join(bad, 'config.json')}: invalid JSON`);
  const absent = copyCheckpoint(f32Dir);
  fs.rmSync(path.join(absent, 'config.json'));
  loadFails(absent, `${path.join(absent, 'config.json')}: cannot read`);
  const invalid = copyCheckpoint(f32Dir, { config: (c) => { c.num_key_value_heads = 1; } });
  loadFails(invalid, `${path.join(invalid, 'config.json')}: "num_key_value_heads"`);
});

test('MTP without its own embedding and head copies falls back to the main ones: identical MTP logits', () => {
  const copiesOf = [`${MTP}embed_tokens.weight`, `${MTP}shared_head.head.weight`];
  const src = readTensors(f32Dir).map((t) => t.name);
  for (const n of copiesOf) assert.ok(src.includes(n), `init writes ${n}`);
  const dir = copyCheckpoint(f32Dir, { drop: (n) => copiesOf.includes(n) });
  const a = withModel(dir, (m) => { assert.equal(m.hasMtp, true); return scoreTokens(m, TOKENS, { mtp: true }); });
  const b = withModel(f32Dir, (m) => scoreTokens(m, TOKENS, { mtp: true }));
  assert.deepEqual(a.mtpLogits, b.mtpLogits);
  assert.deepEqual(a.logits, b.logits);
});

test('the MTP copies are used when present: an edited shared_head.head changes the MTP logits only', () => {
  const head = `${MTP}shared_head.head.weight`;
  const dir = copyCheckpoint(f32Dir, { replace: [f32Tensor(head, [512, 64], 0)] });
  const r = withModel(dir, (m) => scoreTokens(m, TOKENS, { mtp: true }));
  const ref = withModel(f32Dir, (m) => scoreTokens(m, TOKENS, { mtp: true }));
  assert.deepEqual(r.logits, ref.logits);
  for (const row of r.mtpLogits!) assert.ok(row.every((v) => v === 0), 'a zero head gives zero MTP logits');
});

test('a checkpoint without any MTP tensors loads; scoring with mtp then throws a clear error', () => {
  const dir = copyCheckpoint(f32Dir, { drop: (n) => n.startsWith(MTP) });
  const ref = withModel(f32Dir, (m) => scoreTokens(m, TOKENS).logits);
  withModel(dir, (m) => {
    assert.equal(m.hasMtp, false);
    assert.deepEqual(scoreTokens(m, TOKENS).logits, ref);
    assert.throws(() => scoreTokens(m, TOKENS, { mtp: true }), /this checkpoint has no MTP module/);
  });
});

test('a partial MTP module is refused, naming the missing tensor', () => {
  const name = `${MTP}enorm.weight`;
  const dir = copyCheckpoint(f32Dir, { drop: (n) => n === name });
  loadFails(dir, `missing tensor "${name}"`, dir);
});
