// Deterministic pseudo-random numbers (seeded), for initialisation, sampling and test fixtures; normals in bulk and
// jumps ahead in the stream, so several threads can draw disjoint stretches of one seeded sequence.
// Leaves out: cryptographic quality; this is xoshiro128** with Box–Muller normals.

/** 2^-53, the smallest non-zero uniform(): stands in for a zero, whose log is -∞. */
const SMALLEST_UNIFORM = 2 ** -53;

export class Rng {
  private s = new Uint32Array(4);
  private spare: number | null = null;

  constructor(seed: number) {
    // splitmix32 to spread the seed over the state
    let x = seed >>> 0;
    for (let i = 0; i < 4; i++) {
      x = (x + 0x9e3779b9) >>> 0;
      let z = x;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
      this.s[i] = (z ^ (z >>> 16)) >>> 0;
    }
  }

  /** Uniform integer in [0, 2^32). */
  nextU32(): number {
    const s = this.s;
    const result = Math.imul(rotl(Math.imul(s[1], 5), 7), 9) >>> 0;
    const t = s[1] << 9;
    s[2] ^= s[0]; s[3] ^= s[1]; s[1] ^= s[2]; s[0] ^= s[3];
    s[2] ^= t; s[3] = rotl(s[3], 11);
    return result;
  }

  /** Uniform in [0, 1). */
  uniform(): number { return (this.nextU32() + (this.nextU32() >>> 11) / 2097152) / 4294967296; }

  /**
   * N(0, 1) by Box–Muller: a pair from two uniforms, cos first, the sin kept for the next call. A zero first uniform
   * (one in 2^53) is taken as 2^-53 rather than redrawn, so every pair takes exactly four nextU32 draws and a
   * position in the stream can be jumped to (skipNormals).
   */
  normal(): number {
    if (this.spare !== null) { const v = this.spare; this.spare = null; return v; }
    const u = this.uniform() || SMALLEST_UNIFORM;
    const v = this.uniform();
    const r = Math.sqrt(-2 * Math.log(u));
    this.spare = r * Math.sin(2 * Math.PI * v);
    return r * Math.cos(2 * Math.PI * v);
  }

  normalArray(n: number, std: number, mean = 0): Float32Array {
    const a = new Float32Array(n);
    this.fillNormal(a, std, mean);
    return a;
  }

  /** out[i] = mean + std · normal(): exactly the values (and the state afterwards) of out.length normal() calls. */
  fillNormal(out: Float32Array, std: number, mean = 0): void {
    let from = 0;
    if (out.length > 0 && this.spare !== null) {
      out[from++] = mean + std * this.spare;
      this.spare = null;
    }
    const spare = fillNormalPairs(this.s, out, from, std, mean);
    if (!Number.isNaN(spare)) this.spare = spare;
  }

  /** The generator moved on as if n normal() calls had been made, in O(log n) (see Xoshiro128Jump). */
  skipNormals(n: number, jump: Xoshiro128Jump): void {
    if (n > 0 && this.spare !== null) { this.spare = null; n--; }
    if (n === 0) return;
    const pairs = Math.ceil(n / 2);
    jump.advance(this.s, 4 * (pairs - 1));
    const sin = fillNormalPairs(this.s, new Float32Array(1), 0, 1, 0); // the last pair is drawn: its sin may be pending
    if (n % 2 === 1) this.spare = sin;
  }

  /** An independent generator in this one's exact state: replaying it repeats what this one draws next. */
  clone(): Rng {
    const c = new Rng(0);
    c.s.set(this.s);
    c.spare = this.spare;
    return c;
  }

  /** The state words and the pending sin, for a worker thread to continue from (fillNormalPairs). */
  snapshot(): { s: Uint32Array; spare: number | null } {
    return { s: this.s.slice(), spare: this.spare };
  }
}
function rotl(x: number, k: number): number { return ((x << k) | (x >>> (32 - k))) >>> 0; }

/**
 * Fills out[from, out.length) with mean + std · N(0, 1) from the xoshiro128** state `s` (advanced in place), as Rng's
 * normal() draws them, pair by pair (cos, then sin); returns the sin of a last pair that did not fit (NaN if none).
 * The generator is inlined on int32 locals, about twice as fast as calling normal(). Self-contained (no outside
 * name), because init's worker threads run its source text.
 */
