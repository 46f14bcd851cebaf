// Hand-worked checks of the reference RMSNorm, RoPE (interleaved vs half-split) and YaRN numbers.
import { test } from "node:test";
import assert from "node:assert/strict";
import { refApplyRope, refGetMscale, refRmsNorm, refRopeParams } from "./deepseek-f64.js";

function close(actual: ArrayLike<number>, expected: ArrayLike<number>, tol: number, what: string): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  for (let i = 0; i < expected.length; i++) {
    assert.ok(Math.abs(actual[i]! - expected[i]!) <= tol, `${what}[${i}]: got ${actual[i]}, expected ${expected[i]}`);
  }
}

test("RMSNorm on a 4-vector", () => {
  // x = [1,2,3,4]: mean(x^2) = (1+4+9+16)/4 = 7.5; eps 0.5 -> sqrt(8) = 2*sqrt(2).
  // x / (2 sqrt 2) = [sqrt2/4, sqrt2/2, 3 sqrt2/4, sqrt2]; times w = [1, 0.5, 2, -1]:
  //   [sqrt2/4, sqrt2/4, 3 sqrt2/2, -sqrt2] = [0.353553, 0.353553, 2.121320, -1.414214]
  const s = Math.SQRT2;
  close(refRmsNorm([1, 2, 3, 4], [1, 0.5, 2, -1], 0.5), [s / 4, s / 4, (3 * s) / 2, -s], 1e-15, "rms eps .5");
  close(refRmsNorm([1, 2, 3, 4], [1, 0.5, 2, -1], 0.5), [0.353553, 0.353553, 2.12132, -1.414214], 1e-6, "rms lit");
  // eps 0: [2,2,2,2] has rms 2 -> [1,1,1,1]
  close(refRmsNorm([2, 2, 2, 2], [1, 1, 1, 1], 0), [1, 1, 1, 1], 0, "rms eps 0");
});

test("RoPE theta=10000, rope_dim=4: interleaved (adjacent pairs) vs half-split", () => {
  // inv_freq_i = theta^(-2i/d): i=0 -> 1, i=1 -> 10000^(-1/2) = 0.01
  const p = refRopeParams({ qk_nope_head_dim: 0, qk_rope_head_dim: 4, rope_theta: 10000, rope_scaling: null });
  close(p.invFreq, [1, 0.01], 1e-18, "invFreq");
  assert.equal(p.attentionFactor, 1);
  assert.equal(p.softmaxScale, 0.5); // (0+4)^-0.5
  assert.equal(p.interleave, true);

  const x = [1, 2, 3, 4];
  for (const pos of [1, 3]) {
    const c1 = Math.cos(pos), s1 = Math.sin(pos); // pair frequency 1
    const c2 = Math.cos(0.01 * pos), s2 = Math.sin(0.01 * pos); // pair frequency 0.01
    // interleaved: (x0,x1) rotated by pos, (x2,x3) by 0.01*pos  — (a + ib) * e^{i angle}
    const inter = [1 * c1 - 2 * s1, 1 * s1 + 2 * c1, 3 * c2 - 4 * s2, 3 * s2 + 4 * c2];
    // half-split: (x0,x2) rotated by pos, (x1,x3) by 0.01*pos
    const halfSplit = [1 * c1 - 3 * s1, 2 * c2 - 4 * s2, 1 * s1 + 3 * c1, 2 * s2 + 4 * c2];
    close(refApplyRope(x, pos, p.invFreq, 1, true), inter, 1e-15, `interleaved pos ${pos}`);
    close(refApplyRope(x, pos, p.invFreq, 1, false), halfSplit, 1e-15, `half-split pos ${pos}`);
  }
  // literal values at pos 1 (cos 1 = 0.540302, sin 1 = 0.841471, cos .01 = 0.999950, sin .01 = 0.010000)
  close(refApplyRope(x, 1, p.invFreq, 1, true), [-1.1426397, 1.9220756, 2.9598507, 4.0297995], 1e-6, "interleaved lit");
  close(refApplyRope(x, 1, p.invFreq, 1, false), [-1.9841107, 1.9599007, 2.4623779, 4.0197997], 1e-6, "half lit");
  // position 0 is the identity; the attention factor scales both cos and sin
  close(refApplyRope(x, 0, p.invFreq, 1, true), x, 0, "pos 0");
  close(refApplyRope(x, 0, p.invFreq, 2, true), [2, 4, 6, 8], 0, "factor 2");
  // rope_interleave: false in the config selects half-split
  assert.equal(refRopeParams({ qk_nope_head_dim: 0, qk_rope_head_dim: 4, rope_interleave: false }).interleave, false);
});

test("RoPE: q.k depends only on the position difference", () => {
  const p = refRopeParams({ qk_nope_head_dim: 2, qk_rope_head_dim: 4, rope_theta: 10000, rope_scaling: null });
  const q = [0.3, -1.2, 0.7, 2.0];
  const k = [1.1, 0.4, -0.6, 0.9];
  const dot = (a: ArrayLike<number>, b: ArrayLike<number>) => {
    let s = 0;
    for (let i = 0; i < a.length; i++) s += a[i]! * b[i]!;
    return s;
  };
  const d1 = dot(refApplyRope(q, 5, p.invFreq, 1, true), refApplyRope(k, 2, p.invFreq, 1, true));
  const d2 = dot(refApplyRope(q, 13, p.invFreq, 1, true), refApplyRope(k, 10, p.invFreq, 1, true));
  assert.ok(Math.abs(d1 - d2) < 1e-12, "Math.abs(d1 - d2) < 1e-12");
});

