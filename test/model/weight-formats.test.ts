// --weights: the loaded model's logits equal the float64 reference run on the weights it holds (each converted
// tensor dequantised), for bf16/fp8/q8/q4 from F32 and BF16 checkpoints, by prefill and decode, on the wasm kernels
// and in many weight arenas; what each tensor becomes, and the fallbacks; the memory check before any allocation; a
// shard that ends early mid-load.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { initCheckpoint } from '../../src/model/init.js';
import type { InitOptions } from '../../src/model/init.js';
import { DeepSeekModel } from '../../src/model/transformer.js';
import { readConfig } from '../../src/model/model-files.js';
import { loadWeights, validateCheckpoint, planWeights } from '../../src/model/weights.js';
import { residentOf } from '../../src/model/weight-format.js';
import { modelInfo } from '../../src/model/info.js';
import type { ResidentTensor, WeightFormat } from '../../src/model/weight-format.js';
import { Heap } from '../../src/tensor/heap.js';
import { empty, bytes, f32, withScale } from '../../src/tensor/tensor.js';
import { rowReader } from '../../src/kernels/ref/weights.js';
import { createWasmBackend } from '../../src/kernels/wasm/backend.js';
import { WeightStore } from '../../src/weights/shards.js';
import { convertWeight, E4M3_BLOCK } from '../../src/weights/quantize.js';
import { SCALE_SUFFIX } from '../../src/weights/names.js';
import { scoreTokens } from '../../src/generate/score.js';
import { loadRefModel, refForward, type RefModel } from '../reference/deepseek-f64.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'qiusuo-weight-formats-'));
process.on('exit', () => fs.rmSync(tmp, { recursive: true, force: true }));
const TOKENS = [256, 104, 101, 108, 108, 111, 32, 119, 111, 114, 108, 100, 33];

/**
 * The float64 reference over what `format` makes of each tensor: converted tensors quantised with the loader's own
 * converter, then dequantised by the reference row reader; the rest as stored.
 */
function dequantisedReference(dir: string, format: WeightFormat): RefModel {
  const base = loadRefModel(dir), cfg = readConfig(dir), store = WeightStore.open(dir), heap = new Heap();
  const plan = planWeights(validateCheckpoint(cfg, store).present, store, format);
  const cache = new Map<string, Float64Array>();
  return {
    ...base,
    get(name) {
      const r = plan.get(name);
      if (!r || r.convert === null) return base.get(name);
      let out = cache.get(name);
      if (out) return out;
      const e = store.entry(name), src = new Uint8Array(e.byteLength);
      store.readInto(name, src);
      let t = empty(heap, e.shape, r.dtype);
      const scale = r.scaleShape ? empty(heap, r.scaleShape, 'f32') : null;
      let srcScale: { scaleInv: Float32Array; block: [number, number] } | object = {};
      if (e.dtype === 'F8_E4M3') {
        const se = store.entry(name + SCALE_SUFFIX), scaleInv = new Float32Array(se.byteLength / 4);
        store.readInto(name + SCALE_SUFFIX, new Uint8Array(scaleInv.buffer));
        srcScale = { scaleInv, block: cfg.quantization!.weightBlockSize };
      }
      convertWeight({ dtype: e.dtype, bytes: src, shape: e.shape, ...srcScale }, r.convert, bytes(t), scale ? f32(scale) : undefined);
      if (scale) t = withScale(t, { scaleInv: scale, block: [E4M3_BLOCK[0], E4M3_BLOCK[1]] });
      const [rows, cols] = e.shape, row = new Float32Array(cols);
      out = new Float64Array(rows * cols);
      const read = rowReader(t, cols);
      for (let i = 0; i < rows; i++) { read(i, row); out.set(row, i * cols); }
      cache.set(name, out);
      return out;
    },
  };
}

const maxDiff = (a: ArrayLike<number>[], b: number[][]) => Math.max(...a.flatMap((row, i) => Array.from(row, (v, j) => Math.abs(v - b[i][j]))));

const CASES: { format: WeightFormat; opts: Omit<InitOptions, 'out'>; arenaBytes?: number; slabBytes?: number }[] = [
  { format: 'q8', opts: { preset: 'tiny', seed: 1 }, slabBytes: 1024 },
  { format: 'q8', opts: { preset: 'small', seed: 4, dtype: 'fp8', set: { num_hidden_layers: 2 } }, slabBytes: 4096 },
  { format: 'bf16', opts: { preset: 'small', seed: 4, dtype: 'fp8', set: { num_hidden_layers: 2 } }, slabBytes: 4096 },
  { format: 'q4', opts: { preset: 'tiny', seed: 2, dtype: 'bf16' } },
  { format: 'q4', opts: { preset: 'small', seed: 4, dtype: 'bf16', set: { num_hidden_layers: 2 } }, arenaBytes: 1 << 20 },
  { format: 'fp8', opts: { preset: 'small', seed: 4, dtype: 'bf16', set: { num_hidden_layers: 2 } }, slabBytes: 4096 },
  { format: 'bf16', opts: { preset: 'tiny', seed: 3 } },
];

