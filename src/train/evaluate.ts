// Validation loss over fixed held-out windows, through the inference path (prefill with the latent cache), and
// bits per byte: the mean next-token loss in nats × tokens / (ln 2 × bytes).

import type { DeepSeekModel } from '../model/transformer.js';
import type { BackwardKernels } from '../kernels/backend.js';
import { Scope, toF32Array } from '../tensor/tensor.js';
import { validationBatches } from './data.js';

export interface EvalResult { loss: number; tokens: number }

/** Mean cross-entropy (nats/token) over up to `windows` windows of T tokens of the validation stream. */
export function validationLoss(model: DeepSeekModel, bw: BackwardKernels, val: Int32Array, T: number, windows: number): EvalResult {
  const V = model.cfg.vocabSize;
  const Tv = Math.min(T, val.length - 1);
  let sum = 0, count = 0;
  for (const batch of validationBatches(val, 1, Tv, windows)) {
    const s = new Scope(model.ctx.heap);
    const cache = model.newCache(1, Tv);
    try {
      const h = model.prefill(s, Array.from(batch.inputs), cache, cache.acquire());
      const logits = model.logits(s, h, Tv), losses = s.tensor([Tv]);
      bw.crossEntropyForward(losses, logits, s.i32(batch.targets), Tv, V);
      sum += toF32Array(losses).reduce((a, x) => a + x, 0);
      count += Tv;
    } finally {
      cache.dispose();
      s.release();
    }
  }
  return { loss: sum / count, tokens: count };
}

/** Bits per byte of a stream whose mean loss is `loss` nats/token, `tokensPerByte` tokens per UTF-8 byte. */
export function bitsPerByte(loss: number, tokensPerByte: number): number {
  return (loss * tokensPerByte) / Math.LN2;
}
