// The model on the hand-worked MLA checkpoint of test/reference/hand-mla.ts (2 heads, q-LoRA, nope 1 + rope 4, v 2):
// prefill and latent-cache decode, on the reference and the wasm kernels, give the logits derived there by hand.
// This pins what random-checkpoint comparisons (forward.test.ts) cannot: the answer does not come from a second
// implementation that could share a misreading. Leaves out MoE and MTP.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { DeepSeekModel } from '../../src/model/transformer.js';
import { scoreTokens } from '../../src/generate/score.js';
import { HAND_VARIANTS, handLogits, writeHandModel } from '../reference/hand-mla.js';

const TOL = 1e-5; // f32 arithmetic on logits of size ~4
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'qiusuo-hand-mla-'));
process.on('exit', () => fs.rmSync(tmp, { recursive: true, force: true }));

for (const v of HAND_VARIANTS) for (const kernels of ['ref', 'wasm'] as const) {
  test(`hand-worked MLA: ${kernels} kernels give the derived logits by prefill and by decode, ${v.name}`, async () => {
    const dir = writeHandModel(v, path.join(tmp, `${kernels}-${v.name.replace(/[^a-z0-9]+/gi, '-')}`));
    const expected = handLogits(v);
    const model = DeepSeekModel.load(dir, { kernels, threads: 2 });
    try {
      for (const decode of [false, true]) {
        const got = scoreTokens(model, [0, 1], { decode }).logits;
        assert.equal(got.length, 2);
        got.forEach((row, t) => row.forEach((x, i) => {
          assert.ok(Math.abs(x - expected[t]![i]!) < TOL, `${decode ? 'decode' : 'prefill'} logits[${t}][${i}] = ${x}, derived ${expected[t]![i]}`);
        }));
      }
    } finally {
      await model.dispose();
    }
  });
}
