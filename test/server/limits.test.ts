// Each limit against slow or hostile clients, with small values and a raw socket on 127.0.0.1: the header timeout,
// the whole-request read timeout (bytes trickling in do not reset it), the keep-alive timeout, the connection cap,
// and the wall time per request (waiting, generating or streaming); requests Node's parser refuses get OpenAI
// error bodies too; and the limits are checked when given.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as net from 'node:net';
import { Engine } from '../../src/server/engine.js';
import { QiusuoServer } from '../../src/server/http.js';
import { resolveLimits, DEFAULT_LIMITS } from '../../src/server/limits.js';
import { TempRoot } from '../generate/fixtures.js';
import { exchange, onlyResponse, responses, type RawResponse } from './raw-http.js';

const HEADER_MS = 400;
const READ_MS = 1500;
const KEEP_ALIVE_MS = 1000;
const MAX_REQUEST_MS = 800;
/** Node closes an idle kept-alive socket this long after the Keep-Alive timeout it announces. */
const NODE_KEEP_ALIVE_BUFFER_MS = 1000;

let tmp: TempRoot;
let dir: string;
let timeouts: QiusuoServer;   // the header, read and keep-alive timeouts
let slow: QiusuoServer;       // the wall time per request: reference kernels and long answers
let slowEngine: Engine;
let timeoutsPort: number;
let slowPort: number;
const servers: QiusuoServer[] = [];

async function start(s: QiusuoServer): Promise<number> {
  servers.push(s);
  return (await s.listen(0, '127.0.0.1')).port;
}

before(async () => {
  tmp = new TempRoot();
  dir = tmp.tiny();
  timeouts = new QiusuoServer({
    engine: Engine.load(dir, { maxBatch: 2, context: 64, maxTokens: 8, modelName: 'tiny' }),
    limits: { headerTimeoutMs: HEADER_MS, readTimeoutMs: READ_MS, keepAliveTimeoutMs: KEEP_ALIVE_MS },
  });
  slowEngine = Engine.load(dir, { maxBatch: 2, context: 4096, maxTokens: 4000, modelName: 'tiny', kernels: 'ref' });
  slow = new QiusuoServer({ engine: slowEngine, limits: { maxRequestMs: MAX_REQUEST_MS, headerTimeoutMs: 5000, readTimeoutMs: 10_000 } });
  timeoutsPort = await start(timeouts);
  slowPort = await start(slow);
});
after(async () => { for (const s of servers) await s.close(0); tmp.remove(); });

/** An OpenAI error body with this status and code, whose message matches `names`. */
function isError(r: RawResponse, status: number, code: string, names: RegExp): void {
  assert.equal(r.status, status, r.body);
  assert.match(r.headers['content-type'] ?? '', /^application\/json/);
  const e = JSON.parse(r.body).error;
  assert.equal(e.code, code, r.body);
  assert.equal(typeof e.type, 'string');
  assert.ok('param' in e, r.body);
  assert.match(e.message, names);
}

const post = (route: string, body: string, extra = ''): string =>
  `POST ${route} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n${extra}\r\n${body}`;

test('header timeout: headers that stop arriving get 408 after --header-timeout, well before the read timeout', async () => {
  const port = timeoutsPort;
  const partial = await exchange(port, ['GET /health HTTP/1.1\r\nHost: x\r\n'], 5000);
  isError(onlyResponse(partial), 408, 'request_timeout', /--header-timeout/);
  assert.ok(partial.closedMs >= HEADER_MS - 20 && partial.closedMs < READ_MS, `closed after ${partial.closedMs.toFixed(0)} ms`);
  const silent = await exchange(port, [], 5000);
  assert.ok(silent.closedMs >= HEADER_MS - 20 && silent.closedMs < READ_MS, `a silent connection closed after ${silent.closedMs.toFixed(0)} ms`);
});

