// The MTP agreement that validation reports (the depth-1 greedy speculative acceptance), checked against an
// independent count over scoreTokens' logits on the same windows, cut here by hand from the validation stream.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { DeepSeekModel } from '../../src/model/transformer.js';
import { backwardFor } from '../../src/kernels/select.js';
import { loadTokenizer } from '../../src/generate/pipeline.js';
import { scoreTokens } from '../../src/generate/score.js';
import { argmax } from '../../src/generate/sampler.js';
import { validationLoss } from '../../src/train/evaluate.js';
import { TempRoot, trainedTiny } from '../generate/fixtures.js';

const tmp = new TempRoot();
after(() => tmp.remove());

/** Positions i where the main model's argmax at i+1 equals the MTP module's at i, over windows of T tokens of `val`. */
function agreementByScoring(model: DeepSeekModel, val: Int32Array, T: number, windows: number): number {
  let agreed = 0, compared = 0;
  for (let w = 0; w < windows; w++) {
    const window = Array.from(val.subarray(w * T, (w + 1) * T));
    const { logits, mtpLogits } = scoreTokens(model, window, { mtp: true });
    for (let i = 0; i + 1 < T; i++) {
      if (argmax(logits[i + 1]) === argmax(mtpLogits![i])) agreed += 1;
      compared += 1;
    }
  }
  return agreed / compared;
}

test('validation reports the MTP module\'s greedy agreement with the main model, as scoring the same windows counts it', async () => {
  const dir = await trainedTiny(tmp.dir);
  const model = DeepSeekModel.load(dir, { kernels: 'ref' });
  try {
    // Text the model was trained on, then text it was not: agreement high on the first, lower on the second.
    const text = 'the cat sat on the mat. a dog ran to the house. the bird sang in the morning light. '
      + 'a red house under the big tree; the small dog sang to a cat in the light of the morning.';
    const val = Int32Array.from(loadTokenizer(dir).encode(text));
    const T = 16, windows = Math.floor((val.length - 1) / T);
    assert.ok(windows >= 3, `the text gives ${windows} windows of ${T} tokens`);
    const r = validationLoss(model, backwardFor(model.ctx.backend), val, T, windows);
    const want = agreementByScoring(model, val, T, windows);
    assert.ok(want > 0.3 && want < 1, `a test that can tell agreement from chance and from identity: ${want}`);
    assert.equal(r.mtpAgreement, want);
  } finally {
    await model.dispose();
  }
});
