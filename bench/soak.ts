// Soak test (`npm run soak`, 10 minutes): `qiusuo serve` on a random `small` checkpoint in its own process, and in
// this one a mix of clients for the whole time: streaming and whole answers, streams aborted midway, bad requests,
// and a burst every 20 s of more requests at once than --max-batch + --max-queue hold. Records requests by
// outcome, tokens/s, time to first token (p50/p99) and the server's RSS every 5 s; writes bench/results/soak.json.
// Targets: no request lost or hung, and RSS growth under 5% after the warm-up (the first fifth, at most 2 minutes).
// Under load RSS is a garbage-collection sawtooth (±20%), so growth compares two measurements taken alike: RSS at
// rest (the lowest over 10 s without requests) once after the warm-up and once at the end. `--seconds N` runs shorter.

import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { initCheckpoint } from '../src/model/init.js';
import { startServer } from './serve.js';

const SECONDS = Number(process.argv[process.argv.indexOf('--seconds') + 1]) || 600;
const WARMUP_S = Math.min(120, SECONDS / 5);
const MAX_BATCH = 4;
const MAX_QUEUE = 4;
const STEADY_CLIENTS = 6;
const BURST = MAX_BATCH + MAX_QUEUE + 8;
const BURST_EVERY_MS = 20_000;
const HUNG_MS = 120_000;        // a request unanswered this long counts as hung
const RSS_EVERY_MS = 5_000;
const REST_MS = 10_000;

type Kind = 'stream' | 'whole' | 'abort' | 'bad' | 'burst';
type Outcome = 'ok' | 'aborted' | 'refused' | 'busy' | 'lost' | 'hung';
interface Result { kind: Kind; outcome: Outcome; tokens: number; ttftMs: number | null; detail?: string }

