// How many threads a model runs on when neither --threads nor QIUSUO_THREADS says. A model whose decode step is a
// couple of million multiply-adds runs it on one thread: nearly all its calls are below the size worth splitting,
// so the pool's second thread splits only lm_head and otherwise spins, taking a core from the calling thread on a
// machine as busy as this 2-vCPU VM. Measured with bench/decode-ab.ts (one process, alternating): the nano model
// (1.3 M multiply-adds per token) decoded 2.0-2.2× faster on 1 thread than on 2; the small preset (4.7 M) 1.3-1.4×
// faster on 2 in the same runs, so the bound sits between them. Larger models keep every core.
// Leaves out: a bound per machine (it was set on this one) and a separate thread count for prefill, which a small
// model on one thread also runs single-threaded.

import type { ModelConfig } from './config.js';
import { modelInfo } from './info.js';

/** Below this many multiply-adds per decoded token (active parameters less the embedding lookup), one thread. */
export const ONE_THREAD_MACS = 2 ** 21;

/** 1 for a model too small to share a decode step between threads, else undefined (the backend's default: every core, or QIUSUO_THREADS). */
export function autoThreads(cfg: ModelConfig): number | undefined {
  if (process.env.QIUSUO_THREADS) return undefined;
  const lookup = cfg.tieWordEmbeddings ? 0 : cfg.vocabSize * cfg.hiddenSize;
  return modelInfo(cfg, null).activeParams - lookup < ONE_THREAD_MACS ? 1 : undefined;
}
