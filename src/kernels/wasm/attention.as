// AssemblyScript MLA attention (twins of src/kernels/ref/attention.ts's inference forms): flash-style prefill over
// kv_b's expanded keys/values, latent decode over the cache, and the per-head absorption of W_UK / W_UV.
// Both attentions share one core: QT = 4 queries (prefill: 4 tokens of one head; decode: 4 heads of one sequence)
// against key tiles of KT = 24 with an online softmax, so no score matrix over all keys is ever stored. Decode with
// many heads takes a second form (mlaLatentDecode, below): two GEMMs per block of cached rows, for up to G heads.
// Leaves out: f16 weights (reference path) and training's cache-free attention (backward*.as).
// Shapes: T queries, S keys, H heads, dn/dr/dv nope/rope/value dims, R latent rank, B sequences. Pointers are byte
// offsets; each export runs items [start, end) on thread `thread` with scratch at scratch + thread·scratchStride.

import { madd, expv, hsum4, decodeRow } from './ops-math';
import { NR, tile3, tile1, packPanels } from './microkernel';

const QT: i32 = 4;   // queries per tile (the 4 lanes of every score vector)
const KT: i32 = 24;  // keys per tile (four groups of six)
const RC: i32 = 64;  // latent columns per absorb-query item
const JC: i32 = 16;  // W_UV rows per absorb-output item

@inline function at(p: usize, i: i32): usize { return p + ((<usize>i) << 2); }

/**
 * The online-softmax core for QT queries. Query i (< qn real ones; the others repeat query 0 and are not stored) has
 * parts a (dA values at qa + i·qas) and b (dB at qb + i·qbs); key j has parts at ka + j·kas and kb + j·kbs and value
 * (dv) at va + j·vas; query i sees keys j < min(nKeys, vis0 + i·visStep). out_i (dv at o + i·os) = Σ_j p_ij·v_j with
 * p_i = softmax_j(scale·(q_i·k_j)). Scratch: the queries packed by dimension ([dA + dB][4], times scale), the tile's
 * scores and probabilities ([KT][4] each), the correction factors and the accumulators [4][dv].
 */