for (const c of CASES) {
  test(`--weights ${c.format} from ${c.opts.dtype ?? 'f32'} (${c.opts.preset}${c.arenaBytes ? ', weight arenas' : ''}${c.slabBytes ? ', converted in slabs' : ''}): logits match the float64 reference on the dequantised weights`, async () => {
    const dir = path.join(tmp, `${c.format}-${c.opts.preset}-${c.opts.dtype ?? 'f32'}-${c.arenaBytes ?? 0}-${c.slabBytes ?? 0}`);
    const cfg = initCheckpoint({ ...c.opts, out: dir });
    const tokens = TOKENS.map((t) => t % cfg.vocabSize);
    const ref = refForward(dequantisedReference(dir, c.format), tokens, { mtp: true });
    assert.ok(ref.minTieGap > 1e-5, `routing near-tie (${ref.minTieGap})`);
    const heap = new Heap();
    const backend = createWasmBackend(heap, { threads: 2, minWork: 1 });
    const model = DeepSeekModel.load(dir, { backend, heap, weights: c.format, arenaBytes: c.arenaBytes, slabBytes: c.slabBytes });
    try {
      if (c.arenaBytes) assert.ok(model.weights.arenas.length >= 3, `${model.weights.arenas.length} arenas`);
      const dtypes = new Set(model.weights.all.map((t) => t.dtype));
      const want = { q8: 'q8_0', q4: 'q4_0', fp8: 'e4m3', bf16: 'bf16' }[c.format as 'q8'];
      assert.ok(dtypes.has(want as never), `the model holds ${want} tensors (has ${[...dtypes].join(', ')})`);
      for (const form of [{}, { decode: true }]) {
        const r = scoreTokens(model, tokens, { mtp: true, ...form });
        assert.ok(maxDiff(r.logits, ref.logits) < 1e-4, `logits differ by ${maxDiff(r.logits, ref.logits)}`);
        assert.ok(maxDiff(r.mtpLogits!, ref.mtpLogits!) < 1e-4, `MTP logits differ by ${maxDiff(r.mtpLogits!, ref.mtpLogits!)}`);
      }
    } finally {
      await model.dispose();
      await backend.close();
    }
  });
}

test('what each tensor becomes: projections take the format, heads q8_0 under q4, the rest keeps its width; rows not a multiple of 32 fall back, named', () => {
  const proj = { shape: [64, 48], fp8Allowed: true, optional: false };
  const other = { shape: [64], fp8Allowed: false, optional: false };
  const stored = (dtype: 'F32' | 'BF16' | 'F8_E4M3', shape: number[]) => ({ dtype, shape, scaleShape: dtype === 'F8_E4M3' ? [1, 1] : null });
  assert.equal(residentOf('model.layers.0.mlp.up_proj.weight', proj, stored('BF16', [64, 64]), 'q4').dtype, 'q4_0');
  assert.equal(residentOf('lm_head.weight', { ...proj, fp8Allowed: false }, stored('BF16', [512, 64]), 'q4').dtype, 'q8_0');
  assert.equal(residentOf('lm_head.weight', { ...proj, fp8Allowed: false }, stored('BF16', [512, 64]), 'fp8').dtype, 'bf16');
  assert.equal(residentOf('model.embed_tokens.weight', { ...proj, fp8Allowed: false }, stored('F32', [512, 64]), 'q8').dtype, 'f32');
  assert.equal(residentOf('model.norm.weight', other, stored('F32', [64]), 'bf16').dtype, 'f32');
  const fp8 = residentOf('model.layers.0.mlp.up_proj.weight', proj, stored('F32', [64, 64]), 'fp8');
  assert.deepEqual([fp8.dtype, fp8.scaleShape], ['e4m3', [1, 1]]);
  const odd = residentOf('model.layers.0.self_attn.o_proj.weight', proj, stored('F32', [64, 48]), 'q8');
  assert.equal(odd.dtype, 'bf16');
  assert.match(odd.fallback!, /rows of 48 values are not a multiple of 32: bf16/);
  assert.equal(residentOf('x.weight', proj, stored('F8_E4M3', [64, 48]), 'q4').dtype, 'e4m3');
});

