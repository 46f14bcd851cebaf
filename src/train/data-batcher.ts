// Batches of next-token training windows from one packed token stream: the stream is cut into windows of T+1
// tokens (stride T, so each target is the next window's first input), shuffled per epoch by a seed, and served
// B at a time; the position {epoch, index} is serialisable so a resumed run continues exactly.
// Leaves out: tokenization and packing (data.ts); document-aware masking (windows may span an EOS).
//
// Shapes: B sequences per batch, T tokens per sequence; inputs[b*T + t] is followed by targets[b*T + t].

import { Rng } from '../util/random.js';

export interface Batch {
  /** [rows, T] token ids. */
  inputs: Int32Array;
  /** [rows, T] the token after each input. */
  targets: Int32Array;
  /** Sequences in this batch (B, or fewer for the last validation batch). */
  rows: number;
  T: number;
}

/** Where the next batch starts: window `index` of epoch `epoch`'s shuffled order. */
export interface BatcherState { epoch: number; index: number }

function checkShape(tokens: Int32Array, B: number, T: number, what: string): void {
  if (!Number.isInteger(B) || B < 1) throw new Error(`${what}: batch size ${B} must be a positive integer`);
  if (!Number.isInteger(T) || T < 1) throw new Error(`${what}: sequence length ${T} must be a positive integer`);
  if (tokens.length < T + 1) {
    throw new Error(`${what}: the token stream has ${tokens.length} tokens; one sequence of T+1 = ${T + 1} tokens is needed`);
  }
}

/** Copies the window starting at token `start` into row `row` of a batch. */
function fillRow(tokens: Int32Array, start: number, T: number, row: number, inputs: Int32Array, targets: Int32Array): void {
  inputs.set(tokens.subarray(start, start + T), row * T);
  targets.set(tokens.subarray(start + 1, start + T + 1), row * T);
}

/**
 * Training batches. Epoch e uses windows starting at shift_e + k*T (shift_e in [0, T) drawn from the seed, so
 * epochs see different cuts), k over a seeded permutation. A batch that runs past an epoch's last window
 * continues with the next epoch. Example: 10 tokens, T = 3, an epoch with shift 0 has windows [0..3], [3..6],
 * [6..9] in some order.
 */
export class Batcher {
  private epoch = 0;
  private index = 0;
  private order: Int32Array = new Int32Array(0); // window starts of `orderEpoch`, shuffled
  private orderEpoch = -1;

  constructor(private readonly tokens: Int32Array, readonly B: number, readonly T: number, private readonly seed: number) {
    checkShape(tokens, B, T, 'batcher');
  }

  /** Window starts of epoch `e`, in the order they are served. */
  epochOrder(e: number): Int32Array {
    if (e === this.orderEpoch) return this.order;
    const rng = new Rng((this.seed ^ Math.imul(e + 1, 0x9e3779b1)) >>> 0);
    const T = this.T;
    const n = this.tokens.length;
    let shift = rng.nextU32() % T;
    if (n - 1 - shift < T) shift = 0;
    const count = Math.floor((n - 1 - shift) / T);
    const order = new Int32Array(count);
    for (let k = 0; k < count; k++) order[k] = shift + k * T;
    for (let k = count - 1; k > 0; k--) {
      const j = rng.nextU32() % (k + 1);
      const t = order[k]!; order[k] = order[j]!; order[j] = t;
    }
    this.order = order;
    this.orderEpoch = e;
    return order;
  }

  next(): Batch {
    const { B, T } = this;
    const inputs = new Int32Array(B * T);
    const targets = new Int32Array(B * T);
    for (let row = 0; row < B; row++) {
      let order = this.epochOrder(this.epoch);
      if (this.index >= order.length) { this.epoch++; this.index = 0; order = this.epochOrder(this.epoch); }
      fillRow(this.tokens, order[this.index++]!, T, row, inputs, targets);
    }
    return { inputs, targets, rows: B, T };
  }

  state(): BatcherState {
    return { epoch: this.epoch, index: this.index };
  }

  /** Continues from a state() taken earlier (on a batcher with the same tokens, B, T and seed). */
  restore(state: BatcherState): void {
    const { epoch, index } = state;
    if (!Number.isInteger(epoch) || epoch < 0 || !Number.isInteger(index) || index < 0 || index > this.epochOrder(epoch).length) {
      throw new Error(`batcher: invalid position ${JSON.stringify(state)}`);
    }
    this.epoch = epoch;
    this.index = index;
  }
}

/**
 * Validation batches over fixed windows starting at 0, T, 2T, ... (in order, every window once), B per batch;
 * the last batch may have fewer rows. `maxWindows` caps how many windows are used.
 */
export function* validationBatches(tokens: Int32Array, B: number, T: number, maxWindows = Infinity): Generator<Batch> {
  checkShape(tokens, B, T, 'validation batches');
  const count = Math.min(Math.floor((tokens.length - 1) / T), maxWindows);
  for (let w = 0; w < count; w += B) {
    const rows = Math.min(B, count - w);
    const inputs = new Int32Array(rows * T);
    const targets = new Int32Array(rows * T);
    for (let r = 0; r < rows; r++) fillRow(tokens, (w + r) * T, T, r, inputs, targets);
    yield { inputs, targets, rows, T };
  }
}
