// The 14-bit accumulator of the FP8 limited-accumulation control, defined by arithmetic (no bit patterns), for the
// tests of matmulLowAcc and of the 'fp8-low-acc' training precision to check the code against.

/** The binade exponent of a > 0: 2^e ≤ a < 2^(e+1). */
function exponent(a: number): number {
  let e = Math.floor(Math.log2(a));
  if (2 ** e > a) e--;
  if (2 ** (e + 1) <= a) e++;
  return e;
}

/**
 * v (an f32) cut toward zero to 14 significant bits, by arithmetic: a multiple of 2^(e−13) in the binade 2^e, and
 * of 2^-139 below the smallest normal 2^-126 (where f32 keeps no implicit bit). Zeros, infinities and NaN pass.
 */
export function truncate14(v: number): number {
  if (!Number.isFinite(v) || v === 0) return v;
  const a = Math.abs(v), q = 2 ** (Math.max(exponent(a), -126) - 13);
  const t = Math.floor(a / q) * q;
  return v < 0 ? -t : t; // -0 where a negative value flushes
}

/**
 * The definition: for each output, acc = +0; for each group of 4 consecutive k (the last may be shorter) the f32
 * products are summed left to right in f32, g = f32(f32(f32(p0 + p1) + p2) + p3), then acc = truncate14(f32(acc + g)).
 */
export function lowAccSum(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let acc = 0;
  for (let k0 = 0; k0 < a.length; k0 += 4) {
    let g = Math.fround(a[k0] * b[k0]);
    for (let k = k0 + 1; k < Math.min(k0 + 4, a.length); k++) g = Math.fround(g + Math.fround(a[k] * b[k]));
    acc = truncate14(Math.fround(acc + g));
  }
  return acc;
}
