// AssemblyScript backward of the row and elementwise ops, and the loss: RMSNorm (two calls: rows, then columns for
// dw), SiLU·mul, embedding scatter-add (threads split D, so repeated ids never race), concat, RoPE's transposed
// rotation (cos/sin per token and frequency precomputed by the caller), softmax and cross-entropy with its backward.
// Every gradient is ACCUMULATED (+=) except ropeBackward (in place). Leaves out argument checks (backward.ts does them).
//
// Shapes as in src/kernels/backend.ts; pointers are heap byte offsets, strides elements. Each export ends in
// (start, end, thread) and processes the items named in its comment.

import { madd, expv, logF64, hsum1 } from './ops-math';

@inline function at(p: usize, i: i32): usize { return p + ((<usize>i) << 2); }

/** dst[0..n) += src[0..n). */
function addRow(dst: usize, src: usize, n: i32): void {
  let i = 0;
  for (; i + 4 <= n; i += 4) v128.store(at(dst, i), f32x4.add(v128.load(at(dst, i)), v128.load(at(src, i))));
  for (; i < n; i++) store<f32>(at(dst, i), load<f32>(at(dst, i)) + load<f32>(at(src, i)));
}

// ---- RMSNorm: r = 1/sqrt(mean(x²) + eps), g = dout ⊙ w;  dx += r·g − (r³/D)(g·x)·x;  dw += dout ⊙ x·r.

/** Rows t ∈ [start, end): dx[t] += …, and r[t] stored for rmsnormBackwardDw. dx/x rows at xStride, dout at outStride, w f32 [D]. */
export function rmsnormBackwardDx(dx: usize, rinv: usize, dout: usize, x: usize, w: usize, D: i32, eps: f64,
  xStride: i32, outStride: i32, start: i32, end: i32, thread: i32): void {
  const d4 = D & ~3;
  for (let t = start; t < end; t++) {
    const xr = at(x, t * xStride), gr = at(dout, t * outStride), dr = at(dx, t * xStride);
    let ss = f32x4.splat(0), gx = ss;
    for (let d = 0; d < d4; d += 4) {
      const xv = v128.load(at(xr, d));
      ss = madd(xv, xv, ss);
      gx = madd(f32x4.mul(v128.load(at(gr, d)), v128.load(at(w, d))), xv, gx);
    }
    let ssum = <f64>hsum1(ss), gsum = <f64>hsum1(gx);
    for (let d = d4; d < D; d++) {
      const xv = <f64>load<f32>(at(xr, d));
      ssum += xv * xv;
      gsum += <f64>load<f32>(at(gr, d)) * <f64>load<f32>(at(w, d)) * xv;
    }
    const r = 1 / Math.sqrt(ssum / <f64>D + eps);
    const rf = <f32>r, cf = <f32>(r * r * r * gsum / <f64>D);
    store<f32>(at(rinv, t), rf);
    const rv = f32x4.splat(rf), cv = f32x4.splat(-cf);
    for (let d = 0; d < d4; d += 4) {
      const term = madd(cv, v128.load(at(xr, d)), f32x4.mul(rv, f32x4.mul(v128.load(at(gr, d)), v128.load(at(w, d)))));
      v128.store(at(dr, d), f32x4.add(v128.load(at(dr, d)), term));
    }
    for (let d = d4; d < D; d++) {
      store<f32>(at(dr, d), load<f32>(at(dr, d)) + (rf * load<f32>(at(gr, d)) * load<f32>(at(w, d)) - cf * load<f32>(at(xr, d))));
    }
  }
}

/** Columns d ∈ [start, end): dw[d] += Σ_t dout[t, d]·x[t, d]·r[t]. */
export function rmsnormBackwardDw(dw: usize, rinv: usize, dout: usize, x: usize, T: i32,
  xStride: i32, outStride: i32, start: i32, end: i32, thread: i32): void {
  const e4 = start + ((end - start) & ~3);
  for (let t = 0; t < T; t++) {
    const xr = at(x, t * xStride), gr = at(dout, t * outStride), rv = v128.load32_splat(at(rinv, t)), rf = load<f32>(at(rinv, t));
    for (let d = start; d < e4; d += 4) {
      v128.store(at(dw, d), madd(f32x4.mul(v128.load(at(gr, d)), v128.load(at(xr, d))), rv, v128.load(at(dw, d))));
    }
    for (let d = e4; d < end; d++) store<f32>(at(dw, d), load<f32>(at(dw, d)) + load<f32>(at(gr, d)) * load<f32>(at(xr, d)) * rf);
  }
}

