// A worker_threads pool over the one shared WebAssembly.Memory: each worker instantiates the same compiled kernel
// module on that memory once, then waits on a shared control block. A call splits [0, items) into one contiguous
// range per thread (the calling thread takes range 0) and every thread runs the named export on its range:
// `fn(...args, start, end, thread)`. Synchronised with Atomics; no per-call worker start, no tensor copies. A share
// that throws in a worker fails the call with that worker's message; nothing is re-run.
// Further memories (arenas: weights beyond one memory's 4 GiB) join with addMemory: every worker instantiates the
// module on each, and a call names the memory its pointers address.
// A share is claimed before it runs (its slot of `claims` from 0 to 1): the calling thread, done with its own share,
// claims and runs every worker share no worker has started. A worker that is descheduled when the call comes (2
// vCPUs shared with other processes: it may not run again for a whole time slice) then costs the call nothing; without
// this a decode step of a small model, a hundred calls each waiting for a worker, ran 5-16× slower on 2 threads than
// on 1 while other processes were busy (bench/decode-ab.ts). The same shares run, with their own thread index (its
// scratch), so results do not depend on who ran them.
// Leaves out: splitting a started share further (callers choose the dimension to split and, where work is uneven,
// the boundaries).

import { Worker, MessageChannel, MessagePort, receiveMessageOnPort } from 'node:worker_threads';
import * as os from 'node:os';
import { workerSource } from './worker-source.js';

const MAX_ARGS = 24;
// Control block (Int32): generation (one per call), export index, arg count, ready workers, a worker died, pages of
// memory the call needs every thread to see, the worker to fail on the next call (0: none; see injectFault), the
// memory the call runs on (0: the first), memory messages posted to every worker so far (see addMemory).
// Each worker reports a finished call by writing its generation to its own `done` slot. That is idempotent: with a
// shared countdown, one share run twice (a worker woken by the notify of a call it had already finished) drove the
// count to -1 and the caller waited for ever, or ended a later call before its shares had run.
// SPIN_MS: how long a waiting thread polls before it sleeps. Waking a sleeping thread on a VM can take longer than most
// ops of a decode step, so threads stay awake for a while between calls — as OpenMP runtimes do.
const SLOTS = { GEN: 0, FN: 1, NARGS: 2, READY: 3, DIED: 4, PAGES: 5, FAULT: 6, MEMORY: 7, POSTED: 8, SPIN_MS: 2 };
const { GEN, FN, NARGS, READY, DIED, PAGES, FAULT, MEMORY, POSTED } = SLOTS;
const CONTROL_INTS = 12;
const PAGE_BYTES = 65536;

export interface ThreadPoolOptions {
  /** The program each worker runs (default workerSource()); tests pass one that waits for calls another way. */
  workerSource?: string;
  /** Whether the calling thread runs the worker shares no worker has claimed (default true); tests that need a worker to run its share turn it off. */
  callerRunsShares?: boolean;
}

export type KernelExports = Record<string, (...args: number[]) => number | void>;

/** A worker share that threw, by the thread it belongs to (whichever thread ran it). */
interface ShareFailure { thread: number; message: string }

/** Default thread count: --threads / QIUSUO_THREADS, else one per core. */
export function defaultThreads(): number {
  const env = process.env.QIUSUO_THREADS;
  if (env !== undefined && env !== '') {
    const n = Number(env);
    if (!Number.isInteger(n) || n < 1 || n > 256) throw new Error(`QIUSUO_THREADS must be an integer in [1, 256], got "${env}"`);
    return n;
  }
  return Math.max(1, os.availableParallelism?.() ?? os.cpus().length);
}

/** The part of [0, items) that thread `t` of `threads` owns, rounded to multiples of `grain`. */
export function splitRange(items: number, threads: number, t: number, grain = 1): [number, number] {
  const chunks = Math.ceil(items / grain);
  const start = Math.floor((chunks * t) / threads) * grain;
  const end = Math.min(items, Math.floor((chunks * (t + 1)) / threads) * grain);
  return [Math.min(start, items), end];
}

