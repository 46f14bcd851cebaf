// AssemblyScript twins of the reference row and elementwise ops (src/kernels/ref/{elementwise,rope,loss}.ts): RMSNorm,
// add, SiLU·mul, copy, concat, embedding gather, RoPE, the latent-cache append, row softmax, cross-entropy, and the
// MoE row gather / weighted combine. Every export runs items [start, end) of its call (elements, rows or (token, head)
// pairs, as each says) on pool thread `thread`, whose scratch area is scratch + thread·scratchStride.
// Leaves out: cos/sin (the backend passes a table for the call's positions, computed in float64 on the JS side),
// index validation (done in JS before the call) and f16 weights (reference path).
// Shapes: T rows/tokens, D row width, H heads, dr rope dims, R latent rank, V vocabulary, K experts per token.
// Weight kinds: 0 f32, 1 bf16, 2 e4m3 with block scales (scaleInv, bm, bn; scaleInv = 0: none).

import { madd, expv, exp1, logF64, hsum1, decodeRow } from './ops-math';

@inline function at(p: usize, i: i32): usize { return p + ((<usize>i) << 2); }

/** out[0..n) = w ⊙ x / sqrt(mean(x²) + eps) for one row; w f32 [n]; out may alias x. */
function normRow(out: usize, x: usize, w: usize, n: i32, eps: f32): void {
  let s0 = f32x4.splat(0), s1 = s0;
  let i = 0;
  for (; i + 8 <= n; i += 8) {
    const a = v128.load(at(x, i)), b = v128.load(at(x, i), 16);
    s0 = madd(a, a, s0); s1 = madd(b, b, s1);
  }
  for (; i + 4 <= n; i += 4) { const a = v128.load(at(x, i)); s0 = madd(a, a, s0); }
  let ss = <f64>hsum1(f32x4.add(s0, s1));
  for (; i < n; i++) { const a = <f64>load<f32>(at(x, i)); ss += a * a; }
  const inv = <f32>(1 / Math.sqrt(ss / <f64>n + <f64>eps));
  const iv = f32x4.splat(inv);
  i = 0;
  for (; i + 4 <= n; i += 4) v128.store(at(out, i), f32x4.mul(v128.load(at(w, i)), f32x4.mul(v128.load(at(x, i)), iv)));
  for (; i < n; i++) store<f32>(at(out, i), load<f32>(at(w, i)) * (load<f32>(at(x, i)) * inv));
}

/** The norm weight as f32: itself when f32, else decoded into this thread's scratch. */
function normWeight(w: usize, kind: i32, D: i32, scaleInv: usize, bm: i32, bn: i32, scratch: usize): usize {
  if (kind == 0) return w;
  decodeRow(scratch, w, kind, D, 0, 0, D, scaleInv, bm, bn);
  return scratch;
}

/** RMSNorm of rows [start, end): out[t·outStride ..] = w ⊙ x[t·xStride ..] / rms. w [D] of any kind. */
export function rmsnormRows(out: usize, x: usize, w: usize, kind: i32, scaleInv: usize, bm: i32, bn: i32, D: i32, eps: f32,
  xStride: i32, outStride: i32, scratch: usize, scratchStride: i32, start: i32, end: i32, thread: i32): void {
  const wf = normWeight(w, kind, D, scaleInv, bm, bn, scratch + <usize>thread * <usize>scratchStride);
  for (let t = start; t < end; t++) {
    normRow(out + <usize>t * ((<usize>outStride) << 2), x + <usize>t * ((<usize>xStride) << 2), wf, D, eps);
  }
}

/** out = a + b over elements [start, end) (out may alias a or b). */
export function addRange(out: usize, a: usize, b: usize, start: i32, end: i32, thread: i32): void {
  let i = start;
  for (; i + 4 <= end; i += 4) v128.store(at(out, i), f32x4.add(v128.load(at(a, i)), v128.load(at(b, i))));
  for (; i < end; i++) store<f32>(at(out, i), load<f32>(at(a, i)) + load<f32>(at(b, i)));
}

/** out = silu(gate) ⊙ up = gate / (1 + e^−gate) · up over elements [start, end) (out may alias either input). */
export function siluMulRange(out: usize, gate: usize, up: usize, start: i32, end: i32, thread: i32): void {
  const one = f32x4.splat(1);
  let i = start;
  for (; i + 4 <= end; i += 4) {
    const g = v128.load(at(gate, i));
    const s = f32x4.div(g, f32x4.add(one, expv(f32x4.neg(g))));
    v128.store(at(out, i), f32x4.mul(s, v128.load(at(up, i))));
  }
  for (; i < end; i++) {
    const g = load<f32>(at(gate, i));
    store<f32>(at(out, i), g / (1 + exp1(-g)) * load<f32>(at(up, i)));
  }
}

/** out = src over elements [start, end). */
export function copyRange(out: usize, src: usize, start: i32, end: i32, thread: i32): void {
  memory.copy(at(out, start), at(src, start), (<usize>(end - start)) << 2);
}

