// The model against the independent float64 reference (test/reference/): logits and MTP logits of random
// checkpoints in every storage width and config variant agree within 1e-4, by prefill and by latent-cache decode,
// on the reference kernels and on the wasm SIMD kernels with two threads.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { initCheckpoint } from '../../src/model/init.js';
import type { InitOptions } from '../../src/model/init.js';
import { DeepSeekModel } from '../../src/model/transformer.js';
import { scoreTokens } from '../../src/generate/score.js';
import { loadRefModel, refForward } from '../reference/deepseek-f64.js';

const TOL = 1e-4;
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'qiusuo-forward-'));
process.on('exit', () => fs.rmSync(tmp, { recursive: true, force: true }));

function maxAbsDiff(a: ArrayLike<number>[], b: number[][]): number {
  assert.equal(a.length, b.length, 'row count');
  let m = 0;
  a.forEach((row, i) => {
    assert.equal(row.length, b[i].length, 'row length');
    for (let j = 0; j < row.length; j++) m = Math.max(m, Math.abs(row[j] - b[i][j]));
  });
  return m;
}

const v2 = { model_type: 'deepseek_v2', scoring_func: 'softmax', norm_topk_prob: false, routed_scaling_factor: 1.5 };
const CASES: { name: string; opts: Omit<InitOptions, 'out'> }[] = [
  { name: 'f32, q_lora, YaRN, MTP', opts: { preset: 'tiny', seed: 1 } },
  { name: 'bf16', opts: { preset: 'tiny', seed: 2, dtype: 'bf16' } },
  { name: 'fp8, 16×16 blocks (multi-block, partial edges)', opts: { preset: 'tiny', seed: 3, dtype: 'fp8', set: { quantization_config: { quant_method: 'fp8', fmt: 'e4m3', weight_block_size: [16, 16] } } } },
  { name: 'fp8, 128×128 blocks on the small preset', opts: { preset: 'small', seed: 4, dtype: 'fp8', set: { num_hidden_layers: 2 } } },
  { name: 'q_lora_rank null', opts: { preset: 'tiny', seed: 5, set: { q_lora_rank: null } } },
  { name: 'rope_scaling null', opts: { preset: 'tiny', seed: 6, set: { rope_scaling: null } } },
  { name: 'norm_topk_prob false', opts: { preset: 'tiny', seed: 7, set: { norm_topk_prob: false } } },
  { name: 'no groups, top-3, two shared experts', opts: { preset: 'tiny', seed: 8, set: { n_group: 1, topk_group: 1, num_experts_per_tok: 3, n_shared_experts: 2 } } },
  { name: 'half-split RoPE (rope_interleave false)', opts: { preset: 'tiny', seed: 9, set: { rope_interleave: false } } },
  { name: 'tied embeddings, f16-free bf16 MoE everywhere', opts: { preset: 'tiny', seed: 10, dtype: 'bf16', set: { tie_word_embeddings: true, first_k_dense_replace: 0 } } },
  { name: 'DeepSeek-V2 softmax greedy', opts: { preset: 'tiny', seed: 11, set: { ...v2, topk_method: 'greedy', n_group: 1, topk_group: 1 } } },
  { name: 'DeepSeek-V2 group_limited_greedy', opts: { preset: 'tiny', seed: 12, set: { ...v2, topk_method: 'group_limited_greedy' } } },
];

const TOKENS = [256, 104, 101, 108, 108, 111, 32, 119, 111, 114, 108, 100, 33];

for (const c of CASES) for (const kernels of ['ref', 'wasm'] as const) {
  test(`logits match the float64 reference (${kernels} kernels): ${c.name}`, async () => {
    const dir = path.join(tmp, `${kernels}-${c.name.replace(/[^a-z0-9]+/gi, '-')}`);
    const cfg = initCheckpoint({ ...c.opts, out: dir });
    const tokens = TOKENS.map((t) => t % cfg.vocabSize);
    const ref = refForward(loadRefModel(dir), tokens, { mtp: true });
    assert.ok(ref.minTieGap > 1e-5, `routing near-tie (${ref.minTieGap}): pick another seed so the comparison means something`);
    const model = DeepSeekModel.load(dir, { kernels, threads: 2 });
    try {
      const prefill = scoreTokens(model, tokens, { mtp: true });
      const decode = scoreTokens(model, tokens, { mtp: true, decode: true });
      assert.ok(ref.mtpLogits, 'reference MTP logits');
      const scale = Math.max(...ref.logits.flat().map(Math.abs));
      assert.ok(scale > 0.3, `logits are large enough to show errors (max |logit| ${scale})`);
      assert.ok(maxAbsDiff(prefill.logits, ref.logits) < TOL, `prefill logits differ by ${maxAbsDiff(prefill.logits, ref.logits)}`);
      assert.ok(maxAbsDiff(prefill.mtpLogits!, ref.mtpLogits) < TOL, `MTP logits differ by ${maxAbsDiff(prefill.mtpLogits!, ref.mtpLogits)}`);
      assert.ok(maxAbsDiff(decode.logits, ref.logits) < TOL, `decode logits differ by ${maxAbsDiff(decode.logits, ref.logits)}`);
      assert.ok(maxAbsDiff(decode.mtpLogits!, ref.mtpLogits) < TOL, `decode MTP logits differ by ${maxAbsDiff(decode.mtpLogits!, ref.mtpLogits)}`);
    } finally {
      await model.dispose();
    }
  });
}
