// The chi-square critical value for distribution tests: the x with P(χ²_df > x) = alpha, found by bisection on the
// survival function Q(df/2, x/2) (the regularised upper incomplete gamma: series below a + 1, continued fraction
// above). Not a test file itself.

function logGamma(z: number): number {
  // Lanczos approximation (g = 7, 9 terms), accurate to ~1e-15 for z > 0.
  const c = [0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059,
    12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7];
  if (z < 0.5) return Math.log(Math.PI / Math.sin(Math.PI * z)) - logGamma(1 - z);
  z -= 1;
  let x = c[0];
  for (let i = 1; i < 9; i++) x += c[i] / (z + i);
  const t = z + 7.5;
  return 0.5 * Math.log(2 * Math.PI) + (z + 0.5) * Math.log(t) - t + Math.log(x);
}

/** Q(a, x) = Γ(a, x) / Γ(a). */
function upperGammaQ(a: number, x: number): number {
  if (x <= 0) return 1;
  const front = Math.exp(-x + a * Math.log(x) - logGamma(a));
  if (x < a + 1) {
    let sum = 1 / a, term = sum;
    for (let n = 1; n < 1000 && Math.abs(term) > Math.abs(sum) * 1e-16; n++) sum += (term *= x / (a + n));
    return 1 - front * sum;
  }
  // Lentz's continued fraction for Γ(a, x).
  let b = x + 1 - a, c = 1e300, d = 1 / b, h = d;
  for (let i = 1; i < 1000; i++) {
    const an = -i * (i - a);
    b += 2;
    d = an * d + b; if (Math.abs(d) < 1e-300) d = 1e-300;
    c = b + an / c; if (Math.abs(c) < 1e-300) c = 1e-300;
    d = 1 / d;
    const delta = d * c;
    h *= delta;
    if (Math.abs(delta - 1) < 1e-16) break;
  }
  return front * h;
}

/** P(χ²_df > x). */
export function chiSquareSurvival(df: number, x: number): number { return upperGammaQ(df / 2, x / 2); }

/** The x with P(χ²_df > x) = alpha. */
export function chiSquareCritical(df: number, alpha: number): number {
  let lo = 0, hi = df + 100 * Math.sqrt(2 * df) + 100;
  for (let i = 0; i < 200; i++) {
    const mid = (lo + hi) / 2;
    if (chiSquareSurvival(df, mid) > alpha) lo = mid; else hi = mid;
  }
  return (lo + hi) / 2;
}