/** Boundaries [0, b1, …, items] cutting items of the given work into `parts` contiguous runs of about equal work. */
export function equalWorkBounds(work: readonly number[], parts: number): number[] {
  const total = work.reduce((a, x) => a + x, 0);
  const bounds = [0];
  let acc = 0, i = 0;
  for (let p = 1; p < parts; p++) {
    const goal = (total * p) / parts;
    while (i < work.length && acc + work[i] / 2 <= goal) acc += work[i++];  // an item goes where most of it lies
    bounds.push(i);
  }
  bounds.push(work.length);
  return bounds;
}

export class ThreadPool {
  private readonly control: Int32Array;
  private readonly args: Float64Array;
  private readonly ranges: Int32Array;       // [start, end) of each thread for the current call
  private readonly failed: Int32Array;       // per thread: its share of the current call threw
  private readonly done: Int32Array;         // per thread: the generation of the last call it finished
  private readonly claims: Int32Array;       // per thread: 1 once its share of the current call is claimed
  private readonly callerRunsShares: boolean;
  private readonly ranAhead: boolean[];      // per thread: the calling thread ran its share of the current call
  private readonly ports: MessagePort[] = []; // per worker: what its failed share threw, { thread, message }
  private readonly workers: Worker[] = [];
  private readonly fnIndex = new Map<string, number>();
  /** Per memory index: this thread's kernels on it and the memory, or null once removed. */
  private readonly memories: ({ local: KernelExports; memory: WebAssembly.Memory } | null)[];
  private workerError: Error | null = null;
  private closed = false;

  /**
   * `local` is this thread's instance of the kernel module; `module` is sent to the workers, which instantiate it
   * on `memory`. With threads = 1 no worker is started.
   */
  constructor(readonly threads: number, local: KernelExports, private readonly module: WebAssembly.Module, memory: WebAssembly.Memory,
    opts: ThreadPoolOptions = {}) {
    if (!Number.isInteger(threads) || threads < 1) throw new Error(`threads must be an integer ≥ 1, got ${threads}`);
    this.memories = [{ local, memory }];
    const names = Object.keys(local).filter((k) => typeof local[k] === 'function');
    names.forEach((n, i) => this.fnIndex.set(n, i));
    this.control = new Int32Array(new SharedArrayBuffer(CONTROL_INTS * 4));
    this.args = new Float64Array(new SharedArrayBuffer(MAX_ARGS * 8));
    this.ranges = new Int32Array(new SharedArrayBuffer(threads * 8));
    this.failed = new Int32Array(new SharedArrayBuffer(threads * 4));
    this.done = new Int32Array(new SharedArrayBuffer(threads * 4));
    this.claims = new Int32Array(new SharedArrayBuffer(threads * 4));
    this.callerRunsShares = opts.callerRunsShares ?? true;
    this.ranAhead = new Array<boolean>(threads).fill(false);
    const source = opts.workerSource ?? workerSource();
    for (let t = 1; t < threads; t++) {
      const { port1, port2 } = new MessageChannel();
      const w = new Worker(source, {
        eval: true,
        workerData: { module, memory, control: this.control, args: this.args, ranges: this.ranges, failed: this.failed, done: this.done, claims: this.claims, port: port2, thread: t, names, slots: SLOTS },
        transferList: [port2],
      });
      w.on('error', (e) => { this.workerError = e; Atomics.store(this.control, DIED, 1); Atomics.notify(this.done, t); });
      w.unref();
      port1.unref();
      this.ports.push(port1);
      this.workers.push(w);
    }
    // Wait for the workers now rather than inside the first split call, whose timing it would distort.
    if (this.workers.length > 0) this.waitReady();
  }