function flash(o: usize, os: usize, qa: usize, qas: usize, qb: usize, qbs: usize, dA: i32, dB: i32,
  ka: usize, kas: usize, kb: usize, kbs: usize, va: usize, vas: usize, dv: i32,
  nKeys: i32, vis0: i32, visStep: i32, qn: i32, scale: f32, scr: usize): void {
  const qp = scr, sc = qp + <usize>((dA + dB) * 16), pr = sc + <usize>(KT * 16), cr = pr + <usize>(KT * 16), acc = cr + 16;
  const accS = (<usize>dv) << 2;
  // Pack the queries: qp[d][i] = scale·q_i[d].
  for (let i = 0; i < QT; i++) {
    const ii = i < qn ? i : 0, a = qa + <usize>ii * qas, b = qb + <usize>ii * qbs;
    for (let d = 0; d < dA; d++) store<f32>(qp + <usize>(d * 16 + i * 4), load<f32>(at(a, d)) * scale);
    for (let d = 0; d < dB; d++) store<f32>(qp + <usize>((dA + d) * 16 + i * 4), load<f32>(at(b, d)) * scale);
  }
  memory.fill(acc, 0, <usize>QT * accS);
  // Keys visible to each lane (the repeated lanes see what query 0 sees).
  let visLast = min(nKeys, vis0 + (qn - 1) * visStep);
  let vis = i32x4.splat(min(nKeys, vis0));
  if (qn > 1) vis = i32x4.replace_lane(vis, 1, min(nKeys, vis0 + visStep));
  if (qn > 2) vis = i32x4.replace_lane(vis, 2, min(nKeys, vis0 + 2 * visStep));
  if (qn > 3) vis = i32x4.replace_lane(vis, 3, min(nKeys, vis0 + 3 * visStep));
  const negInf = f32x4.splat(-Infinity);
  let m = negInf, l = f32x4.splat(0);
  for (let j0 = 0; j0 < visLast; j0 += KT) {
    const kl = min(KT, visLast - j0);
    // Scores, six keys at a time: six multiply-add chains (an FMA's result is ready four to five cycles later, so four
    // chains left the two pipes idle half the time; six leave room in V8's 15 vector registers for the query and the
    // broadcasts). Keys past visLast repeat key j0 and are masked like any invisible key.
    for (let g = 0; g < kl; g += 6) {
      const j = j0 + g;
      const j1 = g + 1 < kl ? j + 1 : j0, j2 = g + 2 < kl ? j + 2 : j0, j3 = g + 3 < kl ? j + 3 : j0;
      const j4 = g + 4 < kl ? j + 4 : j0, j5 = g + 5 < kl ? j + 5 : j0;
      let s0 = f32x4.splat(0), s1 = s0, s2 = s0, s3 = s0, s4 = s0, s5 = s0;
      let k0 = ka + <usize>j * kas, k1 = ka + <usize>j1 * kas, k2 = ka + <usize>j2 * kas;
      let k3 = ka + <usize>j3 * kas, k4 = ka + <usize>j4 * kas, k5 = ka + <usize>j5 * kas;
      for (let d = 0; d < dA; d++) {
        const q = v128.load(qp + <usize>(d * 16)), db = (<usize>d) << 2;
        s0 = madd(q, v128.load32_splat(k0 + db), s0); s1 = madd(q, v128.load32_splat(k1 + db), s1);
        s2 = madd(q, v128.load32_splat(k2 + db), s2); s3 = madd(q, v128.load32_splat(k3 + db), s3);
        s4 = madd(q, v128.load32_splat(k4 + db), s4); s5 = madd(q, v128.load32_splat(k5 + db), s5);
      }
      k0 = kb + <usize>j * kbs; k1 = kb + <usize>j1 * kbs; k2 = kb + <usize>j2 * kbs;
      k3 = kb + <usize>j3 * kbs; k4 = kb + <usize>j4 * kbs; k5 = kb + <usize>j5 * kbs;
      for (let d = 0; d < dB; d++) {
        const q = v128.load(qp + <usize>((dA + d) * 16)), db = (<usize>d) << 2;
        s0 = madd(q, v128.load32_splat(k0 + db), s0); s1 = madd(q, v128.load32_splat(k1 + db), s1);
        s2 = madd(q, v128.load32_splat(k2 + db), s2); s3 = madd(q, v128.load32_splat(k3 + db), s3);
        s4 = madd(q, v128.load32_splat(k4 + db), s4); s5 = madd(q, v128.load32_splat(k5 + db), s5);
      }
      // Lane i of key j is visible when j < vis_i.
      const sg = sc + <usize>(g * 16);
      v128.store(sg, v128.bitselect(s0, negInf, i32x4.gt_s(vis, i32x4.splat(j))));
      v128.store(sg, v128.bitselect(s1, negInf, i32x4.gt_s(vis, i32x4.splat(g + 1 < kl ? j + 1 : 0x7FFFFFFF))), 16);
      v128.store(sg, v128.bitselect(s2, negInf, i32x4.gt_s(vis, i32x4.splat(g + 2 < kl ? j + 2 : 0x7FFFFFFF))), 32);
      v128.store(sg, v128.bitselect(s3, negInf, i32x4.gt_s(vis, i32x4.splat(g + 3 < kl ? j + 3 : 0x7FFFFFFF))), 48);
      v128.store(sg, v128.bitselect(s4, negInf, i32x4.gt_s(vis, i32x4.splat(g + 4 < kl ? j + 4 : 0x7FFFFFFF))), 64);
      v128.store(sg, v128.bitselect(s5, negInf, i32x4.gt_s(vis, i32x4.splat(g + 5 < kl ? j + 5 : 0x7FFFFFFF))), 80);
    }
    let tileMax = negInf;
    for (let jj = 0; jj < kl; jj++) tileMax = f32x4.max(tileMax, v128.load(sc + <usize>(jj * 16)));
    // Online softmax: every lane has seen key 0 in the first tile, so mNew is finite; corr is ~0 on the first tile.
    const mNew = f32x4.max(m, tileMax);
    const corr = expv(f32x4.sub(m, mNew));
    v128.store(cr, corr);
    let lsum = f32x4.splat(0);
    for (let jj = 0; jj < kl; jj++) {
      const s = v128.load(sc + <usize>(jj * 16));
      const p = v128.and(expv(f32x4.sub(s, mNew)), f32x4.ne(s, negInf));
      v128.store(pr + <usize>(jj * 16), p);
      lsum = f32x4.add(lsum, p);
    }
    l = madd(l, corr, lsum);
    m = mNew;
    // acc_i = corr_i·acc_i + Σ_j p_ij·v_j, eight value columns at a time (eight chains), then four, then one.
    const vt = va + <usize>j0 * vas;
    let d = 0;
    for (; d + 8 <= dv; d += 8) {
      const db = (<usize>d) << 2, a1 = acc + accS + db, a2 = acc + 2 * accS + db, a3 = acc + 3 * accS + db;
      let p = v128.load32_splat(cr);
      let c0 = f32x4.mul(v128.load(acc + db), p), e0 = f32x4.mul(v128.load(acc + db, 16), p);
      p = v128.load32_splat(cr, 4);
      let c1 = f32x4.mul(v128.load(a1), p), e1 = f32x4.mul(v128.load(a1, 16), p);
      p = v128.load32_splat(cr, 8);
      let c2 = f32x4.mul(v128.load(a2), p), e2 = f32x4.mul(v128.load(a2, 16), p);
      p = v128.load32_splat(cr, 12);
      let c3 = f32x4.mul(v128.load(a3), p), e3 = f32x4.mul(v128.load(a3, 16), p);
      for (let jj = 0; jj < kl; jj++) {
        const vj = vt + <usize>jj * vas + db, v = v128.load(vj), w = v128.load(vj, 16), pj = pr + <usize>(jj * 16);
        p = v128.load32_splat(pj); c0 = madd(p, v, c0); e0 = madd(p, w, e0);
        p = v128.load32_splat(pj, 4); c1 = madd(p, v, c1); e1 = madd(p, w, e1);
        p = v128.load32_splat(pj, 8); c2 = madd(p, v, c2); e2 = madd(p, w, e2);
        p = v128.load32_splat(pj, 12); c3 = madd(p, v, c3); e3 = madd(p, w, e3);
      }
      v128.store(acc + db, c0); v128.store(acc + db, e0, 16); v128.store(a1, c1); v128.store(a1, e1, 16);
      v128.store(a2, c2); v128.store(a2, e2, 16); v128.store(a3, c3); v128.store(a3, e3, 16);
    }
    for (; d + 4 <= dv; d += 4) {
      const db = (<usize>d) << 2;
      let c0 = f32x4.mul(v128.load(acc + db), v128.load32_splat(cr));
      let c1 = f32x4.mul(v128.load(acc + accS + db), v128.load32_splat(cr, 4));
      let c2 = f32x4.mul(v128.load(acc + 2 * accS + db), v128.load32_splat(cr, 8));
      let c3 = f32x4.mul(v128.load(acc + 3 * accS + db), v128.load32_splat(cr, 12));
      for (let jj = 0; jj < kl; jj++) {
        const v = v128.load(vt + <usize>jj * vas + db), pj = pr + <usize>(jj * 16);
        c0 = madd(v128.load32_splat(pj), v, c0); c1 = madd(v128.load32_splat(pj, 4), v, c1);
        c2 = madd(v128.load32_splat(pj, 8), v, c2); c3 = madd(v128.load32_splat(pj, 12), v, c3);
      }
      v128.store(acc + db, c0); v128.store(acc + accS + db, c1); v128.store(acc + 2 * accS + db, c2); v128.store(acc + 3 * accS + db, c3);
    }
    for (; d < dv; d++) {
      for (let i = 0; i < QT; i++) {
        const ad = acc + <usize>i * accS + ((<usize>d) << 2);
        let a = load<f32>(ad) * load<f32>(at(cr, i));
        for (let jj = 0; jj < kl; jj++) a += load<f32>(pr + <usize>(jj * 16 + i * 4)) * load<f32>(vt + <usize>jj * vas + ((<usize>d) << 2));
        store<f32>(ad, a);
      }
    }
  }
  // out_i = acc_i / l_i.
  v128.store(cr, f32x4.div(f32x4.splat(1), l));
  for (let i = 0; i < qn; i++) {
    const inv = v128.load32_splat(at(cr, i)), oi = o + <usize>i * os, ai = acc + <usize>i * accS;
    let d = 0;
    for (; d + 4 <= dv; d += 4) v128.store(at(oi, d), f32x4.mul(v128.load(at(ai, d)), inv));
    for (; d < dv; d++) store<f32>(at(oi, d), load<f32>(at(ai, d)) * f32x4.extract_lane(inv, 0));
  }
}

