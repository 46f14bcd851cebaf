// The kernel interface: every numeric step of the model (MoE routing and dispatch included) is one of these ops,
// so a faster backend (wasm SIMD on a worker pool, later WebGPU) swaps in without touching model code.
// Shapes: T tokens (rows), D model dim, C input dim, OC output dim, H heads, R latent rank (kv_lora_rank),
// dn/dr/dv nope/rope/value head dims, E routed experts, K experts per token, I expert intermediate size, S keys.
// All activations are f32; weights may be f32, bf16, f16 or e4m3 with block scales (dequantised inside the kernel).

import type { Tensor } from '../tensor/tensor.js';
import type { RopeSpec } from '../model/rope.js';

export interface RouterSpec {
  readonly scoring: 'sigmoid' | 'softmax';
  readonly method: 'noaux_tc' | 'greedy' | 'group_limited_greedy';
  readonly nExperts: number;        // E
  readonly topK: number;            // K
  readonly nGroup: number;
  readonly topkGroup: number;
  readonly normTopkProb: boolean;
  readonly scalingFactor: number;
}

/** One MoE layer's routed experts, each a SwiGLU: down(silu(gate(x)) ⊙ up(x)). */
export interface ExpertBank {
  readonly gate: readonly Tensor[];  // E × [I, D]
  readonly up: readonly Tensor[];    // E × [I, D]
  readonly down: readonly Tensor[];  // E × [D, I]
}

/** Where each sequence's latent cache lives in a cache pool tensor [rows, R + dr]. */
export interface CacheRows {
  readonly start: Tensor;   // i32 [B]: first pool row of each sequence
  readonly length: Tensor;  // i32 [B]: tokens visible to each sequence's query (including the new one)
}

export interface Backend {
  readonly name: string;

  /** out[t, :] = table[ids[t], :] (table any weight dtype). out [T, D], ids i32 [T], table [V, D]. */
  embedding(out: Tensor, ids: Tensor, table: Tensor, T: number, D: number): void;

  /** out[t] = w ⊙ x[t] / sqrt(mean(x[t]²) + eps). Rows read at xStride and written at outStride (elements). */
  rmsnorm(out: Tensor, x: Tensor, w: Tensor, T: number, D: number, eps: number, xStride?: number, outStride?: number): void;

  /** out[t, o] = Σ_c x[t, c]·W[o, c]. out [T, OC], x rows at xStride (default C), W [OC, C]. */
  matmul(out: Tensor, x: Tensor, w: Tensor, T: number, C: number, OC: number, xStride?: number): void;

  /** out = src elementwise (n values). */
  copy(out: Tensor, src: Tensor, n: number): void;

  /** out = a + b elementwise (out may alias a or b). */
  add(out: Tensor, a: Tensor, b: Tensor, n: number): void;

  /** out = silu(gate) ⊙ up elementwise. */
  siluMul(out: Tensor, gate: Tensor, up: Tensor, n: number): void;

  /** out[t] = concat(a[t], b[t]). out [T, A + B], a [T, A], b [T, B]. */
  concat(out: Tensor, a: Tensor, b: Tensor, T: number, A: number, B: number): void;

  /**
   * In-place rotation of x[t, h·stride + offset .. + dr] for each token t and head h, at position positions[t].
   * x rows have H·stride elements.
   */
  rope(x: Tensor, positions: Tensor, spec: RopeSpec, T: number, H: number, stride: number, offset: number, dr: number): void;

  /**
   * Appends to the MLA latent cache: for each t, pool[rows[t]] = [rmsnorm(kva[t, :R], w, eps) | rope(kva[t, R:R+dr])].
   * kva [T, R + dr] is kv_a_proj_with_mqa's output, rows i32 [T], positions i32 [T], pool [*, R + dr].
   */
  latentCacheWrite(pool: Tensor, rows: Tensor, kva: Tensor, positions: Tensor, normW: Tensor, eps: number,
    spec: RopeSpec, T: number, R: number, dr: number): void;

  /**
   * Naive (prefill) MLA attention for one sequence: T queries at positions past..past+T-1 attend causally to S = past+T keys.
   * score[t, h, s] = scale·(q[t,h,:dn]·kv[s,h,:dn] + q[t,h,dn:]·kRope[s]); out[t,h] = Σ_s softmax(score)·kv[s,h,dn:].
   * out [T, H·dv], q [T, H·(dn+dr)], kv [S, H·(dn+dv)] (kv_b output), kRope = pool rows [S, R+dr] read at column R.
   */
  mlaAttention(out: Tensor, q: Tensor, kv: Tensor, pool: Tensor, poolStart: number,
    T: number, S: number, past: number, H: number, dn: number, dr: number, dv: number, R: number, scale: number): void;

  /** Absorbs W_UK into the queries: qLat[b,h,:] = Σ_n q[b,h,n]·kvB[h·(dn+dv)+n, :]. qLat [B, H·R], q [B, H·(dn+dr)]. */
  mlaAbsorbQuery(qLat: Tensor, q: Tensor, kvB: Tensor, B: number, H: number, dn: number, dr: number, dv: number, R: number): void;

  /**
   * Latent decode attention over each sequence's cache: score[b,h,s] = scale·(qLat[b,h]·c[s] + q[b,h,dn:]·kRope[s]),
   * ctx[b,h,:] = Σ_s softmax(score)·c[s]. ctx [B, H·R], c/kRope from pool rows start[b] .. start[b]+length[b].
   */
  mlaLatentAttention(ctx: Tensor, qLat: Tensor, q: Tensor, pool: Tensor, rows: CacheRows,
    B: number, H: number, dn: number, dr: number, R: number, scale: number): void;

  /** Applies W_UV: out[b,h,j] = Σ_r ctx[b,h,r]·kvB[h·(dn+dv)+dn+j, r]. out [B, H·dv], ctx [B, H·R]. */
  mlaAbsorbOutput(out: Tensor, ctx: Tensor, kvB: Tensor, B: number, H: number, dn: number, dv: number, R: number): void;

  /**
   * Router: from logits [T, E] (x·Wgᵀ) and the optional selection bias [E], picks K experts per token.
   * experts i32 [T, K], weights f32 [T, K] (already scaled by routed_scaling_factor).
   */
  route(experts: Tensor, weights: Tensor, logits: Tensor, bias: Tensor | null, spec: RouterSpec, T: number): void;

  /**
   * Routed experts: out[t] = Σ_k weights[t,k]·expert_{experts[t,k]}(x[t]), tokens grouped by expert.
   * out [T, D], x [T, D].
   */
  moe(out: Tensor, x: Tensor, experts: Tensor, weights: Tensor, bank: ExpertBank, T: number, D: number, I: number, K: number): void;
}
