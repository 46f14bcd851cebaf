// Drafting with the model's own MTP module (self-speculative decoding). The module keeps a latent cache of its own:
// its row i is its decoder layer's latent at input position i, which takes model.norm(h_i) of the main model and the
// token t_{i+1}. The main model's normed states wait here (per sequence, in order) until the module consumes them:
// each draft phase runs the module over every waiting row of every drafting sequence in one batched pass, drafts
// t_{L+1} from the last row, and chains the module for deeper drafts (its output after shared_head.norm as the
// hidden input, the draft as the token, one position further; those rows are provisional and rolled back at once).
// Leaves out: the main model's verify pass and acceptance (engine.ts, speculative.ts).

import type { DeepSeekModel } from '../model/transformer.js';
import type { LatentCache } from './latent-cache.js';
import type { SamplerOptions } from './sampler.js';
import { argmax } from './sampler.js';
import type { Scope, Tensor } from '../tensor/tensor.js';
import { empty, dispose, rows, f32 } from '../tensor/tensor.js';
import type { Rng } from '../util/random.js';
import type { DraftPolicy } from './speculative.js';
import { AcceptanceStats, tokenDistribution, sampleFrom } from './speculative.js';

/** Main states a sequence may queue for the module while plain steps run (then it stops drafting for good). */
const WAITING_ROWS = 64;

/** What the drafter needs to know of a sequence. */
export interface DraftingSequence {
  readonly slot: number;
  readonly tokens: readonly number[];   // every token so far, the pending (not yet cached) one last
  readonly params: SamplerOptions;
  readonly rng: Rng;
  budget: number;                       // tokens it may still emit
  drafts: number[];                     // set by draft(): the proposals after the pending token
  draftDists: Float64Array[];           // and, when sampling, the distribution each was drawn from
}

/** Milliseconds spent per phase, summed over cycles. */
export interface SpeculationTiming { draftMs: number; verifyMs: number; acceptMs: number }

export class Drafter {
  readonly stats = new AcceptanceStats();
  readonly timing: SpeculationTiming = { draftMs: 0, verifyMs: 0, acceptMs: 0 };
  private readonly cache: LatentCache;
  private readonly waiting: Tensor;        // [slots × room, D]: normed main states not yet fed to the module
  private readonly count: Int32Array;      // rows waiting per slot
  private readonly lost: Uint8Array;       // 1: the slot's module state fell behind for good (no more drafts)
  private readonly room: number;

  constructor(private readonly model: DeepSeekModel, main: LatentCache, readonly maxDraft: number, readonly policy: DraftPolicy,
    private readonly allowed: Uint8Array | undefined, private readonly sampleVocab: number) {
    this.cache = model.newMtpCache(main);
    this.room = WAITING_ROWS + maxDraft + 1;
    this.waiting = empty(model.ctx.heap, [main.slots * this.room, model.cfg.hiddenSize]);
    this.count = new Int32Array(main.slots);
    this.lost = new Uint8Array(main.slots);
  }

  /**
   * A new sequence in `slot` whose prompt (P tokens, then the sampled next one in `tokens`) gave main states
   * normed [P, D]: the module runs over positions 0..P-2 now; row P-1 waits for the first draft phase. When the
   * policy does not draft at this batch size, the sequence keeps no MTP state and never drafts.
   */
  start(s: Scope, slot: number, normed: Tensor, tokens: readonly number[], batch: number): void {
    const P = tokens.length - 1;
    this.cache.lengths[slot] = 0;
    this.count[slot] = 0;
    this.lost[slot] = this.policy.drafting(batch) ? 0 : 1;
    if (this.lost[slot]) return;
    if (P >= 2) this.model.mtpPrefill(s, normed, tokens.slice(1, P), this.cache, slot);
    this.keep(slot, rows(normed, P - 1, 1), 1);
  }

