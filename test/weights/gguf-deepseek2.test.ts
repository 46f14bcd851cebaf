// HF folder → deepseek2 GGUF → qiusuo: the same logits (f32 export: within 1e-5, by prefill and decode) for the
// configurations llama.cpp treats specially (YaRN, no q LoRA, tied head, group-limited routing, softmax routing);
// the same bytes for every HF tensor through a BF16 GGUF (kv_b_proj put back together from attn_k_b/attn_v_b);
// quantized GGUFs (Q8_0, Q4_0, Q4_K, Q6_K) equal their dequantized HF export; `export hf` round trips; and the
// refusals: configs llama.cpp would run differently, GGUFs of another architecture or with tensors missing,
// extra or misshapen, and a missing required key.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { initCheckpoint } from '../../src/model/init.js';
import { DeepSeekModel } from '../../src/model/transformer.js';
import { openCheckpoint } from '../../src/model/model-files.js';
import { exportGgufFile, exportHfFolder } from '../../src/model/export.js';
import { scoreTokens } from '../../src/generate/score.js';
import { GgufFile, ggmlBytes, writeGguf, type GgufTensorSpec, type GgufValue } from '../../src/weights/gguf.js';
import type { GgufExportType } from '../../src/weights/gguf-export.js';
import { decodeArray, encodeArray } from '../../src/weights/dtypes.js';
import { quantizeRowQ4_K, quantizeRowQ6_K } from '../../src/weights/kquants.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'qiusuo-gguf-ds2-'));
process.on('exit', () => fs.rmSync(tmp, { recursive: true, force: true }));
const TOKENS = [1, 17, 300, 42, 42, 7, 499, 256, 3, 88, 120, 64];

let n = 0;
function checkpoint(set: Record<string, unknown> = {}, dtype: 'f32' | 'bf16' = 'f32', preset = 'tiny'): string {
  const dir = path.join(tmp, `ckpt-${n++}`);
  initCheckpoint({ preset, out: dir, seed: n, dtype, set });
  return dir;
}

function exported(dir: string, type: GgufExportType = 'f32'): string {
  const file = path.join(tmp, `model-${n++}.gguf`);
  exportGgufFile(dir, file, type);
  return file;
}

/** Logits by prefill and by decode, on the wasm kernels with 2 threads. */
function logits(model: string): Float32Array[] {
  const m = DeepSeekModel.load(model, { threads: 2 });
  try {
    return [...scoreTokens(m, TOKENS).logits, ...scoreTokens(m, TOKENS, { decode: true }).logits];
  } finally {
    void m.dispose();
  }
}

function maxDiff(a: Float32Array[], b: Float32Array[]): number {
  assert.equal(a.length, b.length);
  let d = 0;
  a.forEach((row, i) => { for (let j = 0; j < row.length; j++) d = Math.max(d, Math.abs(row[j]! - b[i]![j]!)); });
  return d;
}

const CONFIGS: [string, Record<string, unknown>][] = [
  ['tiny (YaRN, q LoRA, group-limited noaux_tc)', {}],
  ['no q LoRA, no YaRN', { q_lora_rank: null, rope_scaling: null }],
  ['tied head', { tie_word_embeddings: true }],
  ['no group limit', { n_group: 1, topk_group: 1 }],
  ['DeepSeek-V2 softmax routing', { model_type: 'deepseek_v2', scoring_func: 'softmax', topk_method: 'greedy', n_group: 1, topk_group: 1, norm_topk_prob: false }],
];

for (const [name, set] of CONFIGS) {
  test(`HF → GGUF f32 → qiusuo gives the HF logits within 1e-5: ${name}`, () => {
    const dir = checkpoint(set);
    const d = maxDiff(logits(dir), logits(exported(dir)));
    assert.ok(d <= 1e-5, `max |Δlogit| = ${d}`);
  });
}

