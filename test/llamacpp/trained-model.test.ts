// A model trained by `qiusuo train --max-steps 60` (the default nano model on the Brown corpus), exported as an f32
// GGUF, in llama.cpp: it tokenizes several prompts to our ids, and its 64-token greedy continuation of each is ours —
// every token the argmax of qiusuo's logits at that position, through qiusuo's latent cache one token at a time.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { exportGgufFile } from '../../src/model/export.js';
import { DeepSeekModel } from '../../src/model/transformer.js';
import { loadTokenizer } from '../../src/generate/pipeline.js';
import { scoreTokens } from '../../src/generate/score.js';
import { openLlamaCpp } from '../../bench/peers/llamacpp/peer.js';
import { qiusuo } from '../cli/run-cli.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'qiusuo-llamacpp-trained-'));
test.after(() => fs.rmSync(tmp, { recursive: true, force: true }));

const PROMPTS = ['The jury said', 'In the morning, the', 'He was not sure that', 'It is 1961, and 25 of the 300 men', '"Well," she said.'];
const NEW_TOKENS = 64;

function argmax(row: Float32Array): number {
  let best = 0;
  for (let j = 1; j < row.length; j++) if (row[j]! > row[best]!) best = j;
  return best;
}

test('a model trained 60 steps: llama.cpp tokenizes as qiusuo and continues every prompt greedily with qiusuo\'s tokens for 64 tokens', { timeout: 600_000 }, async () => {
  const run = path.join(tmp, 'run');
  const trained = await qiusuo(['train', '--max-steps', '60', '--eval-every', '60', '--checkpoint-every', '60', '--out', run], { timeoutMs: 540_000 });
  assert.equal(trained.code, 0, trained.stderr);
  const ckpt = path.join(run, fs.readdirSync(run).filter((f) => f.startsWith('checkpoint-')).sort().at(-1)!);
  const file = path.join(tmp, 'trained.gguf');
  exportGgufFile(ckpt, file, 'f32');
  const tokenizer = loadTokenizer(ckpt);
  const bos = tokenizer.tokenToId('<｜begin▁of▁sentence｜>')!;
  const llama = await openLlamaCpp(file, { threads: 1, contextSize: 256 });
  const model = DeepSeekModel.load(ckpt, { threads: 2 });
  try {
    for (const prompt of PROMPTS) {
      const ids = tokenizer.encode(prompt, { addSpecialTokens: false });
      assert.deepEqual(llama.tokenize(prompt), ids, `tokens of ${JSON.stringify(prompt)}`);
      const input = [bos, ...ids];
      const continuation = await llama.greedy(input, NEW_TOKENS);
      assert.equal(continuation.length, NEW_TOKENS);
      const logits = scoreTokens(model, [...input, ...continuation.slice(0, -1)], { decode: true }).logits;
      const ours = continuation.map((_, i) => argmax(logits[input.length - 1 + i]!));
      assert.deepEqual(continuation, ours, `continuation of ${JSON.stringify(prompt)}: ${JSON.stringify(tokenizer.decode(continuation))}`);
    }
  } finally {
    await llama.dispose();
    void model.dispose();
  }
});
