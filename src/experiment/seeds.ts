// Numbers across seeds. An arm's value is the mean over its seeds with their spread (sample standard deviation). A
// difference between two arms is taken seed by seed — a seed fixes the data split, the tokenizer, the initialisation
// and the data order, so arms of one seed differ only in their setting — and shown with the spread of those paired
// differences, which is what decides whether a claim holds: a difference inside that spread is no evidence either way.

import type { ArmRecord } from './arm.js';

export interface Spread {
  mean: number;
  sd: number | null;               // null with one seed
  n: number;
  bySeed: Map<number, number>;
}

function spreadOf(bySeed: Map<number, number>): Spread {
  const xs = [...bySeed.values()], n = xs.length, mean = xs.reduce((a, x) => a + x, 0) / n;
  const sd = n < 2 ? null : Math.sqrt(xs.reduce((a, x) => a + (x - mean) ** 2, 0) / (n - 1));
  return { mean, sd, n, bySeed };
}

/** A measurement of one arm over its seeds (equal-steps runs unless `budget` says otherwise). */
export function armValue(records: readonly ArmRecord[], arm: string, pick: (r: ArmRecord) => number | null,
  budget: ArmRecord['budget'] = 'equal-steps'): Spread | null {
  const bySeed = new Map<number, number>();
  for (const r of records) {
    const x = r.arm === arm && r.budget === budget ? pick(r) : null;
    if (x !== null && Number.isFinite(x)) bySeed.set(r.seed, x);
  }
  return bySeed.size === 0 ? null : spreadOf(bySeed);
}

/** to − from, seed by seed over the seeds both have; null when they share none. */
export function pairedDifference(from: Spread | null, to: Spread | null): Spread | null {
  if (!from || !to) return null;
  const d = new Map<number, number>();
  for (const [seed, x] of to.bySeed) if (from.bySeed.has(seed)) d.set(seed, x - from.bySeed.get(seed)!);
  return d.size === 0 ? null : spreadOf(d);
}

/**
 * Whether `better` beats `worse` (lower is better unless `higherIsBetter`): true or false when the mean paired
 * difference is larger than the spread of the paired differences, null when it is not or when there is nothing to
 * compare. With one seed there is no spread and the sign decides (0: null).
 */
export function beats(better: Spread | null, worse: Spread | null, higherIsBetter = false): boolean | null {
  const d = pairedDifference(worse, better);
  if (!d) return null;
  const gain = higherIsBetter ? d.mean : -d.mean;
  if (Math.abs(gain) <= (d.sd ?? 0)) return null;
  return gain > 0;
}

/** "1.234 ± 0.005" (or "1.234" with one seed or none apart), with `digits` decimals. */
export function show(s: Spread | null, digits = 3): string {
  if (!s) return '–';
  return s.sd === null || s.sd === 0 ? s.mean.toFixed(digits) : `${s.mean.toFixed(digits)} ± ${s.sd.toFixed(digits)}`;
}

/** "A → B (Δ −0.012, one seed)" or "A → B (Δ −0.012 ± 0.004 over 3 seeds, paired by seed)". */
export function compare(from: Spread | null, to: Spread | null, digits = 3): string {
  const d = pairedDifference(from, to);
  if (!from || !to || !d) return '–';
  const sign = d.mean >= 0 ? '+' : '−';
  const spreadText = d.sd === null ? ', one seed, no spread' : ` ± ${d.sd.toFixed(digits)} over ${d.n} seeds, paired by seed`;
  return `${from.mean.toFixed(digits)} → ${to.mean.toFixed(digits)} (Δ ${sign}${Math.abs(d.mean).toFixed(digits)}${spreadText})`;
}