/** out[t] = [a[t] | b[t]] for rows [start, end). out [T, A + B], a [T, A], b [T, B]. */
export function concatRows(out: usize, a: usize, b: usize, A: i32, B: i32, start: i32, end: i32, thread: i32): void {
  const ab = (<usize>A) << 2, bb = (<usize>B) << 2, ob = ab + bb;
  for (let t = start; t < end; t++) {
    const o = out + <usize>t * ob;
    memory.copy(o, a + <usize>t * ab, ab);
    memory.copy(o + ab, b + <usize>t * bb, bb);
  }
}

/** out[t] = table[ids[t]] for rows [start, end). out [T, D] f32, ids i32 [T] (already checked), table [V, D] of any kind. */
export function embeddingRows(out: usize, ids: usize, table: usize, kind: i32, scaleInv: usize, bm: i32, bn: i32, D: i32,
  start: i32, end: i32, thread: i32): void {
  for (let t = start; t < end; t++) {
    decodeRow(out + <usize>t * ((<usize>D) << 2), table, kind, D, load<i32>(at(ids, t)), 0, D, scaleInv, bm, bn);
  }
}

// ---- RoPE. The table holds, per token, cosE [dr] then sinE [dr] (f32, mscale included), laid out like the pairs:
// each element j rotates as x'[j] = x[j]·cosE[j] + x[partner(j)]·sinE[j], sinE negative on the pair's first element.
// Interleaved: partner(2i) = 2i + 1; half-split: partner(i) = i + dr/2.

/** Rotates the dr values at p (in place) with one token's table row cs. */
function rotate(p: usize, cs: usize, dr: i32, interleaved: i32): void {
  const sn = at(cs, dr);
  if (interleaved) {
    let j = 0;
    for (; j + 4 <= dr; j += 4) {
      const v = v128.load(at(p, j));
      const sw = v128.shuffle<f32>(v, v, 1, 0, 3, 2);
      v128.store(at(p, j), madd(sw, v128.load(at(sn, j)), f32x4.mul(v, v128.load(at(cs, j)))));
    }
    for (; j + 2 <= dr; j += 2) {
      const x0 = load<f32>(at(p, j)), x1 = load<f32>(at(p, j + 1));
      store<f32>(at(p, j), x0 * load<f32>(at(cs, j)) + x1 * load<f32>(at(sn, j)));
      store<f32>(at(p, j + 1), x1 * load<f32>(at(cs, j + 1)) + x0 * load<f32>(at(sn, j + 1)));
    }
    return;
  }
  const half = dr >> 1;
  let i = 0;
  for (; i + 4 <= half; i += 4) {
    const lo = v128.load(at(p, i)), hi = v128.load(at(p, half + i));
    v128.store(at(p, i), madd(hi, v128.load(at(sn, i)), f32x4.mul(lo, v128.load(at(cs, i)))));
    v128.store(at(p, half + i), madd(lo, v128.load(at(sn, half + i)), f32x4.mul(hi, v128.load(at(cs, half + i)))));
  }
  for (; i < half; i++) {
    const x0 = load<f32>(at(p, i)), x1 = load<f32>(at(p, half + i));
    store<f32>(at(p, i), x0 * load<f32>(at(cs, i)) + x1 * load<f32>(at(sn, i)));
    store<f32>(at(p, half + i), x1 * load<f32>(at(cs, half + i)) + x0 * load<f32>(at(sn, half + i)));
  }
}

/**
 * In-place RoPE of items [start, end) = (token t, head h) pairs, item t·H + h: x[(t·H + h)·stride + offset ..][0..dr)
 * turned by token t's table row (table [T, 2·dr]).
 */
export function ropeRows(x: usize, table: usize, H: i32, stride: i32, offset: i32, dr: i32, interleaved: i32,
  start: i32, end: i32, thread: i32): void {
  for (let i = start; i < end; i++) {
    const t = i / H;
    rotate(at(x, i * stride + offset), at(table, t * 2 * dr), dr, interleaved);
  }
}

/**
 * Latent-cache append for tokens [start, end): pool[rows[t]] = [rmsnorm(kva[t, :R], w) | rope(kva[t, R:R+dr])].
 * pool [*, R + dr], rows i32 [T] (checked), kva [T, R + dr], w [R] of any kind, table [T, 2·dr].
 */
export function latentWriteRows(pool: usize, rows: usize, kva: usize, w: usize, kind: i32, scaleInv: usize, bm: i32, bn: i32,
  R: i32, dr: i32, eps: f32, table: usize, interleaved: i32, scratch: usize, scratchStride: i32, start: i32, end: i32, thread: i32): void {
  const wf = normWeight(w, kind, R, scaleInv, bm, bn, scratch + <usize>thread * <usize>scratchStride);
  const W = R + dr;
  for (let t = start; t < end; t++) {
    const dst = at(pool, load<i32>(at(rows, t)) * W), src = at(kva, t * W);
    normRow(dst, src, wf, R, eps);
    memory.copy(at(dst, R), at(src, R), (<usize>dr) << 2);
    rotate(at(dst, R), at(table, t * 2 * dr), dr, interleaved);
  }
}

