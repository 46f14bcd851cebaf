// Worker threads that draw stretches of init's seeded normal sequence, so a 16B-parameter init uses every core.
// Each job is a generator state (from Rng.snapshot, jumped to with skipNormals) and a count; the worker runs
// fillNormalPairs' own source text into a shared buffer and flags it done, and the calling thread blocks on the flag
// (Atomics.wait), so the checkpoint writer above stays synchronous. Leaves out what the values are for (init-weights.ts).

import { Worker } from 'node:worker_threads';
import { fillNormalPairs } from '../util/random.js';

/** n values mean + std · N(0, 1), continuing a generator whose state words are `s` and pending sin `spare`. */
export interface NormalJob {
  s: Uint32Array;
  spare: number | null;
  n: number;
  std: number;
  mean: number;
}

const IDLE = 0, DONE = 1, FAILED = 2;

/** The worker program: plain JavaScript evaluated by the Worker, as a worker file would resolve differently in dist/ and tsx. */
const workerSource = (): string => `
const { parentPort, workerData } = require('node:worker_threads');
${fillNormalPairs.toString()}
const { flag, out } = workerData;
parentPort.on('message', (job) => {
  try {
    const values = out.subarray(0, job.n);
    let from = 0;
    if (job.spare !== null && job.n > 0) { values[0] = job.mean + job.std * job.spare; from = 1; }
    fillNormalPairs(job.s, values, from, job.std, job.mean);
    Atomics.store(flag, 0, ${DONE});
  } catch (e) {
    Atomics.store(flag, 0, ${FAILED});
  }
  Atomics.notify(flag, 0);
});
`;

/** The same values, drawn on the calling thread (no workers, or a model too small to be worth them). */
export function runNormalJob(job: NormalJob, out: Float32Array): Float32Array {
  const values = out.subarray(0, job.n);
  let from = 0;
  if (job.spare !== null && job.n > 0) { values[0] = job.mean + job.std * job.spare; from = 1; }
  fillNormalPairs(job.s.slice(), values, from, job.std, job.mean);
  return values;
}

export class NormalThreads {
  private readonly workers: Worker[] = [];
  private readonly flags: Int32Array[] = [];
  private readonly outs: Float32Array[] = [];

  /** `threads` workers, each with a shared buffer of `maxValues` floats. */
  constructor(readonly threads: number, maxValues: number) {
    const source = workerSource();
    for (let w = 0; w < threads; w++) {
      const flag = new Int32Array(new SharedArrayBuffer(4));
      const out = new Float32Array(new SharedArrayBuffer(4 * maxValues));
      const worker = new Worker(source, { eval: true, workerData: { flag, out } });
      worker.unref();
      this.workers.push(worker);
      this.flags.push(flag);
      this.outs.push(out);
    }
  }

  /** Starts `job` on worker `w`, which must be idle (its last result read). */
  start(w: number, job: NormalJob): void {
    Atomics.store(this.flags[w]!, 0, IDLE);
    this.workers[w]!.postMessage({ s: job.s, spare: job.spare, n: job.n, std: job.std, mean: job.mean });
  }

  /** Waits for worker w's job; its values, in w's shared buffer until w's next job. */
  result(w: number, n: number): Float32Array {
    const flag = this.flags[w]!;
    while (Atomics.load(flag, 0) === IDLE) Atomics.wait(flag, 0, IDLE, 1000);
    if (Atomics.load(flag, 0) === FAILED) throw new Error(`init: worker thread ${w} failed drawing ${n} weights`);
    return this.outs[w]!.subarray(0, n);
  }

  close(): void {
    for (const w of this.workers) void w.terminate();
  }
}
