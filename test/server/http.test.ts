// The HTTP server on a free loopback port: the official `openai` npm client completes streaming and non-streaming
// requests and lists models; every bad input of the issue gets its status and OpenAI error body and the server
// keeps serving; a client that disconnects mid-stream frees its slot; 100 requests at once are each answered
// (200, or 429 once the queue is full); /health, /metrics, the pages and the run log for the dashboard.
// Leaves out: the CLI process and SIGTERM (cli-serve.test.ts), the browser (browser.test.ts).

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as net from 'node:net';
import * as path from 'node:path';
import OpenAI from 'openai';
import { Engine } from '../../src/server/engine.js';
import { QiusuoServer } from '../../src/server/http.js';
import { encodeChat } from '../../src/generate/pipeline.js';
import { TempRoot, params, solo } from '../generate/fixtures.js';

let tmp: TempRoot;
let dir: string;
let runDir: string;
let engine: Engine;
let server: QiusuoServer;
let base: string;
let client: OpenAI;
const CONTEXT = 64;
const MAX_BATCH = 4;
const MAX_QUEUE = 12;
const MAX_BODY = 16 * 1024;

before(async () => {
  tmp = new TempRoot();
  dir = tmp.tiny();
  runDir = path.join(tmp.dir, 'run');
  fs.mkdirSync(runDir);
  engine = Engine.load(dir, { maxBatch: MAX_BATCH, maxQueue: MAX_QUEUE, context: CONTEXT, maxTokens: 32, modelName: 'tiny' });
  server = new QiusuoServer({ engine, runDir, maxBodyBytes: MAX_BODY });
  const a = await server.listen(0, '127.0.0.1');
  base = `http://127.0.0.1:${a.port}`;
  client = new OpenAI({ baseURL: `${base}/v1`, apiKey: 'unused', maxRetries: 0, timeout: 60_000 });
});
after(async () => { await server.close(0); tmp.remove(); });

const msg = (text: string) => [{ role: 'user' as const, content: text }];
const chatIds = (text: string): number[] => encodeChat(engine.pipeline.tokenizer, engine.pipeline.chat, msg(text), dir);

async function post(route: string, body: string | object, headers: Record<string, string> = {}): Promise<{ status: number; json: any; headers: Headers }> {
  const r = await fetch(base + route, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: typeof body === 'string' ? body : JSON.stringify(body) });
  const text = await r.text();
  return { status: r.status, json: text ? JSON.parse(text) : null, headers: r.headers };
}

/** The error body of OpenAI's API: message, type, param, code. */
function isError(json: any, type: string, code: string | null, param?: string | null): void {
  assert.equal(typeof json?.error?.message, 'string', JSON.stringify(json));
  assert.equal(json.error.type, type, json.error.message);
  assert.equal(json.error.code, code, json.error.message);
  if (param !== undefined) assert.equal(json.error.param, param, json.error.message);
}

