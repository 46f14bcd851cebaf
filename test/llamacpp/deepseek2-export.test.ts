// qiusuo's f32 GGUF export run by llama.cpp (deepseek2) gives qiusuo's own next-token distribution at every position
// and the same greedy continuation, for the configurations llama.cpp treats specially. Leaves out f16/q8_0/q4_0
// exports (llama.cpp's arithmetic differs there by design) and configurations llama.cpp cannot load.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { initCheckpoint } from '../../src/model/init.js';
import { exportGgufFile } from '../../src/model/export.js';
import { DeepSeekModel } from '../../src/model/transformer.js';
import { scoreTokens } from '../../src/generate/score.js';
import { openLlamaCpp } from '../../bench/peers/llamacpp/peer.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'qiusuo-llamacpp-ds2-'));
test.after(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** Includes BOS (256) mid-sequence and repeated tokens. */
const TOKENS = [1, 17, 300, 42, 42, 7, 499, 256, 3, 88, 120, 64, 104, 101, 108, 108];
const PROMPT = [256, 72, 101, 108, 108, 111];
const GREEDY_TOKENS = 24;
/** Observed: ≤ 1.3e-5 (tied head), ~2e-6 otherwise; float32 summation order alone gives ~1e-6. */
const LOGIT_GAP_TOLERANCE = 1e-4;
const TOP_K = 10;

const CONFIGS: [string, Record<string, unknown>][] = [
  ['tiny (YaRN, q LoRA, group-limited noaux_tc)', {}],
  ['no q LoRA, no YaRN', { q_lora_rank: null, rope_scaling: null }],
  ['tied head', { tie_word_embeddings: true }],
  ['DeepSeek-V2 softmax routing', { model_type: 'deepseek_v2', scoring_func: 'softmax', topk_method: 'greedy', n_group: 1, topk_group: 1, norm_topk_prob: false }],
];

function argmax(row: Float32Array): number {
  let best = 0;
  for (let j = 1; j < row.length; j++) if (row[j]! > row[best]!) best = j;
  return best;
}

/**
 * The largest difference between llama.cpp's and qiusuo's log-probability gaps from the most likely token to each of
 * llama.cpp's top-k (a logit difference, free of softmax underflow).
 */
function worstTopGap(llama: Map<number, number>, logits: Float32Array): number {
  const top = [...llama].slice(0, TOP_K);
  const [first, p0] = top[0]!;
  let worst = 0;
  for (const [token, p] of top) {
    const ours = logits[token]! - logits[first]!;
    worst = Math.max(worst, Math.abs((Math.log(p) - Math.log(p0)) - ours));
  }
  return worst;
}

let n = 0;
for (const [name, set] of CONFIGS) {
  test(`llama.cpp runs qiusuo's f32 GGUF as qiusuo does: ${name}`, async () => {
    const dir = path.join(tmp, `ckpt-${n}`);
    const file = path.join(tmp, `model-${n++}.gguf`);
    initCheckpoint({ preset: 'tiny', out: dir, seed: n, set });
    exportGgufFile(dir, file, 'f32');
    const llama = await openLlamaCpp(file, { threads: 1, contextSize: 64 });
    const qiusuo = DeepSeekModel.load(dir, { threads: 1 });
    try {
      const distributions = await llama.nextTokenProbabilities(TOKENS);
      const logits = scoreTokens(qiusuo, TOKENS).logits;
      distributions.forEach((d, i) => {
        assert.equal(d.size, qiusuo.cfg.vocabSize, `position ${i}: llama.cpp's vocabulary`);
        assert.equal([...d][0]![0], argmax(logits[i]!), `position ${i}: most likely token`);
        const gap = worstTopGap(d, logits[i]!);
        assert.ok(gap <= LOGIT_GAP_TOLERANCE, `position ${i}: top-${TOP_K} logit gaps differ by ${gap}`);
      });
      // llama.cpp's decode steps (its KV cache) against qiusuo scoring the same continuation.
      const continuation = await llama.greedy(PROMPT, GREEDY_TOKENS);
      const scored = scoreTokens(qiusuo, [...PROMPT, ...continuation.slice(0, -1)]).logits;
      const ours = continuation.map((_, i) => argmax(scored[PROMPT.length - 1 + i]!));
      assert.deepEqual(continuation, ours);
    } finally {
      await llama.dispose();
      void qiusuo.dispose();
    }
  });
}