test("YaRN inv_freq, d=8, theta=10000, factor=40, orig=4096, beta_fast=32, beta_slow=1", () => {
  // c(r) = d ln(orig/(2 pi r)) / (2 ln theta) = 8 ln(4096/(2 pi r)) / (2 * 9.210340)
  //   c(32) = 8 * ln(20.3718) / 18.420681 = 8 * 3.014153 / 18.420681 = 1.309030 -> low  = floor = 1
  //   c(1)  = 8 * ln(651.8986) / 18.420681 = 8 * 6.479889 / 18.420681 = 2.814180 -> high = ceil = 3 (<= d-1 = 7)
  // ramp_i = clip((i - 1) / (3 - 1), 0, 1) = [0, 0, 0.5, 1]
  // pos_freq_i = 10000^(2i/8) = [1, 10, 100, 1000]
  // inv_freq_i = ramp/(40 pos_freq) + (1-ramp)/pos_freq
  //   = [1, 0.1, 0.5/4000 + 0.5/100 = 0.005125, 1/40000 = 0.000025]
  const cfg = {
    qk_nope_head_dim: 128,
    qk_rope_head_dim: 8,
    rope_theta: 10000,
    max_position_embeddings: 163840,
    rope_scaling: {
      type: "yarn",
      factor: 40,
      original_max_position_embeddings: 4096,
      beta_fast: 32,
      beta_slow: 1,
      mscale: 1.0,
      mscale_all_dim: 1.0,
    },
  };
  const p = refRopeParams(cfg);
  close(p.invFreq, [1, 0.1, 0.005125, 0.000025], 1e-15, "yarn invFreq");
  // cos/sin factor: get_mscale(40, 1) / get_mscale(40, 1) = 1
  assert.equal(p.attentionFactor, 1);
  // softmax scale: (128+8)^-0.5 * (0.1 * ln 40 + 1)^2 ; 0.1 ln 40 + 1 = 1.368888, squared 1.873854
  assert.ok(Math.abs(refGetMscale(40, 1) - 1.368888) < 1e-6, "Math.abs(refGetMscale(40, 1) - 1.368888) < 1e-6");
  assert.ok(Math.abs(refGetMscale(40, 1) ** 2 - 1.873854) < 1e-6, "Math.abs(refGetMscale(40, 1) ** 2 - 1.873854) < 1e-6");
  assert.ok(Math.abs(p.softmaxScale - (1 / Math.sqrt(136)) * 1.8738542070926265) < 1e-15, "Math.abs(p.softmaxScale - (1 / Math.sqrt(136)) * 1.8738542070926265) < 1e-15");
  // V3 shapes: nope 128 + rope 64 -> 192^-0.5 * 1.873854 = 0.1352338
  const v3 = refRopeParams({ ...cfg, qk_rope_head_dim: 64 });
  assert.ok(Math.abs(v3.softmaxScale - 0.1352338) < 1e-7, "Math.abs(v3.softmaxScale - 0.1352338) < 1e-7");
  // get_mscale(f <= 1) = 1
  assert.equal(refGetMscale(1, 5), 1);
  assert.equal(refGetMscale(0.5, 5), 1);
});

test("YaRN mscale variants: V2-Lite (0.707/0.707), unequal mscale, no mscale_all_dim", () => {
  const base = { qk_nope_head_dim: 128, qk_rope_head_dim: 64, rope_theta: 10000, max_position_embeddings: 163840 };
  const rs = { type: "yarn", factor: 40, original_max_position_embeddings: 4096, beta_fast: 32, beta_slow: 1 };
  // 0.1 * 0.707 * ln 40 + 1 = 1.260804; softmax scale 192^-0.5 * 1.260804^2
  const lite = refRopeParams({ ...base, rope_scaling: { ...rs, mscale: 0.707, mscale_all_dim: 0.707 } });
  assert.equal(lite.attentionFactor, 1);
  assert.ok(Math.abs(lite.softmaxScale - 192 ** -0.5 * 1.2608037774058554 ** 2) < 1e-15, "Math.abs(lite.softmaxScale - 192 ** -0.5 * 1.2608037774058554 ** 2) < 1e-15");
  // mscale 1, mscale_all_dim 0.707: cos/sin factor 1.368888 / 1.260804 = 1.085727
  const uneq = refRopeParams({ ...base, rope_scaling: { ...rs, mscale: 1, mscale_all_dim: 0.707 } });
  assert.ok(Math.abs(uneq.attentionFactor - 1.3688879454113936 / 1.2608037774058554) < 1e-15, "Math.abs(uneq.attentionFactor - 1.3688879454113936 / 1.2608037774058554) < 1e-15");
  // neither mscale key: HF falls back to get_mscale(factor) = 1.368888 on cos/sin, no softmax correction
  const none = refRopeParams({ ...base, rope_scaling: { ...rs } });
  assert.ok(Math.abs(none.attentionFactor - 1.3688879454113936) < 1e-15, "Math.abs(none.attentionFactor - 1.3688879454113936) < 1e-15");
  assert.equal(none.softmaxScale, 192 ** -0.5);
  // rope_type spelling is accepted as well as type
  const rt = refRopeParams({ ...base, rope_scaling: { ...rs, type: undefined, rope_type: "yarn", mscale: 1, mscale_all_dim: 1 } });
  assert.ok(Math.abs(rt.softmaxScale - 192 ** -0.5 * 1.8738542070926265) < 1e-15, "Math.abs(rt.softmaxScale - 192 ** -0.5 * 1.8738542070926265) < 1e-15");
});