/** mulberry32: the same client mix on every run. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const BAD_BODIES = [
  '{"model": "small", "messages": [',
  JSON.stringify({ model: 'small', messages: [{ role: 'robot', content: 'x' }] }),
  JSON.stringify({ model: 'small', messages: [{ role: 'user', content: 'x' }], max_tokens: -3 }),
  JSON.stringify({ model: 'gpt-4', messages: [{ role: 'user', content: 'x' }] }),
  JSON.stringify({ model: 'small', messages: [{ role: 'user', content: 'x' }], temperature: 'hot' }),
  JSON.stringify({ model: 'small', messages: [{ role: 'user', content: 'x'.repeat(4000) }] }),
];

function rssKiB(pid: number): number {
  return Number(/^VmRSS:\s+(\d+) kB$/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? NaN);
}

/** One request of `kind`; never throws: every way it can end is an outcome. */
async function request(base: string, kind: Kind, i: number, random: () => number): Promise<Result> {
  const stream = kind === 'stream' || kind === 'abort';
  const abortAfter = 1 + Math.floor(random() * 6);   // content chunks an aborting client reads
  const body = kind === 'bad' ? BAD_BODIES[i % BAD_BODIES.length] : JSON.stringify({
    model: 'small', messages: [{ role: 'user', content: `Request ${i}: tell me about the number ${i % 97}.` }],
    max_tokens: kind === 'burst' ? 16 : 8 + Math.floor(random() * 57), temperature: 0.8, seed: i, stream,
    ...(stream ? { stream_options: { include_usage: true } } : {}),
  });
  const hang = AbortSignal.timeout(HUNG_MS);
  const mine = new AbortController();
  const t0 = performance.now();
  let ttftMs: number | null = null;
  let tokens = 0;
  try {
    const r = await fetch(`${base}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body, signal: AbortSignal.any([hang, mine.signal]) });
    if (r.status === 429) { await r.text(); return { kind, outcome: 'busy', tokens, ttftMs }; }
    if (kind === 'bad') {
      const e = await r.json().catch(() => null) as { error?: { message?: string } } | null;
      return { kind, outcome: r.status >= 400 && r.status < 500 && e?.error?.message ? 'refused' : 'lost', tokens, ttftMs, detail: `bad request answered ${r.status}` };
    }
    if (r.status !== 200) return { kind, outcome: 'lost', tokens, ttftMs, detail: `status ${r.status}: ${(await r.text()).slice(0, 200)}` };
    if (!stream) {
      const j = await r.json() as { choices?: unknown[]; usage?: { completion_tokens: number } };
      return j.choices && j.usage ? { kind, outcome: 'ok', tokens: j.usage.completion_tokens, ttftMs } : { kind, outcome: 'lost', tokens, ttftMs, detail: 'no choices' };
    }
    let buf = '', chunks = 0, done = false;
    const decoder = new TextDecoder();
    for await (const bytes of r.body as unknown as AsyncIterable<Uint8Array>) {
      buf += decoder.decode(bytes, { stream: true });
      for (let cut = buf.indexOf('\n\n'); cut >= 0; cut = buf.indexOf('\n\n')) {
        const data = buf.slice(6, cut);
        buf = buf.slice(cut + 2);
        if (data === '[DONE]') { done = true; continue; }
        const c = JSON.parse(data);
        if (c.error) return { kind, outcome: 'lost', tokens, ttftMs, detail: `error event: ${c.error.message}` };
        if (c.choices?.[0]?.delta?.content) { ttftMs ??= performance.now() - t0; chunks += 1; }
        if (c.usage) tokens = c.usage.completion_tokens;
        if (kind === 'abort' && chunks >= abortAfter) { mine.abort(); return { kind, outcome: 'aborted', tokens: chunks, ttftMs }; }
      }
    }
    return done ? { kind, outcome: 'ok', tokens, ttftMs } : { kind, outcome: 'lost', tokens, ttftMs, detail: 'the stream ended without [DONE]' };
  } catch (e) {
    if (mine.signal.aborted) return { kind, outcome: 'aborted', tokens, ttftMs };
    return { kind, outcome: hang.aborted ? 'hung' : 'lost', tokens, ttftMs, detail: (e as Error).message };
  }
}

const range = (xs: number[]): [number, number] | null => (xs.length ? [Math.min(...xs), Math.max(...xs)] : null);

function percentile(xs: number[], p: number): number | null {
  if (xs.length === 0) return null;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
}

/** A figure from /metrics; NaN when the server does not answer within 10 s (a hung server must not hang the soak). */
async function metric(base: string, name: string): Promise<number> {
  try {
    const text = await (await fetch(`${base}/metrics`, { signal: AbortSignal.timeout(10_000) })).text();
    return Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1] ?? NaN);
  } catch {
    return NaN;
  }
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Waits for the server to finish what is running, then returns its lowest RSS over REST_MS without requests. */
async function restingRssKiB(base: string, pid: number): Promise<number> {
  for (let i = 0; i < 600 && await metric(base, 'qiusuo_requests_in_flight') > 1; i++) await sleep(100);   // 1: this /metrics
  let low = Infinity;
  for (let t = 0; t < REST_MS; t += 1000) { await sleep(1000); low = Math.min(low, rssKiB(pid)); }
  return low;
}

async function soak(): Promise<object> {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'qiusuo-soak-'));
  const dir = path.join(tmp, 'small');
  initCheckpoint({ preset: 'small', out: dir, dtype: 'f32', seed: 0 });
  const server = await startServer(dir, ['--max-batch', String(MAX_BATCH), '--max-queue', String(MAX_QUEUE), '--context', '512', '--model-name', 'small']);
  const results: Result[] = [];
  const rss: { s: number; kib: number }[] = [{ s: 0, kib: rssKiB(server.pid) }];
  const t0 = performance.now();
  let restedMs = 0;   // time the clients paused for the rest after the warm-up: not part of the soak's duration
  const elapsed = (): number => (performance.now() - t0 - restedMs) / 1000;
  const running = (): boolean => elapsed() < SECONDS;
  let rest: Promise<void> | null = null;   // while set, the clients wait for it before their next request
  let next = 0;
  try {
    const sampler = setInterval(() => { if (!rest) rss.push({ s: elapsed(), kib: rssKiB(server.pid) }); }, RSS_EVERY_MS);
    const warmRest = (async () => {
      await sleep(WARMUP_S * 1000);
      const t = performance.now();
      let resume = (): void => {};
      rest = new Promise((r) => { resume = r; });
      const kib = await restingRssKiB(server.base, server.pid);
      restedMs = performance.now() - t;
      rest = null;
      resume();
      return kib;
    })();
    const steady = Array.from({ length: STEADY_CLIENTS }, async (_, w) => {
      const random = rng(1000 + w);
      while (running()) {
        if (rest) await rest;
        const x = random();
        const kind: Kind = x < 0.4 ? 'stream' : x < 0.65 ? 'whole' : x < 0.8 ? 'abort' : 'bad';
        results.push(await request(server.base, kind, next++, random));
        await new Promise((r) => setTimeout(r, random() * 200));
      }
    });
    const bursts = (async () => {
      const random = rng(7);
      while (running()) {
        await sleep(BURST_EVERY_MS);
        if (rest) await rest;
        if (!running()) break;
        results.push(...await Promise.all(Array.from({ length: BURST }, () => request(server.base, 'burst', next++, random))));
      }
    })();
    await Promise.all([...steady, bursts]);
    clearInterval(sampler);
    const wallS = elapsed();
    const restKiB = { afterWarmup: await warmRest, end: await restingRssKiB(server.base, server.pid) };
    const after = {
      inFlight: await metric(server.base, 'qiusuo_requests_in_flight') - 1,   // less this /metrics request
      running: await metric(server.base, 'qiusuo_batch_size'), queued: await metric(server.base, 'qiusuo_queue_depth'),
      openConnections: await metric(server.base, 'qiusuo_open_connections'),
    };
    const exitCode = await server.stop();
    return summarize(results, rss, restKiB, wallS, after, exitCode);
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

function summarize(results: Result[], rss: { s: number; kib: number }[], restKiB: { afterWarmup: number; end: number }, wallS: number,
  serverAfter: object, exitCode: number | null): object {
  const outcomes: Record<string, Record<string, number>> = {};
  for (const r of results) { outcomes[r.kind] ??= {}; outcomes[r.kind][r.outcome] = (outcomes[r.kind][r.outcome] ?? 0) + 1; }
  const count = (o: Outcome): number => results.filter((r) => r.outcome === o).length;
  const ttft = results.filter((r) => r.kind === 'stream' && r.outcome === 'ok' && r.ttftMs !== null).map((r) => r.ttftMs!);
  const growthPct = (100 * (restKiB.end - restKiB.afterWarmup)) / restKiB.afterWarmup;
  const loaded = (from: number, to: number): number[] => rss.filter((x) => x.s >= from && x.s < to).map((x) => x.kib / 1024);
  const tokens = results.reduce((a, r) => a + (r.outcome === 'ok' ? r.tokens : 0), 0);
  return {
    seconds: SECONDS, wallS, maxBatch: MAX_BATCH, maxQueue: MAX_QUEUE, steadyClients: STEADY_CLIENTS, burst: BURST, burstEverySec: BURST_EVERY_MS / 1000,
    requests: results.length, outcomes, lost: count('lost'), hung: count('hung'),
    failures: results.filter((r) => r.outcome === 'lost' || r.outcome === 'hung').slice(0, 10).map((r) => `${r.kind}: ${r.detail}`),
    completionTokens: tokens, tokS: tokens / wallS, ttftP50Ms: percentile(ttft, 50), ttftP99Ms: percentile(ttft, 99),
    warmupS: WARMUP_S,
    rssMiB: {
      start: rss[0].kib / 1024, restAfterWarmup: restKiB.afterWarmup / 1024, restEnd: restKiB.end / 1024, growthPct,
      // under load, after the warm-up: the sawtooth's range in the first and the last fifth of the run
      loadedFirstFifth: range(loaded(WARMUP_S, WARMUP_S + SECONDS / 5)), loadedLastFifth: range(loaded(SECONDS * 0.8, Infinity)),
      peak: Math.max(...rss.map((x) => x.kib)) / 1024,
    },
    rssSeries: rss.map((x) => [Math.round(x.s), Math.round(x.kib / 1024)]),
    serverAfter, exitCode,
    targetMet: count('lost') === 0 && count('hung') === 0 && growthPct < 5 && exitCode === 0,   // exit 0: it still stopped gracefully
  };
}

const r = await soak() as Record<string, unknown>;
console.log(JSON.stringify({ ...r, rssSeries: undefined }, null, 2));
fs.mkdirSync('bench/results', { recursive: true });
fs.writeFileSync('bench/results/soak.json', JSON.stringify({
  machine: os.cpus()[0]?.model, cores: os.cpus().length, node: process.version, date: new Date().toISOString(), preset: 'small', ...r,
}, null, 2) + '\n');