// ---- Losses over the vocabulary (training): max, then Σ e^(x − max) in float64 lanes.

function rowMax(x: usize, V: i32): f32 {
  let m = f32x4.splat(-Infinity);
  let v = 0;
  for (; v + 4 <= V; v += 4) m = f32x4.max(m, v128.load(at(x, v)));
  let r = max(max(f32x4.extract_lane(m, 0), f32x4.extract_lane(m, 1)), max(f32x4.extract_lane(m, 2), f32x4.extract_lane(m, 3)));
  for (; v < V; v++) r = max(r, load<f32>(at(x, v)));
  return r;
}

/** Σ_v e^(x[v] − mx) in float64; writes e^(x[v] − mx) to out when out ≠ 0 (out may alias x). */
function sumExp(out: usize, x: usize, V: i32, mx: f32): f64 {
  const mv = f32x4.splat(mx);
  let acc = f64x2.splat(0);
  let v = 0;
  for (; v + 4 <= V; v += 4) {
    const e = expv(f32x4.sub(v128.load(at(x, v)), mv));
    if (out) v128.store(at(out, v), e);
    acc = f64x2.add(acc, f64x2.add(f64x2.promote_low_f32x4(e), f64x2.promote_low_f32x4(v128.shuffle<f32>(e, e, 2, 3, 0, 1))));
  }
  let s = f64x2.extract_lane(acc, 0) + f64x2.extract_lane(acc, 1);
  for (; v < V; v++) {
    const e = exp1(load<f32>(at(x, v)) - mx);
    if (out) store<f32>(at(out, v), e);
    s += <f64>e;
  }
  return s;
}

/** out[t] = softmax(x[t]) for rows [start, end). out [T, V], x [T, V] (out may alias x). */
export function softmaxRows(out: usize, x: usize, V: i32, start: i32, end: i32, thread: i32): void {
  const rb = (<usize>V) << 2;
  for (let t = start; t < end; t++) {
    const xr = x + <usize>t * rb, orow = out + <usize>t * rb;
    const inv = f32x4.splat(<f32>(1 / sumExp(orow, xr, V, rowMax(xr, V))));
    let v = 0;
    for (; v + 4 <= V; v += 4) v128.store(at(orow, v), f32x4.mul(v128.load(at(orow, v)), inv));
    for (; v < V; v++) store<f32>(at(orow, v), load<f32>(at(orow, v)) * f32x4.extract_lane(inv, 0));
  }
}

/** losses[t] = logsumexp(logits[t]) − logits[t, targets[t]], 0 where the target is −1, for rows [start, end). */
export function crossEntropyRows(losses: usize, logits: usize, targets: usize, V: i32, start: i32, end: i32, thread: i32): void {
  const rb = (<usize>V) << 2;
  for (let t = start; t < end; t++) {
    const y = load<i32>(at(targets, t));
    if (y < 0) { store<f32>(at(losses, t), 0); continue; }
    const z = logits + <usize>t * rb, mx = rowMax(z, V);
    const lse = <f64>mx + logF64(sumExp(0, z, V, mx));
    store<f32>(at(losses, t), <f32>(lse - <f64>load<f32>(at(z, y))));
  }
}

// ---- MoE dispatch: rows gathered into expert order, and each token's K expert outputs combined with its weights.

/** dst[j] = src[idx[j]] for rows [start, end). dst [N, D], src [*, D], idx i32 [N]. */
export function gatherRows(dst: usize, src: usize, idx: usize, D: i32, start: i32, end: i32, thread: i32): void {
  const rb = (<usize>D) << 2;
  for (let j = start; j < end; j++) memory.copy(dst + <usize>j * rb, src + <usize>load<i32>(at(idx, j)) * rb, rb);
}

/** out[t] = Σ_k weights[t·K + k]·y[row[t·K + k]] for tokens [start, end). out [T, D], y [N, D], row i32 [T·K], weights f32 [T·K]. */
export function combineRows(out: usize, y: usize, row: usize, weights: usize, D: i32, K: i32, start: i32, end: i32, thread: i32): void {
  const rb = (<usize>D) << 2;
  for (let t = start; t < end; t++) {
    const o = out + <usize>t * rb;
    for (let k = 0; k < K; k++) {
      const slot = t * K + k, wt = load<f32>(at(weights, slot)), wv = f32x4.splat(wt);
      const yr = y + <usize>load<i32>(at(row, slot)) * rb;
      let d = 0;
      if (k == 0) {
        for (; d + 4 <= D; d += 4) v128.store(at(o, d), f32x4.mul(wv, v128.load(at(yr, d))));
        for (; d < D; d++) store<f32>(at(o, d), wt * load<f32>(at(yr, d)));
      } else {
        for (; d + 4 <= D; d += 4) v128.store(at(o, d), madd(wv, v128.load(at(yr, d)), v128.load(at(o, d))));
        for (; d < D; d++) store<f32>(at(o, d), load<f32>(at(o, d)) + wt * load<f32>(at(yr, d)));
      }
    }
  }
}
