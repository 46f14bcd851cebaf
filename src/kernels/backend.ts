// The kernel interface: every numeric step of the model (MoE routing and dispatch included) is one of these ops,
// so a faster backend (wasm SIMD on a worker pool, later WebGPU) swaps in without touching model code.
// Shapes: T tokens (rows), D model dim, C input dim, OC output dim, H heads, R latent rank (kv_lora_rank),
// dn/dr/dv nope/rope/value head dims, E routed experts, K experts per token, I expert intermediate size, S keys.
// All activations are f32; weights may be f32, bf16, f16 or e4m3 with block scales (dequantised inside the kernel).

import type { Tensor } from '../tensor/tensor.js';
import type { RopeSpec } from '../model/rope.js';
import type { Heap } from '../tensor/heap.js';
import type { QuantMode } from './ref/quantize.js';


/** One AdamW step's hyper-parameters (step is 1-based, for bias correction). */
export interface AdamWHyper { lr: number; beta1: number; beta2: number; eps: number; weightDecay: number; step: number }

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

  /** Releases threads and scratch memory (backends that hold none omit it). */
  close?(): Promise<void>;

  /** Drops what the backend keeps for a weight arena whose tensors were all freed (backends that keep none omit it). */
  forgetHeap?(heap: Heap): void;

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

/**
 * The backward of every op training needs, plus the training-only forwards (causal attention without a cache, the
 * loss). Every gradient kernel ACCUMULATES (+=) into its f32 gradient outputs, so callers zero them once and sum
 * contributions; the one exception is ropeBackward, which works in place like rope. Forward inputs are passed
 * again (activations are recomputed or kept by the caller); weights may be any dtype unless a kernel says otherwise.
 */
export interface BackwardKernels {
  readonly name: string;

  /** dx += dout·W, dw += doutᵀ·x (either may be null). dx/x rows at xStride, dw [OC, C], dout [T, OC], W [OC, C]. */
  matmulBackward(dx: Tensor | null, dw: Tensor | null, dout: Tensor, x: Tensor, w: Tensor, T: number, C: number, OC: number, xStride?: number): void;

  /**
   * out [M, N] = a [M, K]·b [N, K]ᵀ, WRITTEN (not added), with an accumulator of 14 significant bits, truncated after
   * adding each group of 4 products (summed in f32) and never promoted to f32: FP8 training's limited-accumulation control (ref/matmul-low-acc.ts).
   */
  matmulLowAcc(out: Tensor, a: Tensor, b: Tensor, M: number, N: number, K: number): void;

  /** Backward of rmsnorm: dx [T, D] and x rows at xStride, dw [D], dout rows at outStride, w [D]. */
  rmsnormBackward(dx: Tensor, dw: Tensor, dout: Tensor, x: Tensor, w: Tensor, T: number, D: number, eps: number, xStride?: number, outStride?: number): void;

  /** In place: dx (holding ∂L/∂rope(x) on entry) becomes ∂L/∂x = mscale·R(−angle)·dx on the rope sub-range. Same arguments as rope. */
  ropeBackward(dx: Tensor, positions: Tensor, spec: RopeSpec, T: number, H: number, stride: number, offset: number, dr: number): void;

  /** Backward of siluMul: dgate += dout·up·silu'(gate), dup += dout·silu(gate) (n values each). */
  siluMulBackward(dgate: Tensor, dup: Tensor, dout: Tensor, gate: Tensor, up: Tensor, n: number): void;

  /** Scatter-add dtable[ids[t]] += dout[t]; repeated ids accumulate. dtable [V, D], dout [T, D], ids i32 [T]. */
  embeddingBackward(dtable: Tensor, dout: Tensor, ids: Tensor, T: number, D: number): void;

  /** da[t] += dout[t, :A], db[t] += dout[t, A:]. da [T, A], db [T, B], dout [T, A + B]. */
  concatBackward(da: Tensor, db: Tensor, dout: Tensor, T: number, A: number, B: number): void;

  /** out[t] = softmax(x[t]). out [T, V], x [T, V]. */
  softmaxForward(out: Tensor, x: Tensor, T: number, V: number): void;