async function waitIdle(): Promise<void> {
  for (let i = 0; i < 200; i++) {
    const s = engine.stats();
    if (s.running === 0 && s.queued === 0) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  assert.fail(`the engine did not become idle: ${JSON.stringify(engine.stats())}`);
}

test('the openai client lists the model and completes a chat request; the text is the greedy solo text', async () => {
  const models = await client.models.list();
  assert.deepEqual(models.data.map((m) => m.id), ['tiny']);
  const r = await client.chat.completions.create({ model: 'tiny', messages: msg('Hello'), max_tokens: 10, temperature: 0 });
  const ref = solo(engine.pipeline, chatIds('Hello'), params({ maxTokens: 10 }), CONTEXT);
  assert.equal(r.choices[0].message.content, ref.text);
  assert.equal(r.choices[0].finish_reason, ref.finish);
  assert.equal(r.usage?.completion_tokens, ref.generated.length);
});

test('the openai client streams a chat completion whose chunks add up to the same text, with usage at the end', async () => {
  const stream = await client.chat.completions.create({ model: 'tiny', messages: msg('Hello'), max_tokens: 10, temperature: 0, stream: true, stream_options: { include_usage: true } });
  let text = '', finish: string | null = null, usage = null, role: string | undefined;
  for await (const c of stream) {
    role ??= c.choices[0]?.delta.role;
    text += c.choices[0]?.delta.content ?? '';
    finish = c.choices[0]?.finish_reason ?? finish;
    usage = c.usage ?? usage;
  }
  const ref = solo(engine.pipeline, chatIds('Hello'), params({ maxTokens: 10 }), CONTEXT);
  assert.equal(role, 'assistant');
  assert.equal(text, ref.text);
  assert.equal(finish, ref.finish);
  assert.equal((usage as { completion_tokens: number } | null)?.completion_tokens, ref.generated.length);
});

test('the openai client completes text on the legacy endpoint, streaming and not', async () => {
  const r = await client.completions.create({ model: 'tiny', prompt: 'abc', max_tokens: 8, temperature: 0 });
  let streamed = '';
  for await (const c of await client.completions.create({ model: 'tiny', prompt: 'abc', max_tokens: 8, temperature: 0, stream: true })) streamed += c.choices[0]?.text ?? '';
  assert.equal(streamed, r.choices[0].text);
  assert.ok(r.choices[0].finish_reason === 'length' || r.choices[0].finish_reason === 'stop', `finish ${r.choices[0].finish_reason}`);
});

test('the openai client raises the server\'s error for a bad request (status, message, param)', async () => {
  await assert.rejects(client.chat.completions.create({ model: 'tiny', messages: [] }), (e: any) => e.status === 400 && e.param === 'messages' && /at least one message/.test(e.message));
  await assert.rejects(client.chat.completions.create({ model: 'gpt-x', messages: msg('hi') }), (e: any) => e.status === 404 && e.code === 'model_not_found');
});

test('bad input over HTTP: each gets its status and error body', async () => {
  const ok = { model: 'tiny', messages: msg('hi'), max_tokens: 2 };
  const cases: [string, string | object, number, string, string | null, (string | null)?][] = [
    ['malformed JSON', '{"model": "tiny", "messages": [', 400, 'invalid_request_error', 'invalid_json', null],
    ['an empty body', '', 400, 'invalid_request_error', 'invalid_json', null],
    ['a JSON array', '[1]', 400, 'invalid_request_error', null, null],
    ['wrong types', { ...ok, max_tokens: '5' }, 400, 'invalid_request_error', 'invalid_type', 'max_tokens'],
    ['missing messages', { model: 'tiny' }, 400, 'invalid_request_error', 'missing_required_parameter', 'messages'],
    ['an unknown role', { ...ok, messages: [{ role: 'robot', content: 'x' }] }, 400, 'invalid_request_error', null, 'messages[0].role'],
    ['empty messages', { ...ok, messages: [] }, 400, 'invalid_request_error', null, 'messages'],
    ['a prompt longer than the context', { ...ok, messages: msg('z'.repeat(CONTEXT * 4)) }, 400, 'invalid_request_error', 'context_length_exceeded', 'messages'],
    ['max_tokens 0', { ...ok, max_tokens: 0 }, 400, 'invalid_request_error', 'invalid_value', 'max_tokens'],
    ['max_tokens huge', { ...ok, max_tokens: 10 ** 12 }, 400, 'invalid_request_error', 'invalid_value', 'max_tokens'],
    ['an unknown model', { ...ok, model: 'nope' }, 404, 'not_found_error', 'model_not_found', 'model'],
    ['an oversized body', { ...ok, messages: msg('y'.repeat(MAX_BODY)) }, 413, 'invalid_request_error', 'request_too_large', null],
  ];
  for (const [what, body, status, type, code, param] of cases) {
    const r = await post('/v1/chat/completions', body);
    assert.equal(r.status, status, `${what}: ${JSON.stringify(r.json)}`);
    isError(r.json, type, code, param);
  }
  const big = await post('/v1/completions', 'x'.repeat(3 * MAX_BODY));
  assert.equal(big.status, 413, 'a body over the limit that is not even JSON');
  const route = await post('/v1/embeddings', ok);
  assert.equal(route.status, 404);
  isError(route.json, 'not_found_error', 'unknown_url');
  const method = await fetch(`${base}/v1/chat/completions`);
  assert.equal(method.status, 405);
  assert.equal(method.headers.get('allow'), 'POST');
  const health = await fetch(`${base}/health`);
  assert.deepEqual(await health.json(), { status: 'ok', model: 'tiny', running: 0, queued: 0 }, 'still serving');
});

test('a client that disconnects mid-stream is cancelled and frees its slot', async () => {
  // A slow server (reference kernels; this prompt's greedy answer runs 2113 tokens, seconds there), so the stream
  // is surely still running when the client leaves.
  const slow = Engine.load(dir, { maxBatch: 2, context: 4096, maxTokens: 4000, modelName: 'tiny', kernels: 'ref' });
  const srv = new QiusuoServer({ engine: slow });
  const at = `http://127.0.0.1:${(await srv.listen(0, '127.0.0.1')).port}`;
  try {
    await new Promise<void>((resolve, reject) => {
      const req = http.request(`${at}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' } }, (res) => {
        assert.equal(res.statusCode, 200);
        assert.match(String(res.headers['content-type']), /^text\/event-stream/);
        res.once('data', () => { req.destroy(); resolve(); });
      });
      req.on('error', (e) => { if (!req.destroyed) reject(e); });
      req.end(JSON.stringify({ model: 'tiny', messages: msg('Tell me everything'), max_tokens: 4000, temperature: 0, stream: true }));
    });
    for (let i = 0; i < 200 && slow.stats().running + slow.stats().queued > 0; i++) await new Promise((r) => setTimeout(r, 25));
    const m = await (await fetch(`${at}/metrics`)).text();
    assert.match(m, /qiusuo_batch_size 0/, 'the slot is free');
    assert.ok(Number(/^qiusuo_completion_tokens_total (\d+)$/m.exec(m)?.[1]) < 2113, 'generation stopped early');
    assert.match(m, /^qiusuo_requests_total\{route="\/v1\/chat\/completions",status="499"\} 1$/m, 'counted as closed by the client');
    const r = await fetch(`${at}/v1/chat/completions`, { method: 'POST', body: JSON.stringify({ model: 'tiny', messages: msg('Hello'), max_tokens: 4, temperature: 0 }) });
    assert.equal(((await r.json()) as any).choices[0].finish_reason, 'length', 'serving goes on');
  } finally {
    await srv.close(0);
  }
});

test('100 requests at once: each is answered, 200 up to the batch + queue capacity and 429 (queue_full) past it', async () => {
  // A server of its own with room for 2 running + 2 waiting, on the slow reference kernels, so the burst is sure to
  // overflow it.
  const busy = new QiusuoServer({ engine: Engine.load(dir, { maxBatch: 2, maxQueue: 2, context: CONTEXT, modelName: 'tiny', kernels: 'ref' }) });
  const at = `http://127.0.0.1:${(await busy.listen(0, '127.0.0.1')).port}`;
  try {
    const rs = await Promise.all(Array.from({ length: 100 }, async (_, i) => {
      const r = await fetch(`${at}/v1/chat/completions`, { method: 'POST', body: JSON.stringify({ model: 'tiny', messages: msg(`request ${i}`), max_tokens: 48, temperature: 0 }) });
      return { status: r.status, json: await r.json() as any, retryAfter: r.headers.get('retry-after') };
    }));
    const byStatus = new Map<number, number>();
    for (const r of rs) byStatus.set(r.status, (byStatus.get(r.status) ?? 0) + 1);
    assert.deepEqual([...byStatus.keys()].sort(), [200, 429], `statuses ${JSON.stringify([...byStatus])}`);
    assert.ok(byStatus.get(200)! >= 4, `at least the capacity is served: ${JSON.stringify([...byStatus])}`);
    for (const r of rs) {
      if (r.status === 200) assert.equal(r.json.object, 'chat.completion');
      else { isError(r.json, 'rate_limit_error', 'queue_full'); assert.equal(r.retryAfter, '1'); }
    }
    const after = await fetch(`${at}/v1/chat/completions`, { method: 'POST', body: JSON.stringify({ model: 'tiny', messages: msg('Hello'), max_tokens: 2 }) });
    assert.equal(after.status, 200, 'serving goes on');
  } finally {
    await busy.close(0);
  }
});

test('/metrics is Prometheus text with requests by route and status, tokens, queue depth, batch size and tokens/s', async () => {
  const text = await (await fetch(`${base}/metrics`)).text();
  for (const name of ['qiusuo_requests_total', 'qiusuo_prompt_tokens_total', 'qiusuo_completion_tokens_total', 'qiusuo_queue_depth', 'qiusuo_batch_size', 'qiusuo_tokens_per_second']) {
    assert.match(text, new RegExp(`^# TYPE ${name} (counter|gauge)$`, 'm'), name);
  }
  assert.match(text, /^qiusuo_requests_total\{route="\/v1\/chat\/completions",status="200"\} [1-9]\d*$/m);
  assert.match(text, /^qiusuo_requests_total\{route="\/v1\/chat\/completions",status="400"\} [1-9]\d*$/m);
  const completion = Number(/^qiusuo_completion_tokens_total (\d+)$/m.exec(text)?.[1]);
  assert.ok(completion > 20, `completion tokens counted: ${completion}`);
});

/** Sends one raw HTTP/1.1 request line (targets fetch would normalise or refuse) and returns the status. */
function rawStatus(target: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const sock = net.connect(Number(new URL(base).port), '127.0.0.1', () => sock.write(`GET ${target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`));
    let data = '';
    sock.on('data', (d) => { data += d; });
    sock.on('end', () => resolve(Number(/^HTTP\/1\.1 (\d+)/.exec(data)?.[1] ?? 0)));
    sock.on('error', reject);
  });
}

test('odd request targets get 4xx and the server keeps serving', async () => {
  for (const [target, status] of [['//', 404], ['//v1/models', 404], ['/v1/models/%E0%A4%A', 404], ['/v1/models/tiny', 200], ['http://[', 400]] as const) {
    assert.equal(await rawStatus(target), status, target);
  }
  assert.equal((await fetch(`${base}/health`)).status, 200, 'still serving');
});

test('the pages and their assets are served; nothing outside them is', async () => {
  const page = await fetch(`${base}/`);
  assert.equal(page.status, 200);
  assert.match(page.headers.get('content-type') ?? '', /text\/html/);
  assert.match(await page.text(), /<html/i);
  assert.equal((await fetch(`${base}/dashboard`)).status, 200);
  const uplot = await fetch(`${base}/static/vendor/uPlot.iife.min.js`);
  assert.equal(uplot.status, 200);
  assert.match(uplot.headers.get('content-type') ?? '', /javascript/);
  for (const bad of ['/static/../package.json', '/static/%2e%2e%2fpackage.json', '/static/vendor/../../package.json', '/static/nope.js', '/static/vendor/other.js']) {
    assert.equal((await fetch(base + bad)).status, 404, bad);
  }
});

test('/api/run reads the run log from an offset: complete lines only, and a restarted log resets', async () => {
  const file = path.join(runDir, 'metrics.jsonl');
  const get = async (from: number) => (await fetch(`${base}/api/run?from=${from}`)).json() as Promise<any>;
  assert.deepEqual((await get(0)).records, [], 'no log yet');
  fs.writeFileSync(file, '{"step":1,"loss":5}\n{"step":2,"loss":4}\n{"step":3,');
  const a = await get(0);
  assert.deepEqual(a.records, [{ step: 1, loss: 5 }, { step: 2, loss: 4 }]);
  assert.equal(a.run, 'run');
  fs.appendFileSync(file, '"loss":3}\n');
  const b = await get(a.next);
  assert.deepEqual(b.records, [{ step: 3, loss: 3 }]);
  assert.equal(b.reset, false);
  fs.writeFileSync(file, '{"step":1,"loss":9}\n');
  const c = await get(b.next);
  assert.equal(c.reset, true);
  assert.deepEqual(c.records, [{ step: 1, loss: 9 }]);
  const bad = await fetch(`${base}/api/run?from=-3`);
  assert.equal(bad.status, 400);
});
