// The continuous-batching scheduler against a scripted generator (no model): admission in arrival order as slots
// free up, never more running than the batch, the queue limit (429), a failing prefill or decode step failing only
// the requests it concerns while serving goes on, draining with and without grace, the token counters, and the
// speculation gauges.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Scheduler, type JobEvents } from '../../src/server/scheduler.js';
import type { Generator, GenerationParams, Sequence, SpeculationStats } from '../../src/generate/engine.js';
import { DEFAULT_PARAMS } from '../../src/generate/engine.js';
import { ApiError } from '../../src/server/protocol.js';

/**
 * Each step appends token 7 (text "x") `tokensPerStep` times to every running sequence (more than once as a
 * speculating Generator may); a sequence ends after maxTokens.
 */
class ScriptedGenerator {
  readonly active: { seq: Sequence; max: number; onText: (d: string) => void }[] = [];
  readonly admitted: number[] = [];     // prompt[0] of each sequence, in admission order
  peak = 0;
  failNextStep = false;
  tokensPerStep = 1;
  constructor(readonly maxBatch: number) {}
  speculation(): SpeculationStats { return { acceptance: [0.75, 0.5], acceptedPerStep: 2.25, draftMs: 0, verifyMs: 0, acceptMs: 0 }; }
  get hasRoom(): boolean { return this.active.length < this.maxBatch; }
  add(prompt: readonly number[], params: GenerationParams, onText: (d: string) => void): Sequence {
    if (prompt[0] < 0) throw new Error('bad prompt');
    const seq: Sequence = { id: prompt[0], promptTokens: prompt.length, generated: [], text: '', finish: null };
    this.active.push({ seq, max: params.maxTokens, onText });
    this.admitted.push(prompt[0]);
    this.peak = Math.max(this.peak, this.active.length);
    return seq;
  }
  step(): void {
    if (this.failNextStep) { this.failNextStep = false; throw new Error('decode failed'); }
    for (const a of [...this.active]) {
      for (let t = 0; t < this.tokensPerStep && a.seq.finish === null; t++) {
        a.seq.generated.push(7);
        a.seq.text += 'x';
        a.onText('x');
        if (a.seq.generated.length >= a.max) { a.seq.finish = 'length'; this.cancel(a.seq); }
      }
    }
  }
  cancel(seq: Sequence): void {
    const i = this.active.findIndex((a) => a.seq === seq);
    if (i >= 0) this.active.splice(i, 1);
  }
}

interface Outcome { text: string; seq?: Sequence; error?: unknown }

function submit(s: Scheduler, id: number, maxTokens: number): { done: Promise<Outcome>; cancel: () => void } {
  let resolve!: (o: Outcome) => void;
  const done = new Promise<Outcome>((r) => { resolve = r; });
  let text = '';
  const events: JobEvents = { text: (d) => { text += d; }, done: (seq) => resolve({ text, seq }), fail: (error) => resolve({ text, error }) };
  const cancel = s.submit([id, 1, 2], { ...DEFAULT_PARAMS, maxTokens }, events);
  return { done, cancel };
}

const make = (maxBatch: number, maxQueue: number, draftTokens?: number) => {
  const gen = new ScriptedGenerator(maxBatch);
  return { gen, s: new Scheduler(gen as unknown as Generator, maxQueue, draftTokens) };
};

test('requests are admitted in arrival order as slots free up, never more than the batch at once', async () => {
  const { gen, s } = make(2, 10);
  const runs = [3, 1, 4, 1, 5, 2].map((n, i) => submit(s, i, n));
  const out = await Promise.all(runs.map((r) => r.done));
  out.forEach((o, i) => assert.equal(o.text, 'x'.repeat([3, 1, 4, 1, 5, 2][i]), `request ${i}`));
  assert.deepEqual(gen.admitted, [0, 1, 2, 3, 4, 5]);
  assert.equal(gen.peak, 2);
  const st = s.stats();
  assert.deepEqual([st.running, st.queued, st.promptTokens, st.completionTokens], [0, 0, 18, 16]);
});

test('past batch + queue the scheduler answers 429; the accepted requests still finish', async () => {
  const { s } = make(1, 2);
  const ok = [submit(s, 0, 2), submit(s, 1, 2), submit(s, 2, 2)];
  assert.throws(() => submit(s, 3, 2), (e: unknown) => e instanceof ApiError && e.status === 429 && e.code === 'queue_full');
  for (const o of await Promise.all(ok.map((r) => r.done))) assert.equal(o.text, 'xx');
  assert.equal((await submit(s, 4, 1).done).text, 'x', 'room again once they finished');
});

test('a prefill that throws fails that request only; a decode step that throws fails the running ones; serving goes on', async () => {
  const { gen, s } = make(2, 10);
  const bad = submit(s, -1, 2), good = submit(s, 5, 2);
  assert.match(String((await bad.done).error), /bad prompt/);
  assert.equal((await good.done).text, 'xx');
  const a = submit(s, 6, 3), b = submit(s, 7, 3);
  gen.failNextStep = true;
  for (const o of await Promise.all([a.done, b.done])) assert.match(String(o.error), /decode failed/);
  assert.equal(gen.active.length, 0, 'their slots were freed');
  assert.equal((await submit(s, 8, 2).done).text, 'xx', 'the next request is served');
});

test('cancel frees a running or a queued request; it gets no more text', async () => {
  const { gen, s } = make(1, 5);
  const running = submit(s, 0, 100), queued = submit(s, 1, 100), after = submit(s, 2, 2);
  queued.cancel();
  await new Promise((r) => setImmediate(r));
  running.cancel();
  assert.equal((await after.done).text, 'xx');
  assert.ok(!gen.admitted.includes(1), 'the cancelled queued request was never prefilled');
  assert.equal(gen.active.length, 0);
});

test('drain: with grace the running requests finish; without it they fail with 503, and new ones are refused', async () => {
  const { s } = make(2, 5);
  const r = submit(s, 0, 5);
  await s.drain(10_000);
  assert.equal((await r.done).text, 'xxxxx');
  assert.throws(() => submit(s, 1, 1), (e: unknown) => e instanceof ApiError && e.status === 503);

  const { s: s2 } = make(1, 5);
  const running = submit(s2, 0, 1000), waiting = submit(s2, 1, 1000);
  await new Promise((res) => setImmediate(res));
  await s2.drain(0);
  for (const o of await Promise.all([running.done, waiting.done])) {
    assert.ok(o.error instanceof ApiError && o.error.status === 503 && o.error.code === 'shutting_down', String(o.error));
  }
});

test('speculating: tokens/s counts every token a step gave, and the gauges carry K and the Generator\'s acceptance', async () => {
  const { gen, s } = make(1, 0, 3);
  gen.tokensPerStep = 2;
  assert.equal((await submit(s, 0, 4).done).text, 'xxxx');
  const st = s.stats();
  assert.equal(st.decodeSteps, 2);
  assert.equal(st.tokensPerSec, 5, 'the prefill\'s token and four decoded, within the first second');
  assert.deepEqual(st.speculation, { draftTokens: 3, acceptance: [0.75, 0.5], acceptedPerStep: 2.25 });
  assert.equal(make(1, 0).s.stats().speculation, null, 'no K: not speculating');
});
