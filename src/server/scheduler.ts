// Continuous batching over one Generator: requests wait in a bounded queue; whenever a slot is free the next one is
// prefilled and joins the batch, every step decodes all running sequences together, and a finished or cancelled
// sequence leaves at once. Between steps the loop yields to the event loop, so new requests, client disconnects
// and streamed text are handled while the batch runs. Leaves out: HTTP (http.ts), request validation (requests.ts).

import type { Generator, GenerationParams, Sequence } from '../generate/engine.js';
import { ApiError } from './protocol.js';

export interface JobEvents {
  text(delta: string): void;
  done(seq: Sequence): void;
  fail(e: unknown): void;
}

interface Job { prompt: number[]; params: GenerationParams; events: JobEvents; seq: Sequence | null; over: boolean }

/** Counters and gauges for /metrics. */
export interface SchedulerStats {
  queued: number;
  running: number;
  promptTokens: number;       // prefilled, all time
  completionTokens: number;   // generated, all time
  decodeSteps: number;
  lastBatch: number;          // sequences in the latest decode step
  tokensPerSec: number;       // generated tokens per second over the last few seconds
  speculation: SpeculationGauges | null;   // null when the Generator does not speculate
}

/** How well self-speculative decoding pays off so far. */
export interface SpeculationGauges {
  draftTokens: number;              // the configured most drafts per step (K)
  acceptance: number[];             // per draft position: drafts kept / drafts that reached it (empty before any)
  acceptedPerStep: number | null;   // mean tokens a sequence gains per verify pass; null before any
}

const RATE_WINDOW_MS = 10_000;

export class Scheduler {
  private readonly queue: Job[] = [];
  private readonly running: Job[] = [];
  private loop: Promise<void> | null = null;
  private closing = false;
  private readonly recent: { t: number; n: number }[] = [];
  private readonly totals = { promptTokens: 0, completionTokens: 0, decodeSteps: 0, lastBatch: 0 };

  /** `draftTokens`: the K the Generator was made with when it speculates (it reports acceptance, not K). */
  constructor(private readonly gen: Generator, private readonly maxQueue: number, private readonly draftTokens?: number) {}

  /**
   * Queues a request; returns a function that cancels it. Throws 429 when every slot is taken and `maxQueue`
   * requests already wait, 503 when closing.
   */
  submit(prompt: number[], params: GenerationParams, events: JobEvents): () => void {
    if (this.closing) throw new ApiError(503, 'The server is shutting down.', 'server_error', null, 'shutting_down');
    if (this.queue.length + this.running.length >= this.gen.maxBatch + this.maxQueue) {
      throw new ApiError(429, `The server is busy: ${this.running.length} requests running and ${this.queue.length} waiting. Retry shortly.`, 'rate_limit_error', null, 'queue_full');
    }
    const job: Job = { prompt, params, events, seq: null, over: false };
    this.queue.push(job);
    this.kick();
    return () => this.cancel(job);
  }

  stats(): SchedulerStats {
    const now = performance.now();
    this.forget(now);
    const n = this.recent.reduce((a, r) => a + r.n, 0);
    const span = this.recent.length > 0 ? Math.max(now - this.recent[0].t, 1000) : RATE_WINDOW_MS;
    return { queued: this.queue.length, running: this.running.length, ...this.totals, tokensPerSec: (n * 1000) / span, speculation: this.speculation() };
  }

  private speculation(): SpeculationGauges | null {
    if (this.draftTokens === undefined) return null;
    const spec = this.gen.speculation();
    return spec && { draftTokens: this.draftTokens, acceptance: spec.acceptance, acceptedPerStep: spec.acceptedPerStep };
  }

  /**
   * Stops accepting requests, lets the queued and running ones finish for up to `graceMs`, then fails the rest
   * with 503 "shutting_down". Resolves when nothing is left.
   */
  async drain(graceMs: number): Promise<void> {
    this.closing = true;
    const deadline = performance.now() + graceMs;
    while (this.loop && performance.now() < deadline) await Promise.race([this.loop, sleep(Math.min(50, graceMs))]);
    const shutdown = new ApiError(503, 'The server is shutting down; the request was stopped.', 'server_error', null, 'shutting_down');
    for (const job of [...this.queue, ...this.running]) { this.cancel(job); job.events.fail(shutdown); }
    await this.loop;
  }

  private kick(): void {
    if (this.loop) return;
    this.loop = this.run()
      .catch((e) => { for (const job of [...this.queue, ...this.running]) { this.cancel(job); job.events.fail(e); } })
      .finally(() => { this.loop = null; if (this.queue.length > 0) this.kick(); });
  }

  private async run(): Promise<void> {
    // Yielding first keeps submit() from prefilling inside its caller, and lets requests that arrive together
    // queue before the first admission.
    do {
      await new Promise((r) => setImmediate(r));
      this.admit();
      if (this.running.length > 0) this.step();
    } while (this.queue.length > 0 || this.running.length > 0);
  }

  /** Prefills waiting requests into free slots (each samples its first token). */
  private admit(): void {
    while (this.queue.length > 0 && this.gen.hasRoom) {
      const job = this.queue.shift()!;
      try {
        job.seq = this.gen.add(job.prompt, job.params, (d) => job.events.text(d));
      } catch (e) {
        job.over = true;
        job.events.fail(e);
        continue;
      }
      this.totals.promptTokens += job.prompt.length;
      this.count(1);
      this.running.push(job);
    }
    this.retire();
  }

  private step(): void {
    const batch = this.running.length;
    const before = this.generatedSoFar();
    try {
      this.gen.step();
    } catch (e) {
      for (const job of [...this.running]) { this.cancel(job); job.events.fail(e); }
      return;
    }
    this.totals.decodeSteps += 1;
    this.totals.lastBatch = batch;
    this.count(this.generatedSoFar() - before);   // with speculation a sequence may gain several tokens a step
    this.retire();
  }

  private generatedSoFar(): number { return this.running.reduce((n, job) => n + job.seq!.generated.length, 0); }

  /** Hands finished sequences back to their requests. */
  private retire(): void {
    for (let i = this.running.length - 1; i >= 0; i--) {
      const job = this.running[i];
      if (job.seq!.finish === null) continue;
      this.running.splice(i, 1);
      job.over = true;
      this.totals.completionTokens += job.seq!.generated.length;
      job.events.done(job.seq!);
    }
  }

  private cancel(job: Job): void {
    if (job.over) return;
    job.over = true;
    const q = this.queue.indexOf(job);
    if (q >= 0) this.queue.splice(q, 1);
    const r = this.running.indexOf(job);
    if (r >= 0) {
      this.running.splice(r, 1);
      this.gen.cancel(job.seq!);
      this.totals.completionTokens += job.seq!.generated.length;
    }
  }

  /** Records tokens sampled now, for the recent rate. */
  private count(tokens: number): void {
    const now = performance.now();
    this.recent.push({ t: now, n: tokens });
    this.forget(now);
  }

  private forget(now: number): void {
    while (this.recent.length > 0 && now - this.recent[0].t > RATE_WINDOW_MS) this.recent.shift();
  }
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
