// Deterministic pseudo-random numbers (seeded), for initialisation, sampling and test fixtures.
// Leaves out: cryptographic quality; this is xoshiro128** with Box–Muller normals.

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

  normal(): number {
    if (this.spare !== null) { const v = this.spare; this.spare = null; return v; }
    let u = 0;
    while (u === 0) u = this.uniform();
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

  /**
   * out[i] = mean + std · normal(), exactly the values (and the state afterwards) that calling normal() out.length
   * times gives; the generator and Box–Muller are inlined on local int32 state, about twice as fast, which is what
   * writing a 16B-parameter checkpoint in minutes needs.
   */
  fillNormal(out: Float32Array, std: number, mean = 0): void {
    const n = out.length;
    let i = 0;
    if (n > 0 && this.spare !== null) {
      out[i++] = mean + std * this.spare;
      this.spare = null;
    }
    let s0 = this.s[0]! | 0, s1 = this.s[1]! | 0, s2 = this.s[2]! | 0, s3 = this.s[3]! | 0;
    let hi = 0, lo = 0, t = 0, u = 0, v = 0;
    while (i < n) {
      do { // u = uniform() until non-zero, as normal() draws it
        t = Math.imul(s1, 5); hi = Math.imul((t << 7) | (t >>> 25), 9) >>> 0;
        t = s1 << 9; s2 ^= s0; s3 ^= s1; s1 ^= s2; s0 ^= s3; s2 ^= t; s3 = (s3 << 11) | (s3 >>> 21);
        t = Math.imul(s1, 5); lo = Math.imul((t << 7) | (t >>> 25), 9) >>> 0;
        t = s1 << 9; s2 ^= s0; s3 ^= s1; s1 ^= s2; s0 ^= s3; s2 ^= t; s3 = (s3 << 11) | (s3 >>> 21);
        u = (hi + (lo >>> 11) / 2097152) / 4294967296;
      } while (u === 0);
      t = Math.imul(s1, 5); hi = Math.imul((t << 7) | (t >>> 25), 9) >>> 0;
      t = s1 << 9; s2 ^= s0; s3 ^= s1; s1 ^= s2; s0 ^= s3; s2 ^= t; s3 = (s3 << 11) | (s3 >>> 21);
      t = Math.imul(s1, 5); lo = Math.imul((t << 7) | (t >>> 25), 9) >>> 0;
      t = s1 << 9; s2 ^= s0; s3 ^= s1; s1 ^= s2; s0 ^= s3; s2 ^= t; s3 = (s3 << 11) | (s3 >>> 21);
      v = (hi + (lo >>> 11) / 2097152) / 4294967296;
      const r = Math.sqrt(-2 * Math.log(u));
      out[i++] = mean + std * (r * Math.cos(2 * Math.PI * v));
      if (i < n) out[i++] = mean + std * (r * Math.sin(2 * Math.PI * v));
      else this.spare = r * Math.sin(2 * Math.PI * v);
    }
    this.s[0] = s0; this.s[1] = s1; this.s[2] = s2; this.s[3] = s3;
  }

  /** An independent generator in this one's exact state: replaying it repeats what this one draws next. */
  clone(): Rng {
    const c = new Rng(0);
    c.s.set(this.s);
    c.spare = this.spare;
    return c;
  }
}

function rotl(x: number, k: number): number { return ((x << k) | (x >>> (32 - k))) >>> 0; }