/** Scratch bytes flash needs for these sizes (the backend checks they fit). */
export function flashScratchBytes(dA: i32, dB: i32, dv: i32): i32 { return (dA + dB) * 16 + 2 * KT * 16 + 16 + QT * dv * 4; }

/**
 * Prefill attention for one sequence. Items: tiles of QT queries × heads, item = k·H + h where the k-th tile is taken
 * from alternate ends (0, last, 1, last − 1, …) so that contiguous item ranges carry similar causal work.
 * out [T, H·dv], q [T, H·(dn+dr)], kv [S, H·(dn+dv)], pool rows poolStart .. + S of [*, R + dr] (k_rope at column R).
 */
export function mlaFlashPrefill(out: usize, q: usize, kv: usize, pool: usize, poolStart: i32, T: i32, S: i32, past: i32,
  H: i32, dn: i32, dr: i32, dv: i32, R: i32, scale: f32, scratch: usize, scratchStride: i32, start: i32, end: i32, thread: i32): void {
  const scr = scratch + <usize>thread * <usize>scratchStride;
  const nTiles = (T + QT - 1) / QT, dq = dn + dr, dkv = dn + dv, W = R + dr;
  const qRow = <usize>(H * dq) << 2, kvRow = <usize>(H * dkv) << 2, oRow = <usize>(H * dv) << 2;
  for (let item = start; item < end; item++) {
    const k = item / H, h = item % H;
    const tile = (k & 1) ? nTiles - 1 - (k >> 1) : k >> 1;
    const t0 = tile * QT, qn = min(QT, T - t0);
    const qa = q + <usize>t0 * qRow + ((<usize>(h * dq)) << 2);
    const ka = kv + ((<usize>(h * dkv)) << 2);
    const kb = pool + ((<usize>(poolStart * W + R)) << 2);
    flash(out + <usize>t0 * oRow + ((<usize>(h * dv)) << 2), oRow, qa, qRow, at(qa, dn), qRow, dn, dr,
      ka, kvRow, kb, (<usize>W) << 2, at(ka, dn), kvRow, dv, S, past + t0 + 1, 1, qn, scale, scr);
  }
}

