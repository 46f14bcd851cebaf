// Rotary position embedding for MLA's decoupled rope dims: inverse frequencies with YaRN scaling, the cos/sin
// amplitude (mscale) and the attention softmax scale. Pure functions of the config; the rotation itself is a kernel.
// Pairing is interleaved (2i, 2i+1) as in the official weights unless the config sets rope_interleave: false.

import type { ModelConfig } from './config.js';
import { qHeadDim } from './config.js';

export interface RopeSpec {
  readonly invFreq: Float64Array;  // [qk_rope_head_dim / 2]
  readonly mscale: number;         // cos and sin are multiplied by this
  readonly interleaved: boolean;
}

/** YaRN's attention temperature: 1 for factor ≤ 1, else 0.1·m·ln(factor) + 1. */
export function yarnGetMscale(factor: number, m: number): number {
  return factor <= 1 ? 1 : 0.1 * m * Math.log(factor) + 1;
}

export function ropeSpec(c: ModelConfig): RopeSpec {
  const d = c.qkRopeHeadDim;
  const half = d / 2;
  const invFreq = new Float64Array(half);
  const s = c.ropeScaling;
  if (!s) {
    for (let i = 0; i < half; i++) invFreq[i] = 1 / Math.pow(c.ropeTheta, (2 * i) / d);
    return { invFreq, mscale: 1, interleaved: c.ropeInterleave };
  }
  // Dimension index whose wavelength completes `rotations` turns over the original context.
  const correctionDim = (rotations: number) =>
    (d * Math.log(s.originalMaxPositionEmbeddings / (rotations * 2 * Math.PI))) / (2 * Math.log(c.ropeTheta));
  const low = Math.max(Math.floor(correctionDim(s.betaFast)), 0);
  let high = Math.min(Math.ceil(correctionDim(s.betaSlow)), d - 1);
  if (low === high) high += 0.001;
  for (let i = 0; i < half; i++) {
    const posFreq = Math.pow(c.ropeTheta, (2 * i) / d);
    const ramp = Math.min(1, Math.max(0, (i - low) / (high - low)));
    invFreq[i] = (1 / (s.factor * posFreq)) * ramp + (1 / posFreq) * (1 - ramp);
  }
  // HF's rule: the ratio when both mscale and mscale_all_dim are set (non-zero), else get_mscale(factor).
  const mscale = s.attentionFactor ?? (s.mscale && s.mscaleAllDim
    ? yarnGetMscale(s.factor, s.mscale) / yarnGetMscale(s.factor, s.mscaleAllDim)
    : yarnGetMscale(s.factor, 1));
  return { invFreq, mscale, interleaved: c.ropeInterleave };
}

/** (qk_nope + qk_rope)^-0.5, times get_mscale(factor, mscale_all_dim)^2 under YaRN when mscale_all_dim is set (×1.8739 for V3). */
export function softmaxScale(c: ModelConfig): number {
  const base = 1 / Math.sqrt(qHeadDim(c));
  if (!c.ropeScaling) return base;
  if (!c.ropeScaling.mscaleAllDim) return base;
  const m = yarnGetMscale(c.ropeScaling.factor, c.ropeScaling.mscaleAllDim);
  return base * m * m;
}
