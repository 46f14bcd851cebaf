// Weights split across many weight arenas (tensor/arenas.ts) give the same logits, bit for bit, as weights in one
// memory, by prefill and by latent-cache decode, MTP included, for every stored width; and they still match the
// float64 reference. Arenas are made tiny so that small models spread over many of them, and the wasm backend splits
// even tiny calls across its two threads so the workers' copies of the arenas are exercised.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { initCheckpoint } from '../../src/model/init.js';
import type { InitOptions } from '../../src/model/init.js';
import { DeepSeekModel } from '../../src/model/transformer.js';
import { Heap } from '../../src/tensor/heap.js';
import { createWasmBackend } from '../../src/kernels/wasm/backend.js';
import { WeightPlacement, arenaBytes } from '../../src/tensor/arenas.js';
import { scoreTokens } from '../../src/generate/score.js';
import { loadRefModel, refForward } from '../reference/deepseek-f64.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'qiusuo-arenas-'));
process.on('exit', () => fs.rmSync(tmp, { recursive: true, force: true }));

const CASES: { name: string; opts: Omit<InitOptions, 'out'>; arenaBytes: number }[] = [
  { name: 'f32', opts: { preset: 'tiny', seed: 1 }, arenaBytes: 64 << 10 },
  { name: 'bf16, tied embeddings', opts: { preset: 'tiny', seed: 10, dtype: 'bf16', set: { tie_word_embeddings: true } }, arenaBytes: 32 << 10 },
  { name: 'fp8, 16×16 blocks', opts: { preset: 'tiny', seed: 3, dtype: 'fp8', set: { quantization_config: { quant_method: 'fp8', fmt: 'e4m3', weight_block_size: [16, 16] } } }, arenaBytes: 32 << 10 },
];
const TOKENS = [256, 104, 101, 108, 108, 111, 32, 119, 111, 114, 108, 100, 33];

/** Logits of both forms on the wasm backend with two threads that split every call, weights in arenas of `bytes`. */
async function logits(dir: string, bytes: number | undefined, tokens: number[]) {
  const heap = new Heap();
  const backend = createWasmBackend(heap, { threads: 2, minWork: 1 });
  const model = DeepSeekModel.load(dir, { backend, heap, arenaBytes: bytes });
  try {
    return {
      arenas: model.weights.arenas.length,
      prefill: scoreTokens(model, tokens, { mtp: true }),
      decode: scoreTokens(model, tokens, { mtp: true, decode: true }),
    };
  } finally {
    await model.dispose();
    await backend.close();
  }
}

const flat = (rows: ArrayLike<number>[]) => rows.flatMap((r) => Array.from(r));

/** Bitwise equality of two logit tables, reporting the first difference (deepEqual's diff of thousands of floats is slow). */
function assertSame(a: ArrayLike<number>[], b: ArrayLike<number>[], what: string): void {
  const x = flat(a), y = flat(b);
  assert.equal(x.length, y.length, `${what}: lengths`);
  const i = x.findIndex((v, k) => !Object.is(v, y[k]));
  assert.ok(i < 0, `${what}: value ${i} is ${x[i]} in arenas, ${y[i]} in one memory`);
}

for (const c of CASES) {
  test(`weights in many arenas give the single-memory logits exactly: ${c.name}`, async () => {
    const dir = path.join(tmp, c.name.replace(/[^a-z0-9]+/gi, '-'));
    const cfg = initCheckpoint({ ...c.opts, out: dir });
    const tokens = TOKENS.map((t) => t % cfg.vocabSize);
    const one = await logits(dir, undefined, tokens);
    const many = await logits(dir, c.arenaBytes, tokens);
    assert.equal(one.arenas, 0);
    assert.ok(many.arenas >= 4, `${many.arenas} arenas: the split must be real`);
    for (const form of ['prefill', 'decode'] as const) {
      assertSame(many[form].logits, one[form].logits, `${form} logits`);
      assertSame(many[form].mtpLogits!, one[form].mtpLogits!, `${form} MTP logits`);
    }
    const ref = refForward(loadRefModel(dir), tokens, { mtp: true });
    const worst = Math.max(...flat(many.decode.logits).map((v, i) => Math.abs(v - ref.logits.flat()[i])));
    assert.ok(worst < 1e-4, `decode logits in arenas differ from the float64 reference by ${worst}`);
  });
}

test('placement: a model that fits stays in the main heap; one that does not keeps vectors there and fills arenas in order', () => {
  const main = new Heap(1 << 16);
  const fits = new WeightPlacement(main, 1000, 1000);
  assert.equal(fits.heapFor('w', [1000], false), main);
  const split = new WeightPlacement(main, 5000, 1000);
  assert.equal(split.heapFor('norm', [64], true), main);
  const a = split.heapFor('a', [600], false), b = split.heapFor('b', [300], false), c = split.heapFor('c', [200], false);
  assert.notEqual(a, main);
  assert.equal(b, a, 'b fits beside a');
  assert.notEqual(c, a, 'c does not fit: a new arena');
  const big = split.heapFor('big', [3000], false);
  assert.notEqual(big, c, 'a tensor larger than an arena gets one to itself');
  assert.notEqual(split.heapFor('d', [64], false), big);
  assert.equal(split.arenas.length, 4);
});

test('QIUSUO_ARENA_BYTES is validated', () => {
  assert.equal(arenaBytes('8388608'), 8 << 20);
  assert.throws(() => arenaBytes('12x'), /QIUSUO_ARENA_BYTES must be an integer number of bytes in \[4096, \d+\], got "12x"/);
  assert.throws(() => arenaBytes('100'), /QIUSUO_ARENA_BYTES/);
  assert.throws(() => arenaBytes(String(5 * 1024 ** 3)), /QIUSUO_ARENA_BYTES/);
});