  /**
   * Runs `fn(...args, start, end, thread)` on every thread over its share of [0, items); returns when all are done.
   * `split` is a grain (shares are equal counts of items, in multiples of it) or the shares' boundaries
   * [0 = b0 ≤ b1 ≤ … ≤ b_threads = items] for items of unequal work.
   */
  run(fn: string, args: readonly number[], items: number, split: number | readonly number[] = 1, memoryIndex = 0): void {
    if (this.closed) throw new Error('thread pool: used after close()');
    const index = this.fnIndex.get(fn);
    if (index === undefined) throw new Error(`thread pool: no kernel export "${fn}"`);
    if (args.length + 3 > MAX_ARGS) throw new Error(`thread pool: ${fn} has too many arguments`);
    const on = this.memories[memoryIndex];
    if (!on) throw new Error(`thread pool: ${fn}: no memory ${memoryIndex}`);
    const kernel = on.local[fn];
    if (typeof split !== 'number' && (split.length !== this.threads + 1 || split[0] !== 0 || split[this.threads] !== items)) {
      throw new Error(`thread pool: ${fn}: ${this.threads + 1} boundaries from 0 to ${items} expected, got [${split.join(', ')}]`);
    }
    const threads = typeof split === 'number' ? Math.min(this.threads, Math.max(1, Math.ceil(items / split))) : split.filter((b, t) => t > 0 && b > split[t - 1]).length;
    if (this.workers.length === 0 || threads === 1) {
      kernel(...args, 0, items, 0);
      return;
    }
    this.waitReady();
    const c = this.control;
    // Read once, before a worker can clear it: with a fault injected this call runs no worker share here.
    const faultInjected = Atomics.load(c, FAULT) !== 0;
    this.args.set(args);
    for (let t = 0; t < this.threads; t++) this.ranges.set(typeof split === 'number' ? splitRange(items, this.threads, t, split) : [split[t], split[t + 1]], 2 * t);
    Atomics.store(c, FN, index);
    Atomics.store(c, NARGS, args.length);
    Atomics.store(c, MEMORY, memoryIndex);
    Atomics.store(c, PAGES, on.memory.buffer.byteLength / PAGE_BYTES);
    for (let t = 1; t < this.threads; t++) Atomics.store(this.claims, t, 0);  // after the call's data: a claim reads it
    Atomics.add(c, GEN, 1);
    const gen = Atomics.load(c, GEN);  // only this thread writes GEN; loading it back gets the wrapped Int32
    Atomics.notify(c, GEN);
    let own: { error: unknown } | null = null;
    try {
      kernel(...args, this.ranges[0], this.ranges[1], 0);
    } catch (error) {
      own = { error };
    }
    const unclaimed = this.runUnclaimedShares(kernel, args, faultInjected);
    this.waitWorkers(fn, gen);  // also when this thread's share threw: the next call must not start under running workers
    // In thread order, whichever thread ran a share.
    const shares = [...this.takeWorkerFailures(), ...unclaimed].sort((a, b) => a.thread - b.thread);
    if (own && shares.length === 0) throw own.error;
    const failures = shares.map((f) => `worker thread ${f.thread}: ${f.message}`);
    if (own) failures.unshift(`the calling thread: ${own.error instanceof Error ? own.error.message : String(own.error)}`);
    if (failures.length > 0) throw new Error(`thread pool: ${fn} failed in ${failures.join('; ')}`, own ? { cause: own.error } : undefined);
  }

  /**
   * Makes `memory` (shared, like the first) addressable by calls: this thread instantiates the module on it now, each
   * worker before the next call it runs. Returns the index that run() takes.
   */
  addMemory(memory: WebAssembly.Memory): number {
    if (this.closed) throw new Error('thread pool: used after close()');
    const local = new WebAssembly.Instance(this.module, { env: { memory } }).exports as KernelExports;
    const index = this.memories.length;
    this.memories.push({ local, memory });
    this.post({ add: index, memory });
    return index;
  }

  /** Forgets memory `index` (its tensors were freed) so no thread keeps it alive; the index is not reused. */
  removeMemory(index: number): void {
    if (index <= 0 || !this.memories[index]) throw new Error(`thread pool: cannot remove memory ${index}`);
    this.memories[index] = null;
    if (!this.closed) this.post({ remove: index });
  }

