// AssemblyScript twins of the optimizer kernels of src/kernels/ref/optim.ts, equal to them bit for bit: AdamW (f32 or
// bf16 moments), the sum of squares in the reference's fixed chunk order, and in-place scaling. They compute in f64 like
// the reference's JS numbers, with the same operations in the same order: f64x2 lanes round exactly as scalar f64 does,
// and nothing is fused (no relaxed multiply-add), so either build gives the reference's bits.
// Leaves out: the bias corrections' powers (JS computes them, as wasm has no Math.pow of its own that matches V8's).
//
// Pointers are heap byte offsets; each export ends in (start, end, thread) and processes the items named in its comment.

@inline function at4(p: usize, i: i32): usize { return p + ((<usize>i) << 2); }
@inline function at2(p: usize, i: i32): usize { return p + ((<usize>i) << 1); }

// ---- Moment storage: f32, or bf16 (the f64 value rounded to f32, then to bf16, nearest even, as f32ToBf16).

/** Two moments at element i, as f64 lanes. */
@inline function loadMoments(p: usize, i: i32, bf16: bool): v128 {
  if (bf16) return f64x2.promote_low_f32x4(i32x4.shl(i32x4.extend_low_i16x8_u(v128.load32_zero(at2(p, i))), 16));
  return f64x2.promote_low_f32x4(v128.load64_zero(at4(p, i)));
}

/** f32 bits → bf16 bits in each lane (bf16FromBits of src/weights/dtypes.ts): NaN keeps its top and turns quiet. */
@inline function bf16Bits(bits: v128): v128 {
  const rounded = i32x4.shr_u(i32x4.add(bits, i32x4.add(i32x4.splat(0x7fff), v128.and(i32x4.shr_u(bits, 16), i32x4.splat(1)))), 16);
  const nan = i32x4.gt_u(v128.and(bits, i32x4.splat(0x7fffffff)), i32x4.splat(0x7f800000));
  return v128.bitselect(v128.or(i32x4.shr_u(bits, 16), i32x4.splat(0x0040)), rounded, nan);
}

/** Stores two f64 lanes as moments at element i. */
@inline function storeMoments(p: usize, i: i32, x: v128, bf16: bool): void {
  const f = f32x4.demote_f64x2_zero(x);
  if (bf16) { const b = bf16Bits(f); v128.store32_lane(at2(p, i), i16x8.narrow_i32x4_u(b, b), 0); }
  else v128.store64_lane(at4(p, i), f, 0);
}

@inline function loadMoment(p: usize, i: i32, bf16: bool): f64 {
  if (bf16) return <f64>reinterpret<f32>((<u32>load<u16>(at2(p, i))) << 16);
  return <f64>load<f32>(at4(p, i));
}

@inline function storeMoment(p: usize, i: i32, x: f64, bf16: bool): void {
  if (bf16) store<u16>(at2(p, i), <u16>i32x4.extract_lane(bf16Bits(i32x4.splat(reinterpret<i32>(<f32>x))), 0));
  else store<f32>(at4(p, i), <f32>x);
}

// ---- AdamW: m = β1·m + (1−β1)·g;  v = β2·v + ((1−β2)·g)·g;  w = f32(w − lr·((m/c1)/(√(v/c2) + eps) + wd·w)),
// with m and v the f64 values before their storage rounds them, c1 = 1 − β1^step, c2 = 1 − β2^step.

@inline function adamw(w: usize, g: usize, m: usize, v: usize, lr: f64, beta1: f64, beta2: f64, eps: f64, wd: f64,
  c1: f64, c2: f64, start: i32, end: i32, bf16: bool): void {
  const a1 = 1.0 - beta1, a2 = 1.0 - beta2;
  const B1 = f64x2.splat(beta1), B2 = f64x2.splat(beta2), A1 = f64x2.splat(a1), A2 = f64x2.splat(a2);
  const LR = f64x2.splat(lr), EPS = f64x2.splat(eps), WD = f64x2.splat(wd), C1 = f64x2.splat(c1), C2 = f64x2.splat(c2);
  let i = start;
  for (; i + 2 <= end; i += 2) {
    const gi = f64x2.promote_low_f32x4(v128.load64_zero(at4(g, i))), wi = f64x2.promote_low_f32x4(v128.load64_zero(at4(w, i)));
    const mi = f64x2.add(f64x2.mul(B1, loadMoments(m, i, bf16)), f64x2.mul(A1, gi));
    const vi = f64x2.add(f64x2.mul(B2, loadMoments(v, i, bf16)), f64x2.mul(f64x2.mul(A2, gi), gi));
    storeMoments(m, i, mi, bf16); storeMoments(v, i, vi, bf16);
    const step = f64x2.div(f64x2.div(mi, C1), f64x2.add(f64x2.sqrt(f64x2.div(vi, C2)), EPS));
    v128.store64_lane(at4(w, i), f32x4.demote_f64x2_zero(f64x2.sub(wi, f64x2.mul(LR, f64x2.add(step, f64x2.mul(WD, wi))))), 0);
  }
  for (; i < end; i++) {
    const gi = <f64>load<f32>(at4(g, i)), wi = <f64>load<f32>(at4(w, i));
    const mi = beta1 * loadMoment(m, i, bf16) + a1 * gi;
    const vi = beta2 * loadMoment(v, i, bf16) + a2 * gi * gi;
    storeMoment(m, i, mi, bf16); storeMoment(v, i, vi, bf16);
    store<f32>(at4(w, i), <f32>(wi - lr * ((mi / c1) / (Math.sqrt(vi / c2) + eps) + wd * wi)));
  }
}