test('a BF16 GGUF holds every HF tensor (BF16 bytes, or its values in F32), kv_b_proj put back together from attn_k_b and attn_v_b', () => {
  const dir = checkpoint({}, 'bf16');
  const file = exported(dir, 'bf16');
  const hf = openCheckpoint(dir).store, gguf = openCheckpoint(file).store;
  try {
    for (const name of gguf.names()) {
      const a = hf.entry(name), b = gguf.entry(name);
      const x = new Uint8Array(a.byteLength), y = new Uint8Array(b.byteLength);
      hf.readInto(name, x);
      gguf.readInto(name, y);
      assert.deepEqual(b.shape, a.shape, name);
      if (a.shape.length === 1 || name.endsWith('.mlp.gate.weight') || name.endsWith('.kv_b_proj.weight')) {
        // Vectors and the router are written F32, as llama.cpp's converter does, and attn_k_b too (gguf-export.ts),
        // so kv_b_proj comes back F32: the same values.
        assert.equal(b.dtype, 'F32', name);
        assert.deepEqual(decodeArray(y, 'F32'), decodeArray(x, a.dtype as 'F32' | 'BF16'), name);
        continue;
      }
      assert.equal(b.dtype, 'BF16', name);
      assert.ok(Buffer.from(x).equals(Buffer.from(y)), `${name} differs`);
      // A slab from the middle, as the loader reads.
      const part = new Uint8Array(Math.min(6, a.byteLength >> 1));
      gguf.readInto(name, part, a.byteLength >> 2);
      assert.ok(Buffer.from(part).equals(Buffer.from(x.subarray(a.byteLength >> 2, (a.byteLength >> 2) + part.length))), `${name} slab`);
    }
    const mtpOnly = hf.names().filter((x) => !gguf.has(x));
    assert.ok(mtpOnly.length > 0 && mtpOnly.every((x) => x.startsWith('model.layers.2.')), `only the MTP layer is left out: ${mtpOnly.join(', ')}`);
  } finally {
    hf.close();
    gguf.close();
  }
});

for (const type of ['q8_0', 'q4_0', 'f16'] as const) {
  test(`a ${type} GGUF runs as its dequantized HF export does, and export hf round trips`, () => {
    const dir = checkpoint({ hidden_size: 128, qk_nope_head_dim: 32, v_head_dim: 32, kv_lora_rank: 64, q_lora_rank: 64, moe_intermediate_size: 64 });
    const file = exported(dir, type);
    const back = path.join(tmp, `back-${n++}`);
    exportHfFolder(file, back, 'f32', false);
    const d = maxDiff(logits(file), logits(back));
    assert.ok(d <= 1e-4, `max |Δlogit| = ${d}`);
    const types = new Set([...GgufFile.open(file).tensors.values()].map((t) => t.type));
    assert.ok(types.has(type.toUpperCase() as 'Q8_0'), `${[...types].join(', ')}`);
    assert.throws(() => exportHfFolder(file, back, 'f32', false), /already holds a checkpoint/);
  });
}

/**
 * A copy of `src` with its metadata and tensors changed by `edit`: tensor data copied, re-encoded by `encode` (from the
 * F32 original) where the type changed, zeros for new or reshaped tensors.
 */
function rewrite(src: string, edit: (meta: [string, GgufValue][], tensors: GgufTensorSpec[]) => void,
  encode?: (spec: GgufTensorSpec, f32: Float32Array) => Uint8Array): string {
  const f = GgufFile.open(src);
  const meta = [...f.metadata], tensors = [...f.tensors.values()].map((t) => ({ name: t.name, type: t.type, ne: [...t.ne] }));
  edit(meta, tensors);
  const out = path.join(tmp, `edited-${n++}.gguf`);
  writeGguf(out, meta, tensors, (_i, spec, write) => {
    const t = f.tensors.get(spec.name), data = new Uint8Array(ggmlBytes(spec.type, spec.ne));
    if (t && encode && t.type === 'F32' && spec.type !== 'F32') {
      const original = new Float32Array(t.byteLength / 4);
      f.readInto(spec.name, new Uint8Array(original.buffer));
      write(encode(spec, original));
      return;
    }
    if (t && t.byteLength === data.length) f.readInto(spec.name, data);
    write(data);
  });
  f.close();
  return out;
}