  /** losses[t] = logsumexp(logits[t]) − logits[t, targets[t]]; 0 where targets[t] = −1. losses [T] (written), logits [T, V], targets i32 [T]. */
  crossEntropyForward(losses: Tensor, logits: Tensor, targets: Tensor, T: number, V: number): void;

  /** dlogits[t] += (softmax(logits[t]) − onehot(targets[t]))·dlossScale; rows with target −1 get nothing. */
  crossEntropyBackward(dlogits: Tensor, logits: Tensor, targets: Tensor, dlossScale: number, T: number, V: number): void;

  /**
   * Causal MLA attention over one sequence, no cache (mlaAttention with past = 0 and k_rope contiguous).
   * out [T, H·dv], q [T, H·(dn+dr)], kv [T, H·(dn+dv)] = [k_nope | v] per head, kRope [T, dr] shared by all heads.
   */
  mlaTrainAttention(out: Tensor, q: Tensor, kv: Tensor, kRope: Tensor, T: number, H: number, dn: number, dr: number, dv: number, scale: number): void;

  /** Backward of mlaTrainAttention (probabilities recomputed); dkRope sums over heads. dq, dkv, dkRope shaped like q, kv, kRope. */
  mlaTrainAttentionBackward(dq: Tensor, dkv: Tensor, dkRope: Tensor, dout: Tensor, q: Tensor, kv: Tensor, kRope: Tensor,
    T: number, H: number, dn: number, dr: number, dv: number, scale: number): void;

  /**
   * Router backward at the fixed selection `experts` i32 [T, K]: dlogits [T, E] += ∂L/∂logits through the unbiased
   * scores of the chosen experts (normalisation and scaling as the forward), from dweights [T, K]. No bias gradient.
   */
  routeBackward(dlogits: Tensor, dweights: Tensor, logits: Tensor, experts: Tensor, spec: RouterSpec, T: number): void;

  /**
   * Backward of moe, grouped by expert: dx [T, D], dweights [T, K] (dweights[t,k] += dout[t]·expert_k(x[t])),
   * dbank f32 gradients shaped like bank.
   */
  moeBackward(dx: Tensor, dweights: Tensor, dbank: ExpertBank, dout: Tensor, x: Tensor, experts: Tensor, weights: Tensor,
    bank: ExpertBank, T: number, D: number, I: number, K: number): void;

  /** counts f32 [E] += number of slots routed to each expert (experts i32 [T, K]). */
  expertCounts(counts: Tensor, experts: Tensor, T: number, K: number, E: number): void;

  /**
   * Balance loss α·Σ_i f_i·P_i over T rows (one sequence: the complementary sequence-wise loss; a batch: the classic
   * expert-level loss); returns it and, with dlogits, accumulates dlogits [T, E] += dscale·∂L/∂logits.
   */
  balanceLoss(dlogits: Tensor | null, logits: Tensor, experts: Tensor, spec: RouterSpec, T: number, alpha: number, dscale: number): number;

  /** AdamW update of n values of w (f32) from g, moments m and v (f32 or bf16) updated in place. */
  adamw(w: Tensor, g: Tensor, m: Tensor, v: Tensor, n: number, h: AdamWHyper): void;

  /** Σ g² (for global-norm gradient clipping). */
  sumSquares(g: Tensor): number;

  /** g *= factor in place. */
  scaleInPlace(g: Tensor, factor: number): void;

  /** Auxiliary-loss-free balancing: bias [E] += γ·sign(mean(counts) − counts), or γ·(mean − counts)/mean ('proportional'). */
  balanceBiasUpdate(bias: Tensor, counts: Tensor, gamma: number, mode?: 'sign' | 'proportional'): void;

  /**
   * out [rows, cols] = x rounded to a low-precision format, kept in f32: 'bf16'; 'fp8-tiles' (E4M3, one scale per
   * 1×block of a row: activations); 'fp8-col-tiles' (per block×1 of a column: activations of a weight gradient);
   * 'fp8-blocks' (per block×block: weights); 'fp8-tensor' (one scale for all of x). out may alias x.
   */
  fakeQuantize(out: Tensor, x: Tensor, rows: number, cols: number, mode: QuantMode, block?: number): void;
}
