// The arms' training curves, read from their metrics.jsonl and averaged over seeds step by step: loss, validation
// bits/byte (against step or training time), MaxVio_batch, and the two derived numbers the claims use — how many
// steps balancing takes, and FP8's relative loss error against BF16 smoothed as the paper's Figure 10 is.

import type { StepMetrics } from '../train/trainer.js';
import type { ArmRecord } from './arm.js';
import { batchMaxVio } from './arm.js';

export type Point = [number, number];

/** The EMA weight on history the paper's Figure 10 uses. */
const EMA = 0.9;
/**
 * MaxVio_batch counts as balanced below this, averaged over this many steps. A perfectly balanced router shows ~0.08
 * from counting noise alone at the default 2,048 slots per step (8 experts: the largest of 8 counts of sd 15 around
 * 256), and the bias's ±γ steps keep aux-free routing near 0.2.
 */
const BALANCED_BELOW = 0.3;
const BALANCE_WINDOW = 10;

interface ArmRuns { layers: number; seeds: StepMetrics[][] }

export class Curves {
  readonly balancedBelow = BALANCED_BELOW;
  private readonly arms = new Map<string, ArmRuns>();

  /** runs: each finished arm's record with its metrics (equal-time reruns are kept apart as "arm@time"); T: tokens per sequence. */
  constructor(runs: readonly { record: ArmRecord; metrics: StepMetrics[] }[], private readonly T: number) {
    for (const { record, metrics } of runs) {
      const id = record.budget === 'equal-time' ? `${record.arm}@time` : record.arm;
      const a = this.arms.get(id) ?? { layers: record.maxvio_global.length, seeds: [] };
      a.seeds.push(metrics);
      this.arms.set(id, a);
    }
  }

  has(arm: string): boolean { return this.arms.has(arm); }

  /** Per step, the mean over seeds of pick(step) (steps that every seed has; non-finite values skipped). */
  private averaged(arm: string, pick: (m: StepMetrics, layers: number) => number | undefined, x: (m: StepMetrics) => number = (m) => m.step): Point[] {
    const a = this.arms.get(arm);
    if (!a) return [];
    const n = Math.min(...a.seeds.map((s) => s.length));
    const out: Point[] = [];
    for (let i = 0; i < n; i++) {
      const ys = a.seeds.map((s) => pick(s[i]!, a.layers)).filter((y): y is number => y !== undefined && Number.isFinite(y));
      if (ys.length === a.seeds.length) out.push([mean(a.seeds.map((s) => x(s[i]!))), mean(ys)]);
    }
    return out;
  }

  trainLoss(arm: string): Point[] { return this.averaged(arm, (m) => m.ce); }

  valBpb(arm: string): Point[] { return this.averaged(arm, (m) => m.valBpb); }

  /** Validation bits/byte against the steps' own training time in seconds (evaluation excluded). */
  valBpbByTime(arm: string): Point[] {
    const a = this.arms.get(arm);
    if (!a) return [];
    const clock = new Map<StepMetrics, number>();
    for (const seed of a.seeds) {
      let t = 0;
      for (const m of seed) { t += (m.batch * this.T) / m.tokensPerSec; clock.set(m, t); }
    }
    return this.averaged(arm, (m) => m.valBpb, (m) => clock.get(m)!);
  }

  maxVioBatch(arm: string): Point[] { return this.averaged(arm, (m, layers) => (layers > 0 ? batchMaxVio(m, layers) : undefined)); }

  /** The first step from which the BALANCE_WINDOW-step mean of MaxVio_batch stays below BALANCED_BELOW; null if never. */
  stepsToBalance(arm: string): number | null {
    const v = this.maxVioBatch(arm);
    if (v.length < BALANCE_WINDOW) return null;
    let since: number | null = null;
    for (let i = BALANCE_WINDOW - 1; i < v.length; i++) {
      const avg = mean(v.slice(i - BALANCE_WINDOW + 1, i + 1).map((p) => p[1]));
      if (avg >= BALANCED_BELOW) since = null;
      else if (since === null) since = v[i - BALANCE_WINDOW + 1]![0];
    }
    return since;
  }

  /** |EMA(loss_arm) − EMA(loss_bf16)| / EMA(loss_bf16) per step, the training losses smoothed with weight 0.9. */
  relativeErrorCurve(arm: string): Point[] {
    const a = smooth(this.trainLoss(arm)), b = smooth(this.trainLoss('bf16'));
    const n = Math.min(a.length, b.length);
    return Array.from({ length: n }, (_, i) => [a[i]![0], Math.abs(a[i]![1] - b[i]![1]) / b[i]![1]] as Point);
  }

  /** The relative error at the end of training and its maximum over the second half; null without both arms. */
  relativeErrorVsBf16(arm: string): { final: number; maxLateHalf: number } | null {
    const e = this.relativeErrorCurve(arm);
    if (e.length === 0) return null;
    const late = e.slice(Math.floor(e.length / 2));
    return { final: e[e.length - 1]![1], maxLateHalf: Math.max(...late.map((p) => p[1])) };
  }
}

function smooth(p: Point[]): Point[] {
  let ema: number | null = null;
  return p.map(([x, y]) => { ema = ema === null ? y : EMA * ema + (1 - EMA) * y; return [x, ema]; });
}

const mean = (xs: number[]) => xs.reduce((a, x) => a + x, 0) / xs.length;
