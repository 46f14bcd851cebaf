// The pieces of self-speculative decoding that are plain arithmetic on logits: the exact distribution the sampler
// draws from, the verification of drafted tokens (greedy: keep drafts while they equal the main model's argmax;
// sampling: rejection sampling, so every emitted token follows the main model's distribution exactly), and the
// controller that picks how many tokens to draft from the measured acceptance and cycle times.

import type { Rng } from '../util/random.js';
import type { SamplerOptions } from './sampler.js';
import { argmax } from './sampler.js';

/**
 * The probabilities sampleToken draws ids with, for temperature > 0: temperature, then top-k (ties: lower id), then
 * the nucleus of top-p, restricted to `allowed`. Returned dense (one entry per id) and normalised.
 */
export function tokenDistribution(logits: ArrayLike<number>, o: SamplerOptions, allowed?: Uint8Array): Float64Array {
  const V = logits.length, p = new Float64Array(V);
  const best = argmax(logits, allowed), max = logits[best];
  const weight = (i: number): number => Math.exp((logits[i] - max) / o.temperature);
  const ok = (i: number): boolean => !allowed || allowed[i] === 1;
  if (o.topK === 0 && o.topP >= 1) {
    let total = 0;
    for (let i = 0; i < V; i++) if (ok(i)) total += (p[i] = weight(i));
    if (total === 0) { p[best] = 1; return p; }
    for (let i = 0; i < V; i++) p[i] /= total;
    return p;
  }
  // Ranked ids (decreasing logit, lower id first on ties), as far as top-k reaches.
  const ids = Array.from({ length: V }, (_, i) => i).filter(ok)
    .sort((a, b) => (logits[b] - logits[a]) || (a - b));
  if (ids.length === 0) { p[best] = 1; return p; }
  const kept = o.topK > 0 ? ids.slice(0, o.topK) : ids;
  const probs = kept.map(weight);
  let n = probs.length;
  if (o.topP < 1) {
    const mass = probs.reduce((a, b) => a + b, 0);
    let cum = 0;
    n = 0;
    while (cum < o.topP * mass && n < probs.length) cum += probs[n++];
    n = Math.max(1, n);
  }
  let total = 0;
  for (let k = 0; k < n; k++) total += probs[k];
  for (let k = 0; k < n; k++) p[kept[k]] = probs[k] / total;
  return p;
}

/** Draws an id from a normalised dense distribution (in id order). */
export function sampleFrom(p: Float64Array, rng: Rng): number {
  let u = rng.uniform(), last = -1;
  for (let i = 0; i < p.length; i++) {
    if (p[i] <= 0) continue;
    last = i;
    u -= p[i];
    if (u < 0) return i;
  }
  return last;
}

/**
 * Rejection sampling over k drafted tokens (Leviathan et al. 2023; Chen et al. 2023): draft j, drawn from q[j], is
 * kept with probability min(1, p[j][x] / q[j][x]); the first rejected one is replaced by a draw from
 * norm(max(0, p[j] − q[j])) and ends the run; if all are kept, one more token is drawn from p[k]. Each emitted
 * token is then distributed exactly as p. p has k + 1 rows (the main model at the pending token and each draft).
 */
export function verifySampled(p: readonly Float64Array[], drafts: readonly number[], q: readonly Float64Array[], rng: Rng): number[] {
  const out: number[] = [];
  for (let j = 0; j < drafts.length; j++) {
    const x = drafts[j], px = p[j][x], qx = q[j][x];
    if (qx > 0 && rng.uniform() * qx < px) { out.push(x); continue; }
    const r = new Float64Array(p[j].length);
    let total = 0;
    for (let i = 0; i < r.length; i++) total += (r[i] = Math.max(0, p[j][i] - q[j][i]));
    if (total > 0) { for (let i = 0; i < r.length; i++) r[i] /= total; out.push(sampleFrom(r, rng)); } else out.push(sampleFrom(p[j], rng));
    return out;
  }
  out.push(sampleFrom(p[drafts.length], rng));
  return out;
}

/** Greedy verification: drafts are kept while each equals the main model's choice; then the main model's own token. */
export function verifyGreedy(choices: readonly number[], drafts: readonly number[]): number[] {
  const out: number[] = [];
  for (let j = 0; j < drafts.length; j++) {
    out.push(choices[j]);
    if (choices[j] !== drafts[j]) return out;
  }
  out.push(choices[drafts.length]);
  return out;
}

/** Acceptance counts per draft position (1-based position j counts drafts that reached it). */
export class AcceptanceStats {
  readonly proposed: number[] = [];
  readonly accepted: number[] = [];
  verifySteps = 0;     // sequence-steps that verified at least one draft
  emitted = 0;         // tokens those steps produced (accepted drafts + the main model's own token)

  record(drafted: number, kept: number): void {
    if (drafted === 0) return;
    for (let j = 0; j < drafted && j <= kept; j++) {
      this.proposed[j] = (this.proposed[j] ?? 0) + 1;
      if (j < kept) this.accepted[j] = (this.accepted[j] ?? 0) + 1;
    }
    this.verifySteps++;
    this.emitted += kept + 1;
  }

  /** Acceptance rate at each draft position (drafts kept / drafts that reached it). */
  rates(): number[] { return this.proposed.map((n, j) => (this.accepted[j] ?? 0) / n); }