// ---- SiLU·mul: σ = sigmoid(gate);  dgate += dout·up·σ·(1 + gate·(1 − σ)),  dup += dout·gate·σ.

/** Elements i ∈ [start, end). */
export function siluMulBackward(dgate: usize, dup: usize, dout: usize, gate: usize, up: usize, start: i32, end: i32, thread: i32): void {
  const e4 = start + ((end - start) & ~3);
  const one = f32x4.splat(1);
  for (let i = start; i < e4; i += 4) {
    const z = v128.load(at(gate, i)), go = v128.load(at(dout, i));
    const s = f32x4.div(one, f32x4.add(one, expv(f32x4.neg(z))));
    const dg = f32x4.mul(f32x4.mul(go, v128.load(at(up, i))), f32x4.mul(s, madd(z, f32x4.sub(one, s), one)));
    v128.store(at(dgate, i), f32x4.add(v128.load(at(dgate, i)), dg));
    v128.store(at(dup, i), madd(go, f32x4.mul(z, s), v128.load(at(dup, i))));
  }
  for (let i = e4; i < end; i++) {
    const z = load<f32>(at(gate, i)), go = load<f32>(at(dout, i));
    const s: f32 = 1 / (1 + f32x4.extract_lane(expv(f32x4.splat(-z)), 0));
    store<f32>(at(dgate, i), load<f32>(at(dgate, i)) + go * load<f32>(at(up, i)) * s * (1 + z * (1 - s)));
    store<f32>(at(dup, i), load<f32>(at(dup, i)) + go * z * s);
  }
}

// ---- Embedding: dtable[ids[t], d] += dout[t, d]. Threads own columns, so a repeated id is summed by one thread.

/** Columns d ∈ [start, end) of every row. ids i32 [T] (checked by the caller). */
export function embeddingBackward(dtable: usize, dout: usize, ids: usize, T: i32, D: i32, start: i32, end: i32, thread: i32): void {
  for (let t = 0; t < T; t++) {
    const row = load<i32>(at(ids, t));
    addRow(at(dtable, row * D + start), at(dout, t * D + start), end - start);
  }
}

// ---- Concat: da[t] += dout[t, :A], db[t] += dout[t, A:].

/** Rows t ∈ [start, end). */
export function concatBackward(da: usize, db: usize, dout: usize, A: i32, B: i32, start: i32, end: i32, thread: i32): void {
  for (let t = start; t < end; t++) {
    addRow(at(da, t * A), at(dout, t * (A + B)), A);
    addRow(at(db, t * B), at(dout, t * (A + B) + A), B);
  }
}

// ---- RoPE backward, in place: each pair (g0, g1) becomes (g0·cos + g1·sin, g1·cos − g0·sin), cos/sin with mscale.

/**
 * Tokens t ∈ [start, end): every head h of x[t] at (t·H + h)·stride + offset. cs [T, dr] holds each token's
 * [cos₀ … cos_{half−1} | sin₀ … sin_{half−1}]; interleaved pairs are (2i, 2i+1), else (i, i + half).
 */
export function ropeBackward(x: usize, cs: usize, H: i32, stride: i32, offset: i32, dr: i32, interleaved: i32,
  start: i32, end: i32, thread: i32): void {
  const half = dr >> 1, h4 = half & ~3;
  for (let t = start; t < end; t++) {
    const cr = at(cs, t * dr), sr = at(cr, half);
    for (let h = 0; h < H; h++) {
      const base = at(x, (t * H + h) * stride + offset);
      let i = 0;
      if (!interleaved) {
        for (; i < h4; i += 4) {
          const c = v128.load(at(cr, i)), s = v128.load(at(sr, i));
          const g0 = v128.load(at(base, i)), g1 = v128.load(at(base, i + half));
          v128.store(at(base, i), madd(g1, s, f32x4.mul(g0, c)));
          v128.store(at(base, i + half), f32x4.sub(f32x4.mul(g1, c), f32x4.mul(g0, s)));
        }
      }
      for (; i < half; i++) {
        const c = load<f32>(at(cr, i)), s = load<f32>(at(sr, i));
        const j0 = interleaved ? 2 * i : i, j1 = interleaved ? j0 + 1 : j0 + half;
        const g0 = load<f32>(at(base, j0)), g1 = load<f32>(at(base, j1));
        store<f32>(at(base, j0), g0 * c + g1 * s);
        store<f32>(at(base, j1), g1 * c - g0 * s);
      }
    }
  }
}