  /** Queues n normed main states (consecutive positions) of `slot` for the module; too many and it stops drafting. */
  keep(slot: number, normed: Tensor, n: number): void {
    if (this.lost[slot]) return;
    if (this.count[slot] + n > this.room) { this.lost[slot] = 1; return; }
    const D = this.model.cfg.hiddenSize;
    this.model.ctx.backend.copy(rows(this.waiting, slot * this.room + this.count[slot], n), normed, n * D);
    this.count[slot] += n;
  }

  /** Drafts this cycle, as the policy says; where it has settled on plain decoding, the MTP state is dropped. */
  choose(live: readonly DraftingSequence[]): number {
    const k = Math.min(this.policy.choose(live.length), this.maxDraft);
    if (!this.policy.drafting(live.length)) for (const a of live) { this.lost[a.slot] = 1; this.count[a.slot] = 0; }
    return k;
  }

  /**
   * Sets every sequence's drafts (up to k each; fewer near its token budget or the cache's end, none for a
   * sequence whose module state is lost).
   */
  draft(s: Scope, live: readonly DraftingSequence[], k: number, capacity: number): void {
    const t0 = performance.now();
    const m = this.model, b = m.ctx.backend, D = m.cfg.hiddenSize, V = m.cfg.vocabSize;
    const want = new Map<DraftingSequence, number>();
    for (const a of live) {
      a.drafts = [];
      a.draftDists = [];
      const L = a.tokens.length - 1;
      const n = Math.min(k, a.budget - 1, capacity - L - 1);
      if (n > 0 && !this.lost[a.slot]) want.set(a, n);
    }
    const seqs = [...want.keys()];
    if (seqs.length === 0) { this.timing.draftMs += performance.now() - t0; return; }

    // Depth 1: every waiting row of every drafting sequence in one pass.
    const counts = seqs.map((a) => this.count[a.slot]);
    const R = counts.reduce((x, y) => x + y, 0);
    const hIn = s.tensor([R, D]);
    const next: number[] = [], slots: number[] = [], lastRow: number[] = [];
    let r = 0;
    seqs.forEach((a, i) => {
      const c = counts[i], L = a.tokens.length - 1;
      b.copy(rows(hIn, r, c), rows(this.waiting, a.slot * this.room, c), c * D);
      for (let j = 0; j < c; j++) { next.push(a.tokens[L - c + 1 + j]); slots.push(a.slot); }
      r += c;
      lastRow.push(r - 1);
      this.count[a.slot] = 0;
    });
    let out = m.mtpDecode(s, hIn, next, this.cache, slots);
    let last = s.tensor([seqs.length, D]);
    lastRow.forEach((row, i) => b.copy(rows(last, i, 1), rows(out, row, 1), D));
    let group = seqs;
    for (let depth = 1; ; depth++) {
      const logits = f32(m.mtpLogitsOf(s, last, group.length));
      group.forEach((a, i) => {
        const row = logits.subarray(i * V, i * V + this.sampleVocab);
        if (a.params.temperature === 0) a.drafts.push(argmax(row, this.allowed));
        else {
          const q = tokenDistribution(row, a.params, this.allowed);
          a.draftDists.push(q);
          a.drafts.push(sampleFrom(q, a.rng));
        }
      });
      // Chain: the sequences that want another draft feed their output and draft one position further.
      const deeper = group.map((a, i) => ({ a, i })).filter(({ a }) => want.get(a)! > depth);
      if (deeper.length === 0) break;
      const hChain = s.tensor([deeper.length, D]);
      deeper.forEach(({ i }, j) => b.copy(rows(hChain, j, 1), rows(last, i, 1), D));
      group = deeper.map(({ a }) => a);
      out = m.mtpDecode(s, hChain, group.map((a) => a.drafts[depth - 1]), this.cache, group.map((a) => a.slot));
      last = out;
    }
    // The chained rows were provisional: the module's cache holds exactly the real positions 0..L-1 again.
    for (const a of seqs) this.cache.lengths[a.slot] = a.tokens.length - 1;
    this.timing.draftMs += performance.now() - t0;
  }

  dispose(): void {
    this.cache.dispose();
    dispose(this.waiting);
  }
}
