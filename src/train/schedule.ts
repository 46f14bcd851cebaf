// The paper's learning-rate and batch-size schedules, as pure functions of the step.
// LR: linear warmup → constant → cosine decay to minRatio·peak → a short constant tail at minRatio·peak.
// Batch: an optional linear ramp of sequences per step from `start` to the full batch over `rampSteps`.

export interface LrSchedule {
  peak: number;
  warmupSteps: number;
  decayStart: number;   // step where the cosine decay begins (end of the constant phase)
  decayEnd: number;     // step where it reaches minRatio·peak (the tail runs from here to the end)
  minRatio: number;     // paper: 0.1 (2.2e-4 → 2.2e-5)
}

/** The default shape for a run of `total` steps: 5% warmup (≥ 1 step), constant to 60%, cosine to 90%, tail. */
export function defaultLrSchedule(peak: number, total: number, minRatio = 0.1): LrSchedule {
  const warmupSteps = Math.max(1, Math.round(total * 0.05));
  return { peak, warmupSteps, decayStart: Math.max(warmupSteps, Math.round(total * 0.6)), decayEnd: Math.max(warmupSteps, Math.round(total * 0.9)), minRatio };
}

/** LR at 0-based step `step`. */
export function learningRate(s: LrSchedule, step: number): number {
  if (step < s.warmupSteps) return (s.peak * (step + 1)) / s.warmupSteps;
  if (step < s.decayStart) return s.peak;
  const floor = s.peak * s.minRatio;
  if (step >= s.decayEnd || s.decayEnd <= s.decayStart) return floor;
  const p = (step - s.decayStart) / (s.decayEnd - s.decayStart);
  return floor + (s.peak - floor) * 0.5 * (1 + Math.cos(Math.PI * p));
}

export interface BatchRamp { start: number; full: number; rampSteps: number }

/** Sequences in the batch at 0-based `step`. */
export function batchSize(r: BatchRamp, step: number): number {
  if (r.rampSteps <= 0 || step >= r.rampSteps) return r.full;
  return Math.max(1, Math.round(r.start + ((r.full - r.start) * step) / r.rampSteps));
}
