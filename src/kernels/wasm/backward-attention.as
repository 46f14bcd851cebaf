// AssemblyScript causal MLA attention for training (one sequence, no cache) and its backward, probabilities
// recomputed per (token, head). Threads split the heads: q, dq, out and a head's columns of kv/dkv belong to one
// thread. dkRope sums over heads, so each thread adds into its own partial [T, dr] (part + thread·T·dr, zeroed by
// the caller) and attnSumParts adds the partials into dkRope in a second call. Leaves out blocking over keys
// (flash-style tiles): each (t, h) streams its keys 0..t once for the scores and once for the gradients.
//
// Shapes as in src/kernels/backend.ts: q [T, H·(dn+dr)], kv [T, H·(dn+dv)] = [k_nope | v] per head, kRope [T, dr],
// out/dout [T, H·dv]. Pointers are heap byte offsets. The forward keeps p [T] in the thread's scratch
// (scratchBase + thread·scratchBytes; the caller checks 4·T + 16 bytes fit); the backward's p and z of a block of
// queries live in a caller-allocated work area (no limit on T).

import { madd, expv } from './ops-math';

@inline function at(p: usize, i: i32): usize { return p + ((<usize>i) << 2); }

/** Σ a[i]·b[i] over n values. */
function dot(a: usize, b: usize, n: i32): f32 {
  let c0 = f32x4.splat(0), c1 = c0;
  let i = 0;
  for (; i + 8 <= n; i += 8) {
    c0 = madd(v128.load(at(a, i)), v128.load(at(b, i)), c0);
    c1 = madd(v128.load(at(a, i), 16), v128.load(at(b, i), 16), c1);
  }
  if (i + 4 <= n) { c0 = madd(v128.load(at(a, i)), v128.load(at(b, i)), c0); i += 4; }
  const c = f32x4.add(c0, c1);
  let s = f32x4.extract_lane(c, 0) + f32x4.extract_lane(c, 1) + f32x4.extract_lane(c, 2) + f32x4.extract_lane(c, 3);
  for (; i < n; i++) s += load<f32>(at(a, i)) * load<f32>(at(b, i));
  return s;
}

/** y[0..n) += a·x[0..n). */
function axpy(y: usize, a: f32, x: usize, n: i32): void {
  const av = f32x4.splat(a);
  let i = 0;
  for (; i + 4 <= n; i += 4) v128.store(at(y, i), madd(av, v128.load(at(x, i)), v128.load(at(y, i))));
  for (; i < n; i++) store<f32>(at(y, i), load<f32>(at(y, i)) + a * load<f32>(at(x, i)));
}

/** p[0..t] = softmax over j ≤ t of scale·(q[:dn]·kv[j, h, :dn] + q[dn:]·kRope[j]); qb points at q[t, h]. */
function probabilities(p: usize, qb: usize, kv: usize, kRope: usize, t: i32, h: i32, H: i32, dn: i32, dr: i32, dv: i32, scale: f32): void {
  const KW = dn + dv;
  let mx: f32 = -Infinity;
  for (let j = 0; j <= t; j++) {
    const s = scale * (dot(qb, at(kv, (j * H + h) * KW), dn) + dot(at(qb, dn), at(kRope, j * dr), dr));
    store<f32>(at(p, j), s);
    mx = max(mx, s);
  }
  const n = t + 1, n4 = n & ~3, mv = f32x4.splat(mx);
  let acc = f32x4.splat(0);
  for (let j = 0; j < n4; j += 4) {
    const e = expv(f32x4.sub(v128.load(at(p, j)), mv));
    v128.store(at(p, j), e);
    acc = f32x4.add(acc, e);
  }
  let sum = <f64>f32x4.extract_lane(acc, 0) + <f64>f32x4.extract_lane(acc, 1) + <f64>f32x4.extract_lane(acc, 2) + <f64>f32x4.extract_lane(acc, 3);
  for (let j = n4; j < n; j++) {
    const e = f32x4.extract_lane(expv(f32x4.splat(load<f32>(at(p, j)) - mx)), 0);
    store<f32>(at(p, j), e);
    sum += <f64>e;
  }
  const inv = f32x4.splat(<f32>(1 / sum));
  let j = 0;
  for (; j < n4; j += 4) v128.store(at(p, j), f32x4.mul(v128.load(at(p, j)), inv));
  for (; j < n; j++) store<f32>(at(p, j), load<f32>(at(p, j)) * f32x4.extract_lane(inv, 0));
}

@inline function scratchAt(base: usize, bytes: i32, thread: i32): usize { return base + <usize>thread * <usize>bytes; }