/**
 * Latent decode attention. Items: item = b·ceil(H/QT) + tile, QT heads of sequence b per item.
 * ctx [B, H·R], qLat [B, H·R], q [B, H·(dn+dr)] (rope part at dn), pool [*, R + dr], starts/lengths i32 [B].
 */
export function mlaFlashDecode(ctx: usize, qLat: usize, q: usize, pool: usize, starts: usize, lengths: usize,
  H: i32, dn: i32, dr: i32, R: i32, scale: f32, scratch: usize, scratchStride: i32, start: i32, end: i32, thread: i32): void {
  const scr = scratch + <usize>thread * <usize>scratchStride;
  const tiles = (H + QT - 1) / QT, dq = dn + dr, W = R + dr;
  for (let item = start; item < end; item++) {
    const b = item / tiles, h0 = (item % tiles) * QT, qn = min(QT, H - h0);
    const n = load<i32>(at(lengths, b));
    const ka = pool + <usize>load<i32>(at(starts, b)) * ((<usize>W) << 2);
    const row = b * H + h0;
    if (n <= 0) { memory.fill(at(ctx, row * R), 0, <usize>(qn * R * 4)); continue; }  // no keys: the reference's 0
    flash(at(ctx, row * R), (<usize>R) << 2, at(qLat, row * R), (<usize>R) << 2, at(q, row * dq + dn), (<usize>dq) << 2, R, dr,
      ka, (<usize>W) << 2, at(ka, R), (<usize>W) << 2, ka, (<usize>W) << 2, R, n, n, 0, qn, scale, scr);
  }
}

