// What every model function needs besides its weights: the backend, the heap, the config and its derived constants.
// Run settings live here (never in module state), so two models with different backends can coexist.

import type { Heap } from '../tensor/heap.js';
import type { Backend, RouterSpec } from '../kernels/backend.js';
import type { ModelConfig } from './config.js';
import type { RopeSpec } from './rope.js';
import { ropeSpec, softmaxScale } from './rope.js';

export interface ModelContext {
  readonly backend: Backend;
  readonly heap: Heap;
  readonly cfg: ModelConfig;
  readonly rope: RopeSpec;
  readonly attnScale: number;
  readonly router: RouterSpec;
}

export function makeContext(cfg: ModelConfig, backend: Backend, heap: Heap): ModelContext {
  return {
    backend, heap, cfg,
    rope: ropeSpec(cfg),
    attnScale: softmaxScale(cfg),
    router: {
      scoring: cfg.scoringFunc, method: cfg.topkMethod, nExperts: cfg.nRoutedExperts, topK: cfg.numExpertsPerTok,
      nGroup: cfg.nGroup, topkGroup: cfg.topkGroup, normTopkProb: cfg.normTopkProb, scalingFactor: cfg.routedScalingFactor,
    },
  };
}

/** q_a_layernorm and kv_a_layernorm use eps 1e-6 whatever rms_norm_eps says (as HF's DeepSeek-V3 does). */
export const LORA_NORM_EPS = 1e-6;