  /** Sends a memory message to every worker; a worker reads what POSTED says it has not yet read before its share. */
  private post(message: { add: number; memory: WebAssembly.Memory } | { remove: number }): void {
    if (this.workers.length === 0) return;
    for (const p of this.ports) p.postMessage(message);
    Atomics.add(this.control, POSTED, 1);
  }

  /**
   * Test hook: worker `thread` (1 … threads−1) throws instead of running its share on the next call that wakes the
   * workers; that call must then fail. The request lives in this pool's control block, not in any global.
   */
  injectFault(thread: number): void {
    if (!Number.isInteger(thread) || thread < 1 || thread >= this.threads) {
      throw new Error(`thread pool: injectFault: a worker thread in [1, ${this.threads - 1}] expected, got ${thread}`);
    }
    Atomics.store(this.control, FAULT, thread);
  }

  /**
   * Runs, on this thread, every worker share of the current call that no worker has claimed yet (not while a fault is
   * injected: that worker must meet its call). Returns each such share that threw.
   */
  private runUnclaimedShares(kernel: (...a: number[]) => unknown, args: readonly number[], faultInjected: boolean): ShareFailure[] {
    const failures: ShareFailure[] = [];
    this.ranAhead.fill(false);
    if (!this.callerRunsShares || faultInjected) return failures;
    for (let t = 1; t < this.threads; t++) {
      // Empty shares are claimed too: no waiting for a worker that has nothing to do.
      if (Atomics.compareExchange(this.claims, t, 0, 1) !== 0) continue;
      this.ranAhead[t] = true;
      const start = this.ranges[2 * t], end = this.ranges[2 * t + 1];
      if (start >= end) continue;
      try {
        kernel(...args, start, end, t);
      } catch (error) {
        failures.push({ thread: t, message: error instanceof Error ? error.message : String(error) });
      }
    }
    return failures;
  }

  /** Each worker whose share of the call that just ended threw, with its message; clears the flags. */
  private takeWorkerFailures(): ShareFailure[] {
    const failures: ShareFailure[] = [];
    for (let t = 1; t < this.threads; t++) {
      if (!Atomics.exchange(this.failed, t, 0)) continue;
      // The worker posted before it set its flag, so the message is already queued on the port.
      const report = receiveMessageOnPort(this.ports[t - 1])?.message as { message: string } | undefined;
      failures.push({ thread: t, message: report?.message ?? 'no message' });
    }
    return failures;
  }

  /** Returns when every worker has finished call `gen` (but those whose share this thread ran): spins for SPIN_MS, then sleeps on each worker's done slot. */
  private waitWorkers(fn: string, gen: number): void {
    const until = performance.now() + SLOTS.SPIN_MS;
    for (let t = 1; t < this.threads; t++) {
      if (this.ranAhead[t]) continue;
      while (Atomics.load(this.done, t) !== gen && performance.now() < until);
      for (let d = Atomics.load(this.done, t); d !== gen; d = Atomics.load(this.done, t)) {
        if (Atomics.load(this.control, DIED)) throw new Error(`thread pool: ${fn} failed in a worker thread${this.workerError ? `: ${this.workerError.message}` : ''}`);
        Atomics.wait(this.done, t, d, 1000);
      }
    }
  }

  private waitReady(): void {
    const c = this.control;
    const deadline = Date.now() + 30_000;
    for (;;) {
      const ready = Atomics.load(c, READY);
      if (ready === this.workers.length) return;
      if (Atomics.load(c, DIED)) throw new Error(`thread pool: a worker failed to start: ${this.workerError?.message ?? 'unknown error'}`);
      if (Date.now() > deadline) {
        throw new Error('thread pool: workers did not start within 30 s (a worker failed to load? QIUSUO_THREADS=1 runs without workers)');
      }
      Atomics.wait(c, READY, ready, 100);
    }
  }

  /** Stops the workers. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const p of this.ports) p.close();
    await Promise.all(this.workers.map((w) => w.terminate()));
  }
}
