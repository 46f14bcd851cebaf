// Numbers across seeds: an arm's value as the mean over its seeds with their spread (sample standard deviation), and
// the difference between two arms with the spread between seeds beside it, which is what decides whether a claim
// holds: a difference inside the spread is no evidence either way.

import type { ArmRecord } from './arm.js';

export interface Spread { mean: number; sd: number | null; n: number }  // sd null with one seed

export function spread(xs: readonly number[]): Spread {
  const n = xs.length, m = xs.reduce((a, x) => a + x, 0) / n;
  if (n < 2) return { mean: m, sd: null, n };
  return { mean: m, sd: Math.sqrt(xs.reduce((a, x) => a + (x - m) ** 2, 0) / (n - 1)), n };
}

/** A measurement of one arm over its seeds (equal-steps runs unless `budget` says otherwise). */
export function armValue(records: readonly ArmRecord[], arm: string, pick: (r: ArmRecord) => number | null,
  budget: ArmRecord['budget'] = 'equal-steps'): Spread | null {
  const xs = records.filter((r) => r.arm === arm && r.budget === budget).map(pick).filter((x): x is number => x !== null && Number.isFinite(x));
  return xs.length === 0 ? null : spread(xs);
}

/**
 * Whether `better` beats `worse` (lower is better unless `higherIsBetter`): true or false when the difference of the
 * means is larger than the spread between seeds (the larger of the two arms' sd), null when it is not or when there
 * is nothing to compare. With one seed there is no spread and the sign decides.
 */
export function beats(better: Spread | null, worse: Spread | null, higherIsBetter = false): boolean | null {
  if (!better || !worse) return null;
  const diff = higherIsBetter ? better.mean - worse.mean : worse.mean - better.mean;
  const noise = Math.max(better.sd ?? 0, worse.sd ?? 0);
  if (Math.abs(diff) <= noise) return null;
  return diff > 0;
}

/** "1.234 ± 0.005" (or "1.234" with one seed), with `digits` decimals. */
export function show(s: Spread | null, digits = 3): string {
  if (!s) return '–';
  return s.sd === null ? s.mean.toFixed(digits) : `${s.mean.toFixed(digits)} ± ${s.sd.toFixed(digits)}`;
}

/** "A → B (Δ −0.012, seed spread ±0.004)" or "(Δ −0.012, one seed)". */
export function compare(from: Spread | null, to: Spread | null, digits = 3): string {
  if (!from || !to) return '–';
  const d = to.mean - from.mean;
  const noise = Math.max(from.sd ?? 0, to.sd ?? 0);
  const spreadText = from.sd === null && to.sd === null ? 'one seed, no spread' : `seed spread ±${noise.toFixed(digits)}`;
  return `${from.mean.toFixed(digits)} → ${to.mean.toFixed(digits)} (Δ ${d >= 0 ? '+' : '−'}${Math.abs(d).toFixed(digits)}, ${spreadText})`;
}