test('read timeout: a body trickling in byte by byte still gets 408 once the whole request took --read-timeout', async () => {
  const port = timeoutsPort;
  const trickle = Array.from({ length: 40 }, () => [{ waitMs: 100 }, 'x']).flat();
  const x = await exchange(port, [`POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{"a":`, ...trickle], 8000);
  isError(onlyResponse(x), 408, 'request_timeout', /--read-timeout/);
  assert.ok(x.closedMs >= READ_MS - 20 && x.closedMs < READ_MS + 1500, `closed after ${x.closedMs.toFixed(0)} ms`);
  const m = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  assert.match(m, /^qiusuo_requests_total\{route="\/v1\/completions",status="408"\} 1$/m, 'counted as a 408 of its route');
});

test('keep-alive timeout: an idle connection serves another request within --keep-alive-timeout, and is closed after it', async () => {
  const port = timeoutsPort;
  const get = 'GET /health HTTP/1.1\r\nHost: x\r\n\r\n';
  const x = await exchange(port, [get, { waitMs: KEEP_ALIVE_MS / 2 }, get], 10_000);
  const rs = responses(x.text);
  assert.deepEqual(rs.map((r) => r.status), [200, 200], 'both answered on one connection');
  assert.equal(rs[0].headers['keep-alive'], `timeout=${KEEP_ALIVE_MS / 1000}`);
  const idle = x.closedMs - KEEP_ALIVE_MS / 2;
  assert.ok(idle >= KEEP_ALIVE_MS && idle < KEEP_ALIVE_MS + NODE_KEEP_ALIVE_BUFFER_MS + 1000, `closed after ${idle.toFixed(0)} ms idle`);
});

test('connection cap: past --max-connections a connection is closed unread; once one closes, a new one is served', async () => {
  const capped = new QiusuoServer({ runDir: fs.mkdtempSync(path.join(tmp.dir, 'run-')), limits: { maxConnections: 3 } });
  const port = await start(capped);
  const open = await Promise.all([0, 1, 2].map(() => new Promise<net.Socket>((resolve) => { const s = net.connect(port, '127.0.0.1', () => resolve(s)); })));
  for (let i = 0; i < 100 && capped.metrics.openConnections < 3; i++) await new Promise((r) => setTimeout(r, 10));
  assert.equal(capped.metrics.openConnections, 3);
  const refused = await exchange(port, ['GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'], 3000);
  assert.equal(refused.text, '', 'nothing was answered');
  assert.ok(refused.closedMs >= 0 && refused.closedMs < 1000, `closed at once (${refused.closedMs.toFixed(0)} ms)`);
  assert.equal(capped.metrics.droppedConnections, 1);
  open[0].destroy();
  for (let i = 0; i < 100 && capped.metrics.openConnections > 2; i++) await new Promise((r) => setTimeout(r, 10));
  const served = await exchange(port, ['GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'], 3000);
  assert.equal(onlyResponse(served).status, 200);
  for (const s of open) s.destroy();
  assert.match(capped.metrics.render(null), /^qiusuo_dropped_connections_total 1$/m);
});

const longChat = (stream: boolean): string => JSON.stringify({ model: 'tiny', messages: [{ role: 'user', content: 'Tell me everything' }], max_tokens: 4000, temperature: 0, stream });

async function waitIdle(e: Engine): Promise<void> {
  for (let i = 0; i < 200 && e.stats().running + e.stats().queued > 0; i++) await new Promise((r) => setTimeout(r, 20));
  assert.deepEqual([e.stats().running, e.stats().queued], [0, 0], 'the generation was stopped');
}

