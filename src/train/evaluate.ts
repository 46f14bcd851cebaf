// Validation loss over fixed held-out windows, through the inference path (prefill with the latent cache), and
// bits per byte: the mean next-token loss in nats × tokens / (ln 2 × bytes). On the same windows, when the model has
// an MTP module, the greedy agreement of its first module with the main model (the depth-1 speculative acceptance).

import type { DeepSeekModel } from '../model/transformer.js';
import type { BackwardKernels } from '../kernels/backend.js';
import { Scope, f32, toF32Array } from '../tensor/tensor.js';
import { argmax } from '../generate/sampler.js';
import { validationBatches } from './data.js';

export interface EvalResult {
  loss: number; tokens: number;
  mtpAgreement: number | null;  // fraction of positions where MTP and main argmax agree; null without an MTP module
}

/** Mean cross-entropy (nats/token) over up to `windows` windows of T tokens of the validation stream, and the MTP agreement. */
export function validationLoss(model: DeepSeekModel, bw: BackwardKernels, val: Int32Array, T: number, windows: number): EvalResult {
  const V = model.cfg.vocabSize;
  const Tv = Math.min(T, val.length - 1);
  let sum = 0, count = 0, agreed = 0, compared = 0;
  for (const batch of validationBatches(val, 1, Tv, windows)) {
    const s = new Scope(model.ctx.heap);
    const cache = model.newCache(1, Tv);
    try {
      const inputs = Array.from(batch.inputs);
      const h = model.prefill(s, inputs, cache, cache.acquire());
      const normed = model.norm(s, h, Tv);
      const logits = model.head(s, normed, Tv), losses = s.tensor([Tv]);
      bw.crossEntropyForward(losses, logits, s.i32(batch.targets), Tv, V);
      sum += toF32Array(losses).reduce((a, x) => a + x, 0);
      count += Tv;
      if (model.hasMtp && Tv >= 2) {
        const mtp = model.mtpLogits(s, normed, inputs);
        agreed += greedyAgreements(f32(logits), f32(mtp), Tv - 1, V);
        compared += Tv - 1;
      }
    } finally {
      cache.dispose();
      s.release();
    }
  }
  return { loss: sum / count, tokens: count, mtpAgreement: model.hasMtp && compared > 0 ? agreed / compared : null };
}

/**
 * How many of the `rows` positions i have argmax(main row i+1) = argmax(mtp row i): both rows predict token i+2, the
 * main model from all tokens up to i+1, the MTP module from the main state at i and the true token i+1.
 * main [rows+1, V], mtp [rows, V]; ties go to the lower id, as greedy sampling does.
 */
export function greedyAgreements(main: Float32Array, mtp: Float32Array, rows: number, V: number): number {
  let n = 0;
  for (let i = 0; i < rows; i++) {
    if (argmax(main.subarray((i + 1) * V, (i + 2) * V)) === argmax(mtp.subarray(i * V, (i + 1) * V))) n += 1;
  }
  return n;
}

/** Bits per byte of a stream whose mean loss is `loss` nats/token, `tokensPerByte` tokens per UTF-8 byte. */
export function bitsPerByte(loss: number, tokensPerByte: number): number {
  return (loss * tokensPerByte) / Math.LN2;
}