/** Elements i ∈ [start, end): w f32, g f32, m and v f32. */
export function adamwF32(w: usize, g: usize, m: usize, v: usize, lr: f64, beta1: f64, beta2: f64, eps: f64, wd: f64,
  c1: f64, c2: f64, start: i32, end: i32, thread: i32): void {
  adamw(w, g, m, v, lr, beta1, beta2, eps, wd, c1, c2, start, end, false);
}

/** Elements i ∈ [start, end): w f32, g f32, m and v bf16. */
export function adamwBF16(w: usize, g: usize, m: usize, v: usize, lr: f64, beta1: f64, beta2: f64, eps: f64, wd: f64,
  c1: f64, c2: f64, start: i32, end: i32, thread: i32): void {
  adamw(w, g, m, v, lr, beta1, beta2, eps, wd, c1, c2, start, end, true);
}

// ---- Σ g²: per chunk of `chunk` elements, four f64 sums over the indices ≡ 0, 1, 2, 3 (mod 4), as (s0 + s1) + (s2 + s3).
// (f32 squares are exact in f64.) The caller adds the chunks' partial sums in chunk order.

/** Chunks c ∈ [start, end): partials f64 [chunks] = the sum of squares of g f32 [n] over [c·chunk, min(n, (c+1)·chunk)). */
export function sumSquaresChunks(partials: usize, g: usize, n: i32, chunk: i32, start: i32, end: i32, thread: i32): void {
  for (let c = start; c < end; c++) {
    const lo = c * chunk, hi = min(n, lo + chunk);
    let s01 = f64x2.splat(0), s23 = s01, i = lo;
    for (; i + 4 <= hi; i += 4) {
      const x = v128.load(at4(g, i));
      const x01 = f64x2.promote_low_f32x4(x), x23 = f64x2.promote_low_f32x4(i32x4.shuffle(x, x, 2, 3, 2, 3));
      s01 = f64x2.add(s01, f64x2.mul(x01, x01));
      s23 = f64x2.add(s23, f64x2.mul(x23, x23));
    }
    let s0 = f64x2.extract_lane(s01, 0), s1 = f64x2.extract_lane(s01, 1), s2 = f64x2.extract_lane(s23, 0), s3 = f64x2.extract_lane(s23, 1);
    if (i < hi) { const x = <f64>load<f32>(at4(g, i)); s0 += x * x; }
    if (i + 1 < hi) { const x = <f64>load<f32>(at4(g, i + 1)); s1 += x * x; }
    if (i + 2 < hi) { const x = <f64>load<f32>(at4(g, i + 2)); s2 += x * x; }
    store<f64>(partials + ((<usize>c) << 3), (s0 + s1) + (s2 + s3));
  }
}

// ---- g = f32(g·factor), the product in f64.

/** Elements i ∈ [start, end) of g f32. */
export function scaleF32(g: usize, factor: f64, start: i32, end: i32, thread: i32): void {
  const F = f64x2.splat(factor);
  let i = start;
  for (; i + 2 <= end; i += 2) {
    const x = f64x2.promote_low_f32x4(v128.load64_zero(at4(g, i)));
    v128.store64_lane(at4(g, i), f32x4.demote_f64x2_zero(f64x2.mul(x, F)), 0);
  }
  for (; i < end; i++) store<f32>(at4(g, i), <f32>(<f64>load<f32>(at4(g, i)) * factor));
}