test('max request time: a long answer is stopped after --max-request-time with 504 (streaming: an error event), and its slot is freed', async () => {
  const port = slowPort;
  const whole = await exchange(port, [post('/v1/chat/completions', longChat(false), 'Connection: close\r\n')], 10_000);
  const r = onlyResponse(whole);
  isError(r, 504, 'request_timeout', /--max-request-time/);
  assert.equal(r.headers['x-should-retry'], 'false');
  assert.ok(whole.closedMs >= MAX_REQUEST_MS - 20 && whole.closedMs < MAX_REQUEST_MS + 2000, `answered after ${whole.closedMs.toFixed(0)} ms`);
  await waitIdle(slowEngine);

  const streamed = await exchange(port, [post('/v1/chat/completions', longChat(true), 'Connection: close\r\n')], 10_000);
  const s = onlyResponse(streamed);
  assert.equal(s.status, 200);
  const events = s.body.trim().split('\n\n');
  assert.ok(events.length > 2, 'some tokens were streamed first');
  assert.equal(JSON.parse(events.at(-1)!.replace(/^data: /, '')).error.code, 'request_timeout', events.at(-1));
  await waitIdle(slowEngine);

  const quick = await exchange(port, [post('/v1/completions', JSON.stringify({ model: 'tiny', prompt: 'Hi', max_tokens: 2 }), 'Connection: close\r\n')], 10_000);
  assert.equal(onlyResponse(quick).status, 200, 'a request within the limit is untouched');
});

test('max request time also bounds a body that stalls (when it is shorter than the read timeout); the connection is closed', async () => {
  const port = slowPort;
  const x = await exchange(port, ['POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{"model":'], 10_000);
  isError(onlyResponse(x), 504, 'request_timeout', /--max-request-time/);
  assert.ok(x.closedMs >= MAX_REQUEST_MS - 20 && x.closedMs < MAX_REQUEST_MS + 2000, `closed after ${x.closedMs.toFixed(0)} ms`);
});

test('requests Node\'s parser refuses get an OpenAI error body naming what is wrong, and the server keeps serving', async () => {
  const port = timeoutsPort;
  const cases: [string, string | Buffer, number, string, RegExp][] = [
    ['a bad Content-Length', 'POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 1x\r\n\r\n', 400, 'invalid_http', /Content-Length/],
    ['two Content-Lengths', 'POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n{}', 400, 'invalid_http', /Content-Length/],
    ['a bad chunk', 'POST /v1/completions HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n', 400, 'invalid_http', /HPE_/],
    ['a control character in a header', 'GET /health HTTP/1.1\r\nHost: x\r\nX-A: a\u0001b\r\n\r\n', 400, 'invalid_http', /header/i],
    ['a header over the size limit', `GET /health HTTP/1.1\r\nHost: x\r\nX-Big: ${'b'.repeat(20_000)}\r\n\r\n`, 431, 'headers_too_large', /headers are larger/],
    ['an Expect header other than 100-continue', 'GET /health HTTP/1.1\r\nHost: x\r\nExpect: teapot\r\nConnection: close\r\n\r\n', 417, 'expectation_failed', /Expect header "teapot"/],
    ['CONNECT', 'CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n', 405, 'method_not_allowed', /CONNECT/],
    ['not HTTP at all', 'HELLO\r\n\r\n', 400, 'invalid_http', /HPE_/],
  ];
  for (const [what, request, status, code, names] of cases) {
    const x = await exchange(port, [request], 5000);
    assert.ok(x.closedMs >= 0, `${what}: the connection was closed`);
    isError(onlyResponse(x), status, code, names);
  }
  assert.equal((await fetch(`http://127.0.0.1:${port}/health`)).status, 200, 'still serving');
});

test('limits are checked: positive integers, and the header timeout within the read timeout; errors name the flag', () => {
  assert.deepEqual(resolveLimits(), DEFAULT_LIMITS);
  assert.equal(resolveLimits({ maxConnections: 7 }).maxConnections, 7);
  const bad: [object, RegExp][] = [
    [{ headerTimeoutMs: 0 }, /headerTimeoutMs \(--header-timeout\) must be a positive integer, got 0/],
    [{ maxConnections: 1.5 }, /maxConnections \(--max-connections\) must be a positive integer/],
    [{ maxRequestMs: -1 }, /--max-request-time/],
    [{ keepAliveTimeoutMs: Number.NaN }, /--keep-alive-timeout/],
    [{ headerTimeoutMs: 5000, readTimeoutMs: 4000 }, /headerTimeoutMs \(--header-timeout, 5000 ms\) must be at most readTimeoutMs \(--read-timeout, 4000 ms\)/],
  ];
  for (const [given, message] of bad) assert.throws(() => resolveLimits(given), message, JSON.stringify(given));
});