export function fillNormalPairs(s: Uint32Array, out: Float32Array, from: number, std: number, mean: number): number {
  const n = out.length;
  let s0 = s[0]! | 0, s1 = s[1]! | 0, s2 = s[2]! | 0, s3 = s[3]! | 0;
  let hi = 0, lo = 0, t = 0, u = 0, v = 0, left = NaN;
  for (let i = from; i < n;) {
    t = Math.imul(s1, 5); hi = Math.imul((t << 7) | (t >>> 25), 9) >>> 0;
    t = s1 << 9; s2 ^= s0; s3 ^= s1; s1 ^= s2; s0 ^= s3; s2 ^= t; s3 = (s3 << 11) | (s3 >>> 21);
    t = Math.imul(s1, 5); lo = Math.imul((t << 7) | (t >>> 25), 9) >>> 0;
    t = s1 << 9; s2 ^= s0; s3 ^= s1; s1 ^= s2; s0 ^= s3; s2 ^= t; s3 = (s3 << 11) | (s3 >>> 21);
    u = (hi + (lo >>> 11) / 2097152) / 4294967296 || 1.1102230246251565e-16; // 0 → 2^-53, as normal() does
    t = Math.imul(s1, 5); hi = Math.imul((t << 7) | (t >>> 25), 9) >>> 0;
    t = s1 << 9; s2 ^= s0; s3 ^= s1; s1 ^= s2; s0 ^= s3; s2 ^= t; s3 = (s3 << 11) | (s3 >>> 21);
    t = Math.imul(s1, 5); lo = Math.imul((t << 7) | (t >>> 25), 9) >>> 0;
    t = s1 << 9; s2 ^= s0; s3 ^= s1; s1 ^= s2; s0 ^= s3; s2 ^= t; s3 = (s3 << 11) | (s3 >>> 21);
    v = (hi + (lo >>> 11) / 2097152) / 4294967296;
    const r = Math.sqrt(-2 * Math.log(u));
    out[i++] = mean + std * (r * Math.cos(2 * Math.PI * v));
    if (i < n) out[i++] = mean + std * (r * Math.sin(2 * Math.PI * v));
    else left = r * Math.sin(2 * Math.PI * v);
  }
  s[0] = s0; s[1] = s1; s[2] = s2; s[3] = s3;
  return left;
}

/** One xoshiro128** state step (the output scrambler left out: it does not feed back). */
function step(s: Uint32Array): void {
  const t = s[1]! << 9;
  s[2] ^= s[0]!; s[3] ^= s[1]!; s[1] ^= s[2]!; s[0] ^= s[3]!;
  s[2] ^= t; s[3] = rotl(s[3]!, 11);
}

/**
 * Jumps a xoshiro128** state ahead by any number of draws. The state step is linear over GF(2), a 128×128 bit matrix
 * T; T^(2^k) for k < 53 are computed once (by squaring, 53 × 128 matrix–vector products) and a jump of d draws
 * applies those of d's set bits. Matrices are stored by column: column c (4 words) is where input bit c goes.
 */
export class Xoshiro128Jump {
  private readonly powers: Uint32Array[] = [];

  constructor() {
    let m = new Uint32Array(128 * 4);
    for (let c = 0; c < 128; c++) {
      const e = new Uint32Array(4);
      e[c >> 5] = 1 << (c & 31);
      step(e);
      m.set(e, c * 4);
    }
    for (let k = 0; k < 53; k++) {
      this.powers.push(m);
      const sq = new Uint32Array(128 * 4);
      for (let c = 0; c < 128; c++) sq.set(apply(m, m.subarray(c * 4, c * 4 + 4)), c * 4);
      m = sq;
    }
  }

  /** Advances `s` in place as `draws` nextU32() calls would (draws < 2^53). */
  advance(s: Uint32Array, draws: number): void {
    if (!Number.isSafeInteger(draws) || draws < 0) throw new Error(`Xoshiro128Jump: cannot jump ${draws} draws`);
    for (let k = 0; draws > 0; k++, draws = Math.floor(draws / 2)) {
      if (draws % 2 === 1) s.set(apply(this.powers[k]!, s));
    }
  }
}

/** Matrix (by columns) times a 128-bit vector over GF(2). */
function apply(m: Uint32Array, x: Uint32Array): Uint32Array {
  const out = new Uint32Array(4);
  for (let c = 0; c < 128; c++) {
    if ((x[c >> 5]! >>> (c & 31)) & 1) {
      out[0] ^= m[c * 4]!; out[1] ^= m[c * 4 + 1]!; out[2] ^= m[c * 4 + 2]!; out[3] ^= m[c * 4 + 3]!;
    }
  }
  return out;
}
