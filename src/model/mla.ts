// Multi-head Latent Attention. Queries through the optional low-rank path (q_a → norm → q_b) or q_proj; keys and
// values through the shared latent (kv_a → norm → cache) and kv_b. Prefill uses the naive form (kv_b expands the
// cached latents into per-head keys/values); decode absorbs kv_b into the query and the output and attends over
// the latent cache directly. Both append this step's latents to the cache first.

import type { Tensor } from '../tensor/tensor.js';
import { rows } from '../tensor/tensor.js';
import type { Scope } from '../tensor/tensor.js';
import type { CacheRows } from '../kernels/backend.js';
import type { ModelContext } from './context.js';
import { LORA_NORM_EPS } from './context.js';
import { qHeadDim } from './config.js';
import type { AttentionWeights } from './weights.js';

/** Where this step's T tokens sit: their positions, their cache rows, and how attention reaches the past. */
export interface AttentionStep {
  readonly T: number;
  readonly positions: Tensor;   // i32 [T]
  readonly cacheRows: Tensor;   // i32 [T]: pool row that receives each token's latent
  readonly mode:
    | { kind: 'prefill'; poolStart: number; past: number }  // one sequence, T new tokens after `past` cached ones
    | { kind: 'decode'; rows: CacheRows };                   // T sequences, one new token each
}

/** out [T, D] = MLA(x [T, D]); appends to `pool` [*, R + dr]. */
export function mlaForward(ctx: ModelContext, s: Scope, out: Tensor, x: Tensor, w: AttentionWeights, pool: Tensor, step: AttentionStep): void {
  const { backend: b, cfg } = ctx;
  const { T } = step;
  const D = cfg.hiddenSize, H = cfg.numAttentionHeads, R = cfg.kvLoraRank;
  const dn = cfg.qkNopeHeadDim, dr = cfg.qkRopeHeadDim, dv = cfg.vHeadDim, dq = qHeadDim(cfg);

  const q = s.tensor([T, H * dq]);
  if (cfg.qLoraRank === null) {
    b.matmul(q, x, w.q!, T, D, H * dq);
  } else {
    const qr = cfg.qLoraRank;
    const qa = s.tensor([T, qr]);
    b.matmul(qa, x, w.qA!, T, D, qr);
    b.rmsnorm(qa, qa, w.qANorm!, T, qr, LORA_NORM_EPS);
    b.matmul(q, qa, w.qB!, T, qr, H * dq);
  }
  b.rope(q, step.positions, ctx.rope, T, H, dq, dn, dr);

  const kva = s.tensor([T, R + dr]);
  b.matmul(kva, x, w.kvA, T, D, R + dr);
  b.latentCacheWrite(pool, step.cacheRows, kva, step.positions, w.kvANorm, LORA_NORM_EPS, ctx.rope, T, R, dr);

  const att = s.tensor([T, H * dv]);
  const m = step.mode;
  if (m.kind === 'prefill') {
    const S = m.past + T;
    const kv = s.tensor([S, H * (dn + dv)]);
    b.matmul(kv, rows(pool, m.poolStart, S), w.kvB, S, R, H * (dn + dv), R + dr);
    b.mlaAttention(att, q, kv, pool, m.poolStart, T, S, m.past, H, dn, dr, dv, R, ctx.attnScale);
  } else {
    const qLat = s.tensor([T, H * R]);
    const lat = s.tensor([T, H * R]);
    b.mlaAbsorbQuery(qLat, q, w.kvB, T, H, dn, dr, dv, R);
    b.mlaLatentAttention(lat, qLat, q, pool, m.rows, T, H, dn, dr, R, ctx.attnScale);
    b.mlaAbsorbOutput(att, lat, w.kvB, T, H, dn, dv, R);
  }
  b.matmul(out, att, w.o, T, H * dv, D);
}