test('GGUFs qiusuo cannot run as their metadata says are refused, naming the file and what is wrong', () => {
  const file = exported(checkpoint());
  const load = (p: string) => () => DeepSeekModel.load(p);
  const setKey = (key: string, value: GgufValue) => (meta: [string, GgufValue][]) => { meta.find(([k]) => k === key)![1] = value; };
  assert.throws(load(rewrite(file, setKey('general.architecture', { type: 'string', value: 'llama' }))), /general\.architecture is "llama"; qiusuo reads "deepseek2"/);
  assert.throws(load(rewrite(file, (meta) => { meta.splice(meta.findIndex(([k]) => k === 'deepseek2.block_count'), 1); })), /deepseek2\.block_count.*missing/);
  assert.throws(load(rewrite(file, setKey('deepseek2.block_count', { type: 'string', value: '2' }))), /deepseek2\.block_count/);
  assert.throws(load(rewrite(file, (_m, t) => { t.splice(t.findIndex((x) => x.name === 'blk.1.ffn_up_exps.weight'), 1); })), /tensor blk\.1\.ffn_up_exps\.weight is missing/);
  assert.throws(load(rewrite(file, (_m, t) => { t.push({ name: 'blk.0.extra.weight', type: 'F32', ne: [4] }); })), /tensor blk\.0\.extra\.weight is not part of a deepseek2 model/);
  assert.throws(load(rewrite(file, (_m, t) => { t.find((x) => x.name === 'blk.0.attn_q_b.weight')!.ne = [32, 48]; })), /tensor blk\.0\.attn_q_b\.weight has ne \{32, 48\}, the metadata implies \{32, 96\}/);
  assert.throws(load(rewrite(file, setKey('deepseek2.expert_gating_func', { type: 'u32', value: 4 }))), /expert_gating_func is 4/);
});

test('configs llama.cpp would run differently are refused before anything is written', () => {
  const cases: [Record<string, unknown>, RegExp][] = [
    [{ num_hidden_layers: 26, first_k_dense_replace: 1 }, /26 layers for DeepSeek-V2-Lite/],
    [{ rope_interleave: false }, /rope_interleave false/],
    [{ n_shared_experts: 0 }, /n_shared_experts 0/],
    [{ rope_scaling: { type: 'yarn', factor: 4, original_max_position_embeddings: 1024, mscale: 0.707, mscale_all_dim: 1 } }, /mscale = mscale_all_dim/],
  ];
  for (const [set, why] of cases) {
    const dir = checkpoint(set);
    const out = path.join(tmp, `refused-${n++}.gguf`);
    assert.throws(() => exportGgufFile(dir, out, 'f32'), why);
    assert.equal(fs.existsSync(out), false);
    assert.deepEqual(fs.readdirSync(tmp).filter((f) => f.includes('refused') && f.includes('tmp')), []);
  }
});

