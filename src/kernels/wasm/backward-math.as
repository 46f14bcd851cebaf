// Elementary functions for the backward kernels, without tables (the kernel module owns no memory, and the standard
// library's exp/log read lookup tables from data segments). exp4: four f32 at once; lnF64: one double.
// Leaves out: infinities and NaN as inputs (callers pass finite values; exp4 clamps its argument).

/**
 * e^x per lane, within ≈ 2 ulp for x in [−87, 88] (clamped there, so the result is always normal and finite):
 * x = n·ln2 + r with n = round(x·log2 e), |r| ≤ ln2/2 (ln2 in two parts, the first exact in f32, so r is exact);
 * e^r by its Taylor series to r⁷ (remainder < r⁸/8! ≈ 6e-9); 2^n built in the exponent field.
 */
@inline export function exp4(x: v128): v128 {
  const xc = f32x4.max(f32x4.min(x, f32x4.splat(88)), f32x4.splat(-87));
  const n = f32x4.nearest(f32x4.mul(xc, f32x4.splat(1.4426950408889634)));
  const r = f32x4.sub(f32x4.sub(xc, f32x4.mul(n, f32x4.splat(0.693359375))), f32x4.mul(n, f32x4.splat(-2.1219444005469057e-4)));
  let p = f32x4.splat(1.0 / 5040);
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(1.0 / 720));
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(1.0 / 120));
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(1.0 / 24));
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(1.0 / 6));
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(0.5));
  p = f32x4.add(f32x4.mul(p, f32x4.mul(r, r)), f32x4.add(r, f32x4.splat(1)));
  const scale = i32x4.shl(i32x4.add(i32x4.trunc_sat_f32x4_s(n), i32x4.splat(127)), 23);
  return f32x4.mul(p, scale);
}

/** e^x for one value (exp4 on lane 0). */
@inline export function exp1(x: f32): f32 {
  return f32x4.extract_lane(exp4(f32x4.splat(x)), 0);
}

/**
 * ln x for a positive normal double: x = 2^e·m with m in [√½, √2), s = (m − 1)/(m + 1) (|s| ≤ 0.172), and
 * ln m = 2·atanh(s) = 2·(s + s³/3 + … + s¹⁵/15) (remainder < s¹⁷/17·2 ≈ 1e-14).
 */
export function lnF64(x: f64): f64 {
  const bits = reinterpret<u64>(x);
  let e = <i32>((bits >> 52) & 0x7FF) - 1023;
  let m = reinterpret<f64>((bits & 0x000FFFFFFFFFFFFF) | 0x3FF0000000000000);
  if (m > 1.4142135623730951) { m *= 0.5; e += 1; }
  const s = (m - 1) / (m + 1), s2 = s * s;
  let p: f64 = 1.0 / 15;
  p = p * s2 + 1.0 / 13; p = p * s2 + 1.0 / 11; p = p * s2 + 1.0 / 9; p = p * s2 + 1.0 / 7;
  p = p * s2 + 1.0 / 5; p = p * s2 + 1.0 / 3; p = p * s2 + 1;
  return <f64>e * 0.6931471805599453 + 2 * s * p;
}