// ---- Softmax and cross-entropy over rows of V logits (row maximum subtracted; sums of exponentials in f64 per block).

function rowMax(z: usize, V: i32): f32 {
  const v4 = V & ~3;
  let m = f32x4.splat(-Infinity);
  for (let v = 0; v < v4; v += 4) m = f32x4.max(m, v128.load(at(z, v)));
  let s = max(max(f32x4.extract_lane(m, 0), f32x4.extract_lane(m, 1)), max(f32x4.extract_lane(m, 2), f32x4.extract_lane(m, 3)));
  for (let v = v4; v < V; v++) s = max(s, load<f32>(at(z, v)));
  return s;
}

/** Σ_v exp(z[v] − mx): f32 lanes over blocks of 512, each block's sum added in f64. */
function expSum(z: usize, V: i32, mx: f32): f64 {
  const v4 = V & ~3, mv = f32x4.splat(mx);
  let total: f64 = 0;
  for (let b = 0; b < v4; b += 512) {
    const e = min(v4, b + 512);
    let acc = f32x4.splat(0);
    for (let v = b; v < e; v += 4) acc = f32x4.add(acc, expv(f32x4.sub(v128.load(at(z, v)), mv)));
    total += <f64>hsum1(acc);
  }
  for (let v = v4; v < V; v++) total += <f64>f32x4.extract_lane(expv(f32x4.splat(load<f32>(at(z, v)) - mx)), 0);
  return total;
}

/** out[v] = exp(z[v] − mx)·k, or out[v] += that when accumulating (k = 1/Σ exp gives the softmax, times a scale). */
function putSoftmax(out: usize, z: usize, V: i32, mx: f32, k: f32, accumulate: bool): void {
  const v4 = V & ~3, mv = f32x4.splat(mx), kv = f32x4.splat(k);
  for (let v = 0; v < v4; v += 4) {
    const p = f32x4.mul(expv(f32x4.sub(v128.load(at(z, v)), mv)), kv);
    v128.store(at(out, v), accumulate ? f32x4.add(v128.load(at(out, v)), p) : p);
  }
  for (let v = v4; v < V; v++) {
    const p = f32x4.extract_lane(expv(f32x4.splat(load<f32>(at(z, v)) - mx)), 0) * k;
    store<f32>(at(out, v), accumulate ? load<f32>(at(out, v)) + p : p);
  }
}

/** Rows t ∈ [start, end): out[t] = softmax(x[t]). */
export function lossSoftmax(out: usize, x: usize, V: i32, start: i32, end: i32, thread: i32): void {
  for (let t = start; t < end; t++) {
    const z = at(x, t * V), mx = rowMax(z, V);
    putSoftmax(at(out, t * V), z, V, mx, <f32>(1 / expSum(z, V, mx)), false);
  }
}

/** Rows t ∈ [start, end): losses[t] = logsumexp(logits[t]) − logits[t, targets[t]], 0 where the target is −1. */
export function lossCrossEntropy(losses: usize, logits: usize, targets: usize, V: i32, start: i32, end: i32, thread: i32): void {
  for (let t = start; t < end; t++) {
    const y = load<i32>(at(targets, t)), z = at(logits, t * V);
    if (y < 0) { store<f32>(at(losses, t), 0); continue; }
    const mx = rowMax(z, V);
    store<f32>(at(losses, t), <f32>(<f64>mx + logF64(expSum(z, V, mx)) - <f64>load<f32>(at(z, y))));
  }
}

/** Rows t ∈ [start, end): dlogits[t] += (softmax(logits[t]) − onehot(targets[t]))·scale; rows with target −1 skipped. */
export function lossCrossEntropyBackward(dlogits: usize, logits: usize, targets: usize, scale: f32, V: i32,
  start: i32, end: i32, thread: i32): void {
  for (let t = start; t < end; t++) {
    const y = load<i32>(at(targets, t));
    if (y < 0) continue;
    const z = at(logits, t * V), mx = rowMax(z, V), dz = at(dlogits, t * V);
    putSoftmax(dz, z, V, mx, <f32>(<f64>scale / expSum(z, V, mx)), true);
    store<f32>(at(dz, y), load<f32>(at(dz, y)) - scale);
  }
}