test('GGUF block types: Q8_0 / Q4_0 are kept as q8_0 / q4_0 bytes; Q4_K / Q6_K, which no kernel reads, become q8_0 under stored and convert like any source otherwise', () => {
  const proj = { shape: [64, 512], fp8Allowed: true, optional: false };
  const emb = { shape: [8, 512], fp8Allowed: false, optional: false };
  const stored = (dtype: 'Q8_0' | 'Q4_0' | 'Q4_K' | 'Q6_K', shape: number[]) => ({ dtype, shape, scaleShape: null });
  const pick = (r: ResidentTensor) => [r.dtype, r.convert, r.bytes];
  assert.deepEqual(pick(residentOf('model.layers.0.mlp.up_proj.weight', proj, stored('Q8_0', [64, 512]), 'stored')), ['q8_0', null, 64 * 16 * 34]);
  assert.deepEqual(pick(residentOf('model.embed_tokens.weight', emb, stored('Q4_0', [8, 512]), 'q4')), ['q4_0', null, 8 * 16 * 18]);
  for (const k of ['Q4_K', 'Q6_K'] as const) {
    assert.deepEqual(pick(residentOf('model.layers.0.mlp.up_proj.weight', proj, stored(k, [64, 512]), 'stored')), ['q8_0', 'q8_0', 64 * 16 * 34], k);
    assert.deepEqual(pick(residentOf('model.embed_tokens.weight', emb, stored(k, [8, 512]), 'q4')), ['q8_0', 'q8_0', 8 * 16 * 34], `${k} embedding`);
    assert.deepEqual(pick(residentOf('model.norm.weight', emb, stored(k, [512]), 'bf16')), ['q8_0', 'q8_0', 16 * 34], `${k} vector`);
    assert.deepEqual(pick(residentOf('model.layers.0.mlp.up_proj.weight', proj, stored(k, [64, 512]), 'q4')), ['q4_0', 'q4_0', 64 * 16 * 18], k);
    assert.deepEqual(pick(residentOf('model.layers.0.mlp.up_proj.weight', proj, stored(k, [64, 512]), 'bf16')), ['bf16', 'bf16', 64 * 512 * 2], k);
    const fp8 = residentOf('model.layers.0.mlp.up_proj.weight', proj, stored(k, [64, 512]), 'fp8');
    assert.deepEqual([fp8.dtype, fp8.convert, fp8.scaleShape], ['e4m3', 'e4m3', [1, 4]], k);
  }
});

test('a model beyond the available memory is refused before any allocation, with the numbers and the formats that fit', () => {
  const dir = path.join(tmp, 'memory');
  const cfg = initCheckpoint({ preset: 'tiny', seed: 1, out: dir });
  const store = WeightStore.open(dir), heap = new Heap();
  try {
    const before = heap.bytesInUse;
    assert.throws(() => loadWeights(cfg, store, heap, { weights: 'stored', availableMemory: 700_000 }),
      /the weights need 1\.\d MiB of memory as --weights stored, but 0\.7 MiB is available; (--weights \w+ needs 0\.\d MiB, )*--weights q4 needs 0\.\d MiB$/);
    assert.equal(heap.bytesInUse, before);
    assert.throws(() => loadWeights(cfg, store, heap, { availableMemory: 1000 }), /no --weights format fits/);
  } finally {
    store.close();
  }
});

test('a shard that ends early mid-load: an error naming the shard, and every tensor read so far freed', () => {
  const dir = path.join(tmp, 'truncated');
  const cfg = initCheckpoint({ preset: 'tiny', seed: 1, out: dir, shardBytes: 200_000 });
  const store = WeightStore.open(dir), heap = new Heap();
  try {
    const shards = fs.readdirSync(dir).filter((f) => f.endsWith('.safetensors')).sort();
    assert.ok(shards.length >= 3);
    const last = path.join(dir, shards[shards.length - 1]);
    fs.truncateSync(last, fs.statSync(last).size - 100); // after the store checked it: as a disk read failing mid-load
    const before = heap.bytesInUse;
    for (const weights of ['stored', 'q8'] as const) {
      assert.throws(() => loadWeights(cfg, store, heap, { weights }), new RegExp(`${shards[shards.length - 1].replace(/\./g, '\\.')}`));
      assert.equal(heap.bytesInUse, before, `${weights}: nothing half-loaded is left`);
    }
  } finally {
    store.close();
  }
});

test('tensors that cannot take the format are named, by info and by the loader', async () => {
  const dir = path.join(tmp, 'fallback');
  // kv_b_proj rows of kv_lora_rank = 40 values cannot take Q8_0 (two layers and the MTP layer); o_proj rows of 64 can.
  const cfg = initCheckpoint({ preset: 'tiny', seed: 1, out: dir, set: { kv_lora_rank: 40 } });
  const store = WeightStore.open(dir);
  const messages: string[] = [];
  try {
    const info = modelInfo(cfg, store, 'q8');
    assert.match(info.fallbacks!, /^3 tensors keep a wider format under --weights q8: model\.layers\.0\.self_attn\.kv_b_proj\.weight \(rows of 40 values are not a multiple of 32: bf16\)/);
    const w = loadWeights(cfg, store, new Heap(), { weights: 'q8', onFallback: (m) => messages.push(m) });
    assert.deepEqual(messages, [info.fallbacks]);
    assert.equal(w.layers[0].attn.kvB.dtype, 'bf16');
    assert.equal(w.layers[0].attn.o.dtype, 'q8_0');
  } finally {
    store.close();
  }
});