  /** Mean tokens a sequence gained per verify pass (1 + accepted drafts); null before any. */
  acceptedPerStep(): number | null { return this.verifySteps ? this.emitted / this.verifySteps : null; }
}

/** How many tokens to draft next cycle, from measured acceptance and measured cycle times. */
export interface DraftPolicy {
  /** Draft tokens for the next cycle of `batch` sequences (0 = a plain decode step). */
  choose(batch: number): number;
  /** Whether drafting is currently expected at this batch size (a new sequence then keeps its MTP state up to date). */
  drafting(batch: number): boolean;
  /** A finished cycle: the most drafts any sequence verified, sequences, and its wall time. */
  recordCycle(k: number, batch: number, ms: number): void;
  /** One sequence's verification: drafts offered and kept. */
  recordVerify(drafted: number, kept: number): void;
}

/** Always drafts the maximum (tests, and for measuring the pure effect of speculation). */
export class FixedDraft implements DraftPolicy {
  constructor(readonly k: number) {}
  choose(): number { return this.k; }
  drafting(): boolean { return true; }
  recordCycle(): void {}
  recordVerify(): void {}
}

/**
 * Picks k ∈ 0..maxK maximising expected tokens per second: with measured per-position acceptance α_j, a cycle of k
 * drafts yields 1 + α_1 + α_1α_2 + … tokens per sequence and costs its measured time per sequence (an EMA per k and
 * batch-size class).
 * k = 0 is plain decoding. Each k is first timed SAMPLES times per size class (taking turns); then the best one
 * runs, and while that is a drafting k the runner-up is retried every PROBE_EVERY cycles so that estimates follow
 * the load. Once plain decoding wins at a batch size it stays (drafting() turns false there, and the drafter drops
 * the sequences' MTP state, which would cost to keep).
 */
export class AdaptiveDraft implements DraftPolicy {
  static readonly PROBE_EVERY = 16;
  static readonly SAMPLES = 3;
  private static readonly shared = new WeakMap<object, Map<number, AdaptiveDraft>>();

  /** The policy of `model` for up to maxK drafts, shared by its generators, so that what one measured the next knows. */
  static of(model: object, maxK: number): AdaptiveDraft {
    const byK = AdaptiveDraft.shared.get(model) ?? new Map<number, AdaptiveDraft>();
    AdaptiveDraft.shared.set(model, byK);
    const p = byK.get(maxK) ?? new AdaptiveDraft(maxK);
    byK.set(maxK, p);
    return p;
  }

  private readonly alpha: number[];
  private readonly seen: number[];       // verifications that reached each position
  private readonly times = new Map<string, { ms: number; n: number }>();   // per sequence, per k and size class
  private readonly best = new Map<number, number>();                       // size class → its best k, once timed
  private cycles = 0;

  constructor(readonly maxK: number) {
    this.alpha = Array.from({ length: maxK }, () => 0.5);
    this.seen = Array.from({ length: maxK }, () => 0);
  }

  /** Batch sizes in classes 1, 2–3, 4–7, 8–15, …: continuous batching moves the size from step to step. */
  private static sizeClass(size: number): number { return Math.floor(Math.log2(size)); }

  private time(k: number, size: number) { return this.times.get(`${k}/${AdaptiveDraft.sizeClass(size)}`); }

  expectedTokens(k: number): number {
    let e = 1, run = 1;
    for (let j = 0; j < k; j++) { run *= this.alpha[j]; e += run; }
    return e;
  }

  choose(size: number): number {
    const cls = AdaptiveDraft.sizeClass(size);
    this.cycles++;
    if (this.best.get(cls) === 0) return 0;
    let fewest = this.maxK;
    for (let k = this.maxK; k >= 0; k--) if ((this.time(k, size)?.n ?? 0) < (this.time(fewest, size)?.n ?? 0)) fewest = k;
    if ((this.time(fewest, size)?.n ?? 0) < AdaptiveDraft.SAMPLES) return fewest;
    const rated = Array.from({ length: this.maxK + 1 }, (_, k) => ({ k, rate: this.expectedTokens(k) / this.time(k, size)!.ms }))
      .sort((a, b) => b.rate - a.rate);
    this.best.set(cls, rated[0].k);
    if (rated[0].k === 0) return 0;
    return this.cycles % AdaptiveDraft.PROBE_EVERY === 0 ? rated[1].k : rated[0].k;
  }

  drafting(size: number): boolean { return this.best.get(AdaptiveDraft.sizeClass(size)) !== 0; }

  recordCycle(k: number, size: number, ms: number): void {
    const key = `${k}/${AdaptiveDraft.sizeClass(size)}`, old = this.times.get(key), perSeq = ms / size;
    this.times.set(key, old === undefined ? { ms: perSeq, n: 1 } : { ms: 0.8 * old.ms + 0.2 * perSeq, n: old.n + 1 });
  }

  /** Acceptance per position: the running mean over the first 20 verifications, an EMA after. */
  recordVerify(drafted: number, kept: number): void {
    for (let j = 0; j < drafted && j <= kept; j++) {
      const rate = Math.max(0.05, 1 / ++this.seen[j]);
      this.alpha[j] += rate * ((j < kept ? 1 : 0) - this.alpha[j]);
    }
  }
}