/** Heads h ∈ [start, end): out[t, h] = Σ_{j ≤ t} p_j·v[j, h]. */
export function attnTrainForward(out: usize, q: usize, kv: usize, kRope: usize, T: i32, H: i32, dn: i32, dr: i32, dv: i32, scale: f32,
  scratchBase: usize, scratchBytes: i32, start: i32, end: i32, thread: i32): void {
  const p = scratchAt(scratchBase, scratchBytes, thread), QW = dn + dr, KW = dn + dv;
  for (let h = start; h < end; h++) {
    for (let t = 0; t < T; t++) {
      probabilities(p, at(q, (t * H + h) * QW), kv, kRope, t, h, H, dn, dr, dv, scale);
      const ob = at(out, (t * H + h) * dv);
      memory.fill(ob, 0, (<usize>dv) << 2);
      for (let j = 0; j <= t; j++) axpy(ob, load<f32>(at(p, j)), at(kv, (j * H + h) * KW + dn), dv);
    }
  }
}

/** y[0..n) += a0·x0 + a1·x1 + a2·x2 + a3·x3 (four queries into one key's gradient row). */
function axpy4(y: usize, a0: f32, a1: f32, a2: f32, a3: f32, x0: usize, x1: usize, x2: usize, x3: usize, n: i32): void {
  const v0 = f32x4.splat(a0), v1 = f32x4.splat(a1), v2 = f32x4.splat(a2), v3 = f32x4.splat(a3);
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    let acc = madd(v0, v128.load(at(x0, i)), v128.load(at(y, i)));
    acc = madd(v1, v128.load(at(x1, i)), acc);
    acc = madd(v2, v128.load(at(x2, i)), acc);
    v128.store(at(y, i), madd(v3, v128.load(at(x3, i)), acc));
  }
  for (; i < n; i++) {
    store<f32>(at(y, i), load<f32>(at(y, i)) + a0 * load<f32>(at(x0, i)) + a1 * load<f32>(at(x1, i)) + a2 * load<f32>(at(x2, i)) + a3 * load<f32>(at(x3, i)));
  }
}

/** y_b[0..n) += a_b·x[0..n) for b < 4 (one key into four queries' gradient rows; the y_b must not overlap). */
function spread4(y0: usize, y1: usize, y2: usize, y3: usize, a0: f32, a1: f32, a2: f32, a3: f32, x: usize, n: i32): void {
  const v0 = f32x4.splat(a0), v1 = f32x4.splat(a1), v2 = f32x4.splat(a2), v3 = f32x4.splat(a3);
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const xv = v128.load(at(x, i));
    v128.store(at(y0, i), madd(v0, xv, v128.load(at(y0, i))));
    v128.store(at(y1, i), madd(v1, xv, v128.load(at(y1, i))));
    v128.store(at(y2, i), madd(v2, xv, v128.load(at(y2, i))));
    v128.store(at(y3, i), madd(v3, xv, v128.load(at(y3, i))));
  }
  for (; i < n; i++) {
    const xs = load<f32>(at(x, i));
    store<f32>(at(y0, i), load<f32>(at(y0, i)) + a0 * xs); store<f32>(at(y1, i), load<f32>(at(y1, i)) + a1 * xs);
    store<f32>(at(y2, i), load<f32>(at(y2, i)) + a2 * xs); store<f32>(at(y3, i), load<f32>(at(y3, i)) + a3 * xs);
  }
}

/**
 * z[j] = scale·p_j·(dp_j − Σ_i p_i·dp_i), dp_j = g·v[j, h], for keys j ≤ t; p[j] and z[j] zeroed for t < j < n
 * (so a block of queries can run over the keys of its last one).
 */
function scoreGradients(z: usize, p: usize, gb: usize, kv: usize, t: i32, n: i32, h: i32, H: i32, dn: i32, dv: i32, scale: f32): void {
  const KW = dn + dv;
  let pdp: f64 = 0;
  for (let j = 0; j <= t; j++) {
    const d = dot(gb, at(kv, (j * H + h) * KW + dn), dv);
    store<f32>(at(z, j), d);
    pdp += <f64>load<f32>(at(p, j)) * <f64>d;
  }
  const pf = <f32>pdp;
  for (let j = 0; j <= t; j++) store<f32>(at(z, j), scale * load<f32>(at(p, j)) * (load<f32>(at(z, j)) - pf));
  for (let j = t + 1; j < n; j++) { store<f32>(at(z, j), 0); store<f32>(at(p, j), 0); }
}

/** Queries in a block: each key's rows (k, v, kRope, dkv, part) are read and written once per block, not per query. */
const QB: i32 = 4;

/**
 * Heads h ∈ [start, end), accumulating. Per (t, h), g = dout[t, h]: dp_j = g·v_j, z_j = scale·p_j·(dp_j − Σ_i p_i·dp_i);
 *   dq[t,h,:dn] += Σ_j z_j·k_nope[j,h]   dq[t,h,dn:] += Σ_j z_j·kRope[j]
 *   dkv[j,h,:dn] += z_j·q[t,h,:dn]       dkv[j,h,dn:] += p_j·g        part[thread][j] += z_j·q[t,h,dn:]
 * Queries go in blocks of QB over the keys of the block's last query (the others' p and z are 0 past their own t).
 * work: per thread 2·QB arrays of Tp = T rounded up to 4 f32 (p then z of each query), at work + thread·2·QB·Tp·4.
 */