// ---- Latent decode as two GEMMs per block of KB cached rows c_j = [latent (R) | k_rope (dr)], D = R + dr, for G heads
// of one sequence, on microkernel.as's 3 × 12 tile:
//   scores Sᵀ [j][h] = c_j · q_h, three cached rows (read in place) against the heads' queries [qLat | q_rope]·scale,
//     packed once per item as panels [D][12] of 12 heads;
//   an online softmax per head, vectorised across heads (Sᵀ rows hold the heads side by side), which writes the
//     probabilities transposed, P [h][j];
//   ctx [h] += P [h] · V with V = the rows' latent parts, copied as panels [j][12] of 12 latent columns.
// The cache is read once per G heads (DeepSeek-V3 has 128; a kernel of 4 heads per pass would read it 32 times).

const KB: i32 = 48;  // cached rows per block

@inline function align16(p: usize): usize { return (p + 15) & ~(<usize>15); }

/**
 * Bytes of scratch mlaLatentDecode needs for G heads per item (Gp = G rounded up to 12): query panels [Gp][D], Sᵀ
 * [KB][Gp], P [Gp][KB], m/l/corr [3][Gp], value panels [ceil(R/12)][KB][12].
 */
export function latentDecodeScratchBytes(G: i32, R: i32, dr: i32): i32 {
  const Gp = (G + NR - 1) / NR * NR, Rp = (R + NR - 1) / NR * NR;
  return 4 * (Gp * (R + dr) + 2 * KB * Gp + 3 * Gp + KB * Rp) + 64;
}

/** v[0..n) *= f. */
function scaleRow(v: usize, n: i32, f: f32): void {
  const fv = f32x4.splat(f), n4 = n & ~3;
  for (let i = 0; i < n4; i += 4) v128.store(at(v, i), f32x4.mul(v128.load(at(v, i)), fv));
  for (let i = n4; i < n; i++) store<f32>(at(v, i), load<f32>(at(v, i)) * f);
}

/**
 * Online-softmax step for four heads (lanes) over Sᵀ rows j < kl (st at head 0, rows ss bytes apart): with
 * m' = max(m, max_j s), writes e^(s − m') to P rows of those heads (pt, ps bytes apart); m' replaces m,
 * l·corr + Σ e^(s − m') replaces l, corr = e^(m − m') is stored (m, l, corr at ml, gs bytes apart).
 */
function softmax4(st: usize, ss: usize, kl: i32, pt: usize, ps: usize, ml: usize, gs: usize): void {
  let mx = f32x4.splat(-Infinity);
  for (let j = 0; j < kl; j++) mx = f32x4.max(mx, v128.load(st + <usize>j * ss));
  const m = v128.load(ml), mNew = f32x4.max(m, mx);
  let sum = f32x4.splat(0);
  for (let j = 0; j < kl; j++) {
    const p = expv(f32x4.sub(v128.load(st + <usize>j * ss), mNew)), o = at(pt, j);
    v128.store32_lane(o, p, 0); v128.store32_lane(o + ps, p, 1); v128.store32_lane(o + 2 * ps, p, 2); v128.store32_lane(o + 3 * ps, p, 3);
    sum = f32x4.add(sum, p);
  }
  const corr = expv(f32x4.sub(m, mNew));  // m = −∞ (first block): ~1e−38, times l = 0
  v128.store(ml, mNew);
  v128.store(ml + gs, madd(v128.load(ml + gs), corr, sum));
  v128.store(ml + 2 * gs, corr);
}

/**
 * Latent decode attention. Items: item = b·ceil(H/G) + group, G heads of sequence b per item.
 * ctx [B, H·R], qLat [B, H·R], q [B, H·(dn+dr)] (rope part at dn), pool [*, R + dr], starts/lengths i32 [B].
 */