test('Q4_K and Q6_K tensors decode exactly: under --weights q8 the GGUF gives the logits of its f32 HF export under --weights q8', () => {
  const dir = checkpoint({ hidden_size: 256, intermediate_size: 256, moe_intermediate_size: 256, kv_lora_rank: 256 });
  const f32File = exported(dir);
  let k = 0;
  const file = rewrite(f32File, (_meta, tensors) => {
    for (const t of tensors) {
      const matrix = t.ne.length >= 2 && t.ne[0]! % 256 === 0 && !t.name.startsWith('token_embd') && !t.name.includes('ffn_gate_inp');
      if (matrix) t.type = k++ % 2 === 0 ? 'Q4_K' : 'Q6_K';
    }
  }, (spec, f32) => {
    const out = new Uint8Array(ggmlBytes(spec.type, spec.ne)), cols = spec.ne[0]!, rowBytes = out.length / (f32.length / cols);
    const quantize = spec.type === 'Q4_K' ? quantizeRowQ4_K : quantizeRowQ6_K;
    for (let r = 0; r < f32.length / cols; r++) quantize(f32.subarray(r * cols, (r + 1) * cols), out, r * rowBytes);
    return out;
  });
  const types = [...GgufFile.open(file).tensors.values()].map((t) => t.type);
  assert.ok(types.includes('Q4_K') && types.includes('Q6_K'), types.join(', '));
  const back = path.join(tmp, `back-${n++}`);
  exportHfFolder(file, back, 'f32', false);
  const m = (p: string) => {
    const model = DeepSeekModel.load(p, { threads: 2, weights: 'q8' });
    try { return scoreTokens(model, TOKENS).logits; } finally { void model.dispose(); }
  };
  assert.equal(maxDiff(m(file), m(back)), 0);
});

test('kv_b_proj from a GGUF whose attn_k_b and attn_v_b are both BF16 (as other converters write) is the HF tensor byte for byte', () => {
  const dir = checkpoint({}, 'bf16');
  const file = rewrite(exported(dir, 'bf16'), (_m, tensors) => {
    for (const t of tensors) if (t.name.endsWith('attn_k_b.weight')) t.type = 'BF16';
  }, (_spec, f32) => encodeArray(f32, 'BF16'));
  const hf = openCheckpoint(dir).store, gguf = openCheckpoint(file).store;
  try {
    for (let i = 0; i < 2; i++) {
      const name = `model.layers.${i}.self_attn.kv_b_proj.weight`, e = hf.entry(name);
      assert.equal(gguf.entry(name).dtype, 'BF16');
      const x = new Uint8Array(e.byteLength), y = new Uint8Array(e.byteLength);
      hf.readInto(name, x);
      gguf.readInto(name, y);
      assert.ok(Buffer.from(x).equals(Buffer.from(y)), name);
    }
  } finally {
    hf.close();
    gguf.close();
  }
});

test('corrupt layer and expert counts are refused before anything is sized by them (GGUF metadata and config.json)', () => {
  const dir = checkpoint();
  const file = exported(dir);
  const setKey = (key: string, value: GgufValue) => (meta: [string, GgufValue][]) => { meta.find(([k]) => k === key)![1] = value; };
  const load = (p: string) => () => DeepSeekModel.load(p);
  assert.throws(load(rewrite(file, setKey('deepseek2.block_count', { type: 'f32', value: 3e38 }))), /deepseek2\.block_count.*type f32/);
  assert.throws(load(rewrite(file, setKey('deepseek2.block_count', { type: 'u32', value: 4e9 }))), /block_count is 4000000000, which does not match/);
  assert.throws(load(rewrite(file, setKey('deepseek2.expert_count', { type: 'u32', value: 4e9 }))), /expert_count is 4000000000, but blk\.1\.ffn_gate_exps\.weight holds 8 experts/);
  const config = path.join(dir, 'config.json'), json = JSON.parse(fs.readFileSync(config, 'utf8'));
  fs.writeFileSync(config, JSON.stringify({ ...json, num_hidden_layers: 1e30 }));
  assert.throws(load(dir), /missing tensor "model\.layers\.1e\+30\.input_layernorm\.weight"|num_hidden_layers/);
  fs.writeFileSync(config, JSON.stringify({ ...json, n_routed_experts: 2 ** 40, n_group: 1, topk_group: 1 }));
  assert.throws(load(dir), /missing tensor "model\.layers\.1\.mlp\.experts\.1099511627775\.gate_proj\.weight"/);
});
