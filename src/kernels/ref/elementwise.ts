// Reference elementwise and row ops: embedding gather, RMSNorm, residual add, SiLU·mul, row concat, and their
// backwards (add and copy need no backward kernel: their gradient is passed on with an add).

import type { Tensor } from '../../tensor/tensor.js';
import { f32, i32 } from '../../tensor/tensor.js';
import { rowReader, vectorAsF32 } from './weights.js';

export function embedding(out: Tensor, ids: Tensor, table: Tensor, T: number, D: number): void {
  const o = f32(out), id = i32(ids);
  const V = table.shape[0];
  const read = rowReader(table, D);
  const row = new Float32Array(D);
  for (let t = 0; t < T; t++) {
    if (id[t] < 0 || id[t] >= V) throw new Error(`embedding: token id ${id[t]} at position ${t} is outside the vocabulary (0..${V - 1})`);
    read(id[t], row);
    o.set(row, t * D);
  }
}

export function rmsnorm(out: Tensor, x: Tensor, w: Tensor, T: number, D: number, eps: number, xStride = D, outStride = D): void {
  const o = f32(out), xa = f32(x), wa = vectorAsF32(w, D);
  for (let t = 0; t < T; t++) {
    const xb = t * xStride, ob = t * outStride;
    let ss = 0;
    for (let d = 0; d < D; d++) ss += xa[xb + d] * xa[xb + d];
    const inv = 1 / Math.sqrt(ss / D + eps);
    for (let d = 0; d < D; d++) o[ob + d] = wa[d] * (xa[xb + d] * inv);
  }
}

export function copy(out: Tensor, src: Tensor, n: number): void {
  f32(out).set(f32(src).subarray(0, n));
}

export function add(out: Tensor, a: Tensor, b: Tensor, n: number): void {
  const o = f32(out), aa = f32(a), ba = f32(b);
  for (let i = 0; i < n; i++) o[i] = aa[i] + ba[i];
}

export function siluMul(out: Tensor, gate: Tensor, up: Tensor, n: number): void {
  const o = f32(out), g = f32(gate), u = f32(up);
  for (let i = 0; i < n; i++) o[i] = (g[i] / (1 + Math.exp(-g[i]))) * u[i];
}

export function concat(out: Tensor, a: Tensor, b: Tensor, T: number, A: number, B: number): void {
  const o = f32(out), aa = f32(a), ba = f32(b);
  for (let t = 0; t < T; t++) {
    o.set(aa.subarray(t * A, t * A + A), t * (A + B));
    o.set(ba.subarray(t * B, t * B + B), t * (A + B) + A);
  }
}

// ---- Backward. Every kernel below ACCUMULATES (+=) into its gradient outputs, so callers zero them once and may
// sum several contributions (a residual stream, a weight used twice). Gradient tensors must be f32.

/** The f32 view of a gradient tensor; a clear error naming the kernel and the argument when it is not f32. */
export function gradF32(t: Tensor, kernel: string, arg: string): Float32Array {
  if (t.dtype !== 'f32') throw new Error(`${kernel}: gradient ${arg} must be f32 (got ${t.dtype})`);
  return f32(t);
}

/**
 * Backward of `embedding`: scatter-add, dtable[ids[t], :] += dout[t, :]; repeated ids accumulate. ACCUMULATES.
 * dtable [V, D] (f32), dout [T, D], ids i32 [T].
 */
export function embeddingBackward(dtable: Tensor, dout: Tensor, ids: Tensor, T: number, D: number): void {
  const dt = gradF32(dtable, 'embeddingBackward', 'dtable'), g = f32(dout), id = i32(ids);
  const V = dtable.shape[0];
  for (let t = 0; t < T; t++) {
    if (id[t] < 0 || id[t] >= V) throw new Error(`embeddingBackward: token id ${id[t]} at position ${t} is outside the vocabulary (0..${V - 1})`);
    const tb = id[t] * D, gb = t * D;
    for (let d = 0; d < D; d++) dt[tb + d] += g[gb + d];
  }
}

/**
 * Backward of `rmsnorm`. ACCUMULATES into dx and dw. With r = 1/sqrt(mean(x²) + eps) and g = dout ⊙ w, per row:
 *   dx = r·g − (r³/D)·(g·x)·x        dw += dout ⊙ x·r
 * dx [T, D] rows at xStride (laid out like x; must not alias dout), dw [D] (f32), dout [T, D] rows at outStride
 * (laid out like the forward's out), x [T, D] rows at xStride (the forward's INPUT), w [D] (any weight dtype).
 */
export function rmsnormBackward(dx: Tensor, dw: Tensor, dout: Tensor, x: Tensor, w: Tensor, T: number, D: number, eps: number,
  xStride = D, outStride = D): void {
  const dxa = gradF32(dx, 'rmsnormBackward', 'dx'), dwa = gradF32(dw, 'rmsnormBackward', 'dw');
  const g = f32(dout), xa = f32(x), wa = vectorAsF32(w, D);
  const dwAcc = new Float64Array(D);
  for (let t = 0; t < T; t++) {
    const xb = t * xStride, gb = t * outStride;
    let ss = 0, gx = 0;
    for (let d = 0; d < D; d++) { ss += xa[xb + d] * xa[xb + d]; gx += g[gb + d] * wa[d] * xa[xb + d]; }
    const r = 1 / Math.sqrt(ss / D + eps);
    const c = (r * r * r * gx) / D;
    for (let d = 0; d < D; d++) {
      dxa[xb + d] += r * g[gb + d] * wa[d] - c * xa[xb + d];
      dwAcc[d] += g[gb + d] * xa[xb + d] * r;
    }
  }
  for (let d = 0; d < D; d++) dwa[d] += dwAcc[d];
}

/**
 * Backward of `siluMul` (out = silu(gate) ⊙ up). ACCUMULATES. With σ = sigmoid(gate):
 *   dgate += dout·up·σ·(1 + gate·(1 − σ))      dup += dout·gate·σ
 * dgate, dup, dout, gate, up: n values each; dgate/dup must not alias dout.
 */
export function siluMulBackward(dgate: Tensor, dup: Tensor, dout: Tensor, gate: Tensor, up: Tensor, n: number): void {
  const dg = gradF32(dgate, 'siluMulBackward', 'dgate'), du = gradF32(dup, 'siluMulBackward', 'dup');
  const go = f32(dout), ga = f32(gate), ua = f32(up);
  for (let i = 0; i < n; i++) {
    const z = ga[i], sig = 1 / (1 + Math.exp(-z));
    dg[i] += go[i] * ua[i] * sig * (1 + z * (1 - sig));
    du[i] += go[i] * z * sig;
  }
}

/** Backward of `concat`: da[t] += dout[t, :A], db[t] += dout[t, A:]. ACCUMULATES. da [T, A], db [T, B], dout [T, A + B]. */
export function concatBackward(da: Tensor, db: Tensor, dout: Tensor, T: number, A: number, B: number): void {
  const aa = gradF32(da, 'concatBackward', 'da'), ba = gradF32(db, 'concatBackward', 'db'), g = f32(dout);
  for (let t = 0; t < T; t++) {
    const gb = t * (A + B);
    for (let i = 0; i < A; i++) aa[t * A + i] += g[gb + i];
    for (let i = 0; i < B; i++) ba[t * B + i] += g[gb + A + i];
  }
}