export function mlaLatentDecode(ctx: usize, qLat: usize, q: usize, pool: usize, starts: usize, lengths: usize,
  H: i32, G: i32, dn: i32, dr: i32, R: i32, scale: f32, scratch: usize, scratchStride: i32, start: i32, end: i32, thread: i32): void {
  const D = R + dr, dq = dn + dr, groups = (H + G - 1) / G, Gp = (G + NR - 1) / NR * NR;
  const rs = (<usize>D) << 2, cs = (<usize>R) << 2, ss = (<usize>Gp) << 2, ps = <usize>(KB * 4), gs = (<usize>Gp) << 2;
  const qpan = scratch + <usize>thread * <usize>scratchStride, qps = <usize>D * 48;
  const st = align16(qpan + <usize>(Gp * D * 4)), pt = align16(st + <usize>(KB * Gp * 4));
  const ml = align16(pt + <usize>(Gp * KB * 4)), vpan = align16(ml + <usize>(3 * Gp * 4));
  const qPanels = Gp / NR, cols = (R + NR - 1) / NR;
  for (let item = start; item < end; item++) {
    const b = item / groups, h0 = (item % groups) * G, g = min(G, H - h0);
    const n = load<i32>(at(lengths, b)), rows = pool + <usize>load<i32>(at(starts, b)) * rs;
    const out = at(ctx, (b * H + h0) * R);
    if (n <= 0) { memory.fill(out, 0, <usize>g * cs); continue; }
    // Query panels: lane l of panel p is head 12p + l (zeros past g).
    for (let h = 0; h < Gp; h++) {
      const dst = qpan + <usize>(h / NR) * qps + ((<usize>(h % NR)) << 2), row = b * H + h0 + h;
      for (let d = 0; d < D; d++) {
        const v: f32 = h >= g ? 0 : d < R ? load<f32>(at(qLat, row * R + d)) : load<f32>(at(q, row * dq + dn + d - R));
        store<f32>(dst + <usize>d * 48, v * scale);
      }
    }
    for (let h = 0; h < Gp; h++) { store<f32>(at(ml, h), -Infinity); store<f32>(at(ml, Gp + h), 0); }
    for (let j0 = 0; j0 < n; j0 += KB) {
      const kl = min(KB, n - j0), block = rows + <usize>j0 * rs;
      for (let p = 0; p < qPanels; p++) {
        const o = st + <usize>p * 48, qp = qpan + <usize>p * qps;
        let j = 0;
        for (; j + 3 <= kl; j += 3) tile3(o + <usize>j * ss, ss, block + <usize>j * rs, rs, qp, D, false, NR);
        for (; j < kl; j++) tile1(o + <usize>j * ss, block + <usize>j * rs, qp, D, false, NR);
      }
      for (let h = 0; h < Gp; h += 4) softmax4(at(st, h), ss, kl, pt + <usize>h * ps, ps, at(ml, h), gs);
      if (j0 > 0) for (let h = 0; h < g; h++) scaleRow(out + <usize>h * cs, R, load<f32>(at(ml, 2 * Gp + h)));
      packPanels<f32>(vpan, <usize>(KB * 48), block, rs, kl, R);
      for (let c = 0; c < cols; c++) {
        const o = at(out, c * NR), vp = vpan + <usize>c * <usize>(KB * 48), nc = min(NR, R - c * NR);
        let h = 0;
        for (; h + 3 <= g; h += 3) tile3(o + <usize>h * cs, cs, pt + <usize>h * ps, ps, vp, kl, j0 > 0, nc);
        for (; h < g; h++) tile1(o + <usize>h * cs, pt + <usize>h * ps, vp, kl, j0 > 0, nc);
      }
    }
    for (let h = 0; h < g; h++) scaleRow(out + <usize>h * cs, R, 1 / load<f32>(at(ml, Gp + h)));
  }
}

/**
 * qLat[b,h,r] = Σ_n q[b,h,n]·kvB[h·(dn+dv) + n, r]. Items: item = h·ceil(R/RC) + c, latent columns c·RC .. + RC of
 * head h; the dn × RC block of kvB (any kind) is decoded into scratch once per item, then applied to every b.
 * qLat [B, H·R], q [B, H·(dn+dr)], kvB [H·(dn+dv), R].
 */