export function attnTrainBackward(dq: usize, dkv: usize, part: usize, work: usize, dout: usize, q: usize, kv: usize, kRope: usize,
  T: i32, H: i32, dn: i32, dr: i32, dv: i32, scale: f32, start: i32, end: i32, thread: i32): void {
  const Tp = (T + 3) & ~3, QW = dn + dr, KW = dn + dv;
  const w = work + <usize>thread * <usize>(2 * QB * Tp) * 4, pr = part + <usize>thread * <usize>T * <usize>dr * 4;
  const P0 = w, P1 = at(P0, Tp), P2 = at(P1, Tp), P3 = at(P2, Tp), Z0 = at(P3, Tp), Z1 = at(Z0, Tp), Z2 = at(Z1, Tp), Z3 = at(Z2, Tp);
  for (let h = start; h < end; h++) {
    let t0 = 0;
    for (; t0 + QB <= T; t0 += QB) {
      const n = t0 + QB;
      const r0 = (t0 * H + h), r1 = r0 + H, r2 = r1 + H, r3 = r2 + H;
      const q0 = at(q, r0 * QW), q1 = at(q, r1 * QW), q2 = at(q, r2 * QW), q3 = at(q, r3 * QW);
      const g0 = at(dout, r0 * dv), g1 = at(dout, r1 * dv), g2 = at(dout, r2 * dv), g3 = at(dout, r3 * dv);
      const d0 = at(dq, r0 * QW), d1 = at(dq, r1 * QW), d2 = at(dq, r2 * QW), d3 = at(dq, r3 * QW);
      probabilities(P0, q0, kv, kRope, t0, h, H, dn, dr, dv, scale); scoreGradients(Z0, P0, g0, kv, t0, n, h, H, dn, dv, scale);
      probabilities(P1, q1, kv, kRope, t0 + 1, h, H, dn, dr, dv, scale); scoreGradients(Z1, P1, g1, kv, t0 + 1, n, h, H, dn, dv, scale);
      probabilities(P2, q2, kv, kRope, t0 + 2, h, H, dn, dr, dv, scale); scoreGradients(Z2, P2, g2, kv, t0 + 2, n, h, H, dn, dv, scale);
      probabilities(P3, q3, kv, kRope, t0 + 3, h, H, dn, dr, dv, scale); scoreGradients(Z3, P3, g3, kv, t0 + 3, n, h, H, dn, dv, scale);
      for (let j = 0; j < n; j++) {
        const kb = at(kv, (j * H + h) * KW), dkb = at(dkv, (j * H + h) * KW), rb = at(kRope, j * dr);
        const z0 = load<f32>(at(Z0, j)), z1 = load<f32>(at(Z1, j)), z2 = load<f32>(at(Z2, j)), z3 = load<f32>(at(Z3, j));
        axpy4(at(dkb, dn), load<f32>(at(P0, j)), load<f32>(at(P1, j)), load<f32>(at(P2, j)), load<f32>(at(P3, j)), g0, g1, g2, g3, dv);
        axpy4(dkb, z0, z1, z2, z3, q0, q1, q2, q3, dn);
        axpy4(at(pr, j * dr), z0, z1, z2, z3, at(q0, dn), at(q1, dn), at(q2, dn), at(q3, dn), dr);
        spread4(d0, d1, d2, d3, z0, z1, z2, z3, kb, dn);
        spread4(at(d0, dn), at(d1, dn), at(d2, dn), at(d3, dn), z0, z1, z2, z3, rb, dr);
      }
    }
    for (let t = t0; t < T; t++) {
      const qb = at(q, (t * H + h) * QW), dqb = at(dq, (t * H + h) * QW), gb = at(dout, (t * H + h) * dv);
      probabilities(P0, qb, kv, kRope, t, h, H, dn, dr, dv, scale);
      scoreGradients(Z0, P0, gb, kv, t, t + 1, h, H, dn, dv, scale);
      for (let j = 0; j <= t; j++) {
        const pj = load<f32>(at(P0, j)), z = load<f32>(at(Z0, j));
        const kb = at(kv, (j * H + h) * KW), dkb = at(dkv, (j * H + h) * KW), rb = at(kRope, j * dr);
        axpy(at(dkb, dn), pj, gb, dv);
        axpy(dqb, z, kb, dn);
        axpy(at(dqb, dn), z, rb, dr);
        axpy(dkb, z, qb, dn);
        axpy(at(pr, j * dr), z, at(qb, dn), dr);
      }
    }
  }
}

/** Elements i ∈ [start, end): dst[i] += Σ_{k < parts} part[k·n + i]. */
export function attnSumParts(dst: usize, part: usize, n: i32, parts: i32, start: i32, end: i32, thread: i32): void {
  for (let k = 0; k < parts; k++) {
    const src = part + <usize>k * <usize>n * 4;
    let i = start;
    for (; i + 4 <= end; i += 4) v128.store(at(dst, i), f32x4.add(v128.load(at(dst, i)), v128.load(at(src, i))));
    for (; i < end; i++) store<f32>(at(dst, i), load<f32>(at(dst, i)) + load<f32>(at(src, i)));
  }
}