export function mlaAbsorbQueryHeads(qLat: usize, q: usize, kvB: usize, kind: i32, scaleInv: usize, bm: i32, bn: i32,
  B: i32, H: i32, dn: i32, dr: i32, dv: i32, R: i32, scratch: usize, scratchStride: i32, start: i32, end: i32, thread: i32): void {
  const wf = scratch + <usize>thread * <usize>scratchStride, tmp = wf + <usize>(dn * RC * 4);
  const chunks = (R + RC - 1) / RC, dq = dn + dr;
  for (let item = start; item < end; item++) {
    const h = item / chunks, r0 = (item % chunks) * RC, rl = min(RC, R - r0);
    for (let n = 0; n < dn; n++) {
      const row = wf + <usize>(n * RC * 4);
      decodeRow(row, kvB, kind, R, h * (dn + dv) + n, r0, rl, scaleInv, bm, bn);
      if (rl < RC) memory.fill(at(row, rl), 0, <usize>((RC - rl) * 4));
    }
    for (let b = 0; b < B; b++) {
      const qb = at(q, (b * H + h) * dq), ob = at(qLat, (b * H + h) * R + r0);
      for (let c = 0; c < rl; c += 16) {
        let a0 = f32x4.splat(0), a1 = a0, a2 = a0, a3 = a0;
        for (let n = 0; n < dn; n++) {
          const x = v128.load32_splat(at(qb, n)), wr = wf + <usize>((n * RC + c) * 4);
          a0 = madd(x, v128.load(wr), a0); a1 = madd(x, v128.load(wr, 16), a1);
          a2 = madd(x, v128.load(wr, 32), a2); a3 = madd(x, v128.load(wr, 48), a3);
        }
        if (c + 16 <= rl) {
          const oc = at(ob, c);
          v128.store(oc, a0); v128.store(oc, a1, 16); v128.store(oc, a2, 32); v128.store(oc, a3, 48);
        } else {
          v128.store(tmp, a0); v128.store(tmp, a1, 16); v128.store(tmp, a2, 32); v128.store(tmp, a3, 48);
          memory.copy(at(ob, c), tmp, <usize>((rl - c) * 4));
        }
      }
    }
  }
}

/**
 * out[b,h,j] = Σ_r ctx[b,h,r]·kvB[h·(dn+dv) + dn + j, r]. Items: item = h·ceil(dv/JC) + c, rows c·JC .. + JC of head h's
 * W_UV, decoded into scratch once per item ([JC][R] f32), then four rows at a time dotted with every b's ctx.
 * out [B, H·dv], ctx [B, H·R], kvB [H·(dn+dv), R].
 */
export function mlaAbsorbOutputHeads(out: usize, ctx: usize, kvB: usize, kind: i32, scaleInv: usize, bm: i32, bn: i32,
  B: i32, H: i32, dn: i32, dv: i32, R: i32, scratch: usize, scratchStride: i32, start: i32, end: i32, thread: i32): void {
  const wf = scratch + <usize>thread * <usize>scratchStride, rs = (<usize>R) << 2, tmp = wf + <usize>JC * rs;
  const chunks = (dv + JC - 1) / JC, r4 = R & ~3;
  for (let item = start; item < end; item++) {
    const h = item / chunks, j0 = (item % chunks) * JC, jl = min(JC, dv - j0);
    for (let j = 0; j < JC; j++) {
      if (j < jl) decodeRow(wf + <usize>j * rs, kvB, kind, R, h * (dn + dv) + dn + j0 + j, 0, R, scaleInv, bm, bn);
      else memory.fill(wf + <usize>j * rs, 0, rs);
    }
    for (let b = 0; b < B; b++) {
      const x = at(ctx, (b * H + h) * R), ob = at(out, (b * H + h) * dv + j0);
      for (let j = 0; j < jl; j += 4) {
        const w0 = wf + <usize>j * rs, w1 = w0 + rs, w2 = w1 + rs, w3 = w2 + rs;
        let a0 = f32x4.splat(0), a1 = a0, a2 = a0, a3 = a0;
        for (let r = 0; r < r4; r += 4) {
          const xv = v128.load(at(x, r)), rb = (<usize>r) << 2;
          a0 = madd(xv, v128.load(w0 + rb), a0); a1 = madd(xv, v128.load(w1 + rb), a1);
          a2 = madd(xv, v128.load(w2 + rb), a2); a3 = madd(xv, v128.load(w3 + rb), a3);
        }
        v128.store(tmp, hsum4(a0, a1, a2, a3));
        for (let u = 0; u < 4 && j + u < jl; u++) {
          const wu = wf + <usize>(j + u) * rs;
          let s = load<f32>(at(tmp, u));
          for (let r = r4; r < R; r++) s += load<f32>(at(x, r)) * load<f32>(at(wu, r));
          store<f32>(at(ob, j + u), s);
        }
      }
    }
  }
}
