// Fuzzing every HTTP route of `qiusuo serve` (a tiny model, an API key, a run folder, small limits) in its own
// process: JSON bodies of both completion routes, raw requests with fuzzed methods, headers and bodies, and query
// strings of the GET routes. Invariant: the server process never dies, every case is answered in bounded time,
// every bad request gets a 4xx with an OpenAI error body whose message names the field (or header, or body), and
// valid requests succeed. Generation is capped at 2 tokens, so a case is cheap; one server serves every case.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fuzz, fc, assertCleanError } from '../fuzz/harness.js';
import { TempRoot } from '../generate/fixtures.js';
import { startServer, type ServerProcess } from '../cli/server-process.js';
import { exchange, responses } from './raw-http.js';

const KEY = 'sk-fuzz';
const AUTH = { authorization: `Bearer ${KEY}` };
/** Below the harness's hang limit (5 s): a client gives up on a case after this. */
const GIVE_UP_MS = 4000;

let tmp: TempRoot;
let server: ServerProcess;
let base: string;
let port: number;
let vocab: number;

before(async () => {
  tmp = new TempRoot();
  const dir = tmp.tiny();
  vocab = JSON.parse(fs.readFileSync(path.join(dir, 'config.json'), 'utf8')).vocab_size;
  const run = path.join(tmp.dir, 'run');
  fs.mkdirSync(run);
  fs.writeFileSync(path.join(run, 'metrics.jsonl'), '{"step":1,"loss":5}\n{"step":2,"loss":4}\nnot json\n{"step":3');
  server = await startServer(['serve', '--model', dir, '--model-name', 'tiny', '--port', '0', '--quiet', '--run', run, '--api-key', KEY,
    '--max-tokens', '2', '--context', '512', '--max-batch', '4', '--max-body-bytes', '16384', '--header-timeout', '0.5', '--read-timeout', '1']);
  base = server.base;
  port = Number(new URL(base).port);
});
after(async () => {
  server.child.kill('SIGTERM');
  assert.equal(await server.exit, 0, server.stderr());
  tmp.remove();
});

function alive(): void {
  assert.equal(server.child.exitCode, null, `the server exited: ${server.stderr().slice(-2000)}`);
  assert.equal(server.child.signalCode, null, `the server was killed: ${server.stderr().slice(-2000)}`);
}

/** What an error's message must name: its parameter's top-level field, or by its code the header, body or limit at fault. */
function mustName(e: { param: string | null; code: string | null }): string | RegExp {
  if (e.param !== null) return e.param.replace(/[[.].*$/, '');
  const byCode: Record<string, RegExp> = {
    invalid_api_key: /Authorization header/, invalid_http: /HPE_[A-Z_]+: \S/, request_timeout: /--header-timeout|--read-timeout|--max-request-time/,
    headers_too_large: /request headers/, expectation_failed: /Expect header/, method_not_allowed: /Method|CONNECT/, unknown_url: /URL|No such file/,
    invalid_json: /JSON body/, request_too_large: /request body|chunk extensions/, invalid_url: /request target/,
  };
  if (e.code === null) return /request body/;   // "The request body must be a JSON object."
  assert.ok(e.code in byCode, `an error code this test does not know: ${e.code}`);
  return byCode[e.code];
}

/** A 4xx with exactly OpenAI's error body, whose message is one clean line naming what is wrong. */
function isCleanRefusal(status: number, body: string, what: string): void {
  assert.ok(status >= 400 && status < 500, `${what}: status ${status}: ${body.slice(0, 300)}`);
  const json = JSON.parse(body);
  assert.deepEqual(Object.keys(json), ['error'], body);
  const e = json.error;
  assert.deepEqual(Object.keys(e).sort(), ['code', 'message', 'param', 'type'], body);
  assert.equal(typeof e.type, 'string');
  assert.ok(e.param === null || typeof e.param === 'string', body);
  assert.ok(e.code === null || typeof e.code === 'string', body);
  assertCleanError(new Error(e.message), mustName(e));
}

// ---- JSON bodies -------------------------------------------------------------------------------------------------

const text = fc.string({ maxLength: 20, unit: fc.constantFrom(...'abc XYZ 0123.,!?\n'.split('')) });
const optional = <T>(a: fc.Arbitrary<T>) => fc.option(a, { nil: undefined });
const sampling = {
  max_tokens: optional(fc.constantFrom(1, 2, null)), temperature: optional(fc.double({ min: 0, max: 2, noNaN: true })),
  top_p: optional(fc.double({ min: 0.01, max: 1, noNaN: true })), top_k: optional(fc.nat(50)), seed: optional(fc.nat()),
  stop: optional(fc.oneof(fc.string({ minLength: 1, maxLength: 4 }), fc.array(fc.string({ minLength: 1, maxLength: 4 }), { maxLength: 4 }))),
  stream: optional(fc.boolean()), n: optional(fc.constant(1)), user: optional(text),
};
const validChat = fc.record({
  model: fc.constant('tiny'),
  messages: fc.array(fc.record({ role: fc.constantFrom('system', 'developer', 'user', 'assistant'), content: fc.oneof(text, fc.array(fc.record({ type: fc.constant('text'), text }), { maxLength: 2 })) }), { minLength: 1, maxLength: 3 }),
  ...sampling,
});
const validText = fc.record({ model: fc.constant('tiny'), prompt: fc.oneof(fc.string({ minLength: 1, maxLength: 30 }), fc.array(fc.nat(), { minLength: 1, maxLength: 8 })), ...sampling });

const CHAT_FIELDS = ['model', 'messages', 'stream', 'stream_options', 'max_tokens', 'max_completion_tokens', 'temperature', 'top_p', 'top_k', 'seed', 'stop', 'n',
  'frequency_penalty', 'presence_penalty', 'logprobs', 'top_logprobs', 'logit_bias', 'tools', 'tool_choice', 'parallel_tool_calls', 'response_format', 'user', 'metadata', 'store'];
const TEXT_FIELDS = ['prompt', 'echo', 'best_of', 'suffix', ...CHAT_FIELDS.filter((f) => f !== 'messages' && f !== 'max_completion_tokens')];
/** 600 characters that merge into few tokens, so it is longer than the context whatever the tokenizer. */
const LONG = Array.from({ length: 600 }, (_, i) => String.fromCharCode(33 + ((i * 37) % 94))).join('');
const oddKey = fc.oneof(fc.constantFrom('__proto__', 'constructor', 'toString', 'hasOwnProperty', 'valueOf', ''), fc.string({ maxLength: 12 }));
const oddValue = fc.oneof(
  fc.jsonValue({ maxDepth: 3 }),
  fc.constantFrom(1e308, -1, 0, -0, 0.5, 2 ** 53, 2 ** 31, 513, '', 'tiny', [], {}, null, true, false, [1, 2, 3], [''], ['a', 'b', 'c', 'd', 'e'], { type: 'text' }, { include_usage: 1 },
    LONG, new Array(600).fill(1), [{ role: 'user', content: LONG }]),   // past the 512-token context
  fc.integer(), fc.double(), fc.string(), fc.array(fc.integer({ min: -5, max: 70_000 }), { maxLength: 5 }),
);
const oddMessage = fc.record({
  role: fc.oneof(fc.constantFrom('user', 'assistant', 'system', 'developer', 'tool', 'robot', '', 'constructor'), oddValue),
  content: fc.oneof(text, fc.constant(null), oddValue, fc.array(fc.record({ type: fc.constantFrom('text', 'image_url', 5), text: oddValue }, { requiredKeys: [] }), { maxLength: 2 })),
  tool_calls: oddValue, tool_call_id: oddValue, name: oddValue,
}, { requiredKeys: ['role'] });

/** A request body; `valid` ones must succeed, and one with a field the route does not know (`unknown`) must be refused naming it. */
interface BodyCase { route: 'chat/completions' | 'completions'; body: string; valid: boolean; unknown?: string }
const asCase = (route: BodyCase['route'], valid: boolean) => (b: unknown): BodyCase => ({ route, body: JSON.stringify(b), valid });
const IGNORED = ['user', 'metadata', 'store', 'service_tier'];
/** A body with field `k` set to `v`; `unknown` names `k` when the route has no such field. */
const withField = (route: BodyCase['route'], known: string[]) => ([b, k, v]: [object, string, unknown]): BodyCase =>
  ({ route, body: JSON.stringify({ ...b, [k]: v }), valid: false, unknown: known.includes(k) || IGNORED.includes(k) ? undefined : k });
const bodyCase: fc.Arbitrary<BodyCase> = fc.oneof(
  { weight: 2, arbitrary: validChat.map(asCase('chat/completions', true)) },
  { weight: 2, arbitrary: validText.map((b) => ({ ...b, prompt: Array.isArray(b.prompt) ? b.prompt.map((t) => t % vocab) : b.prompt })).map(asCase('completions', true)) },
  { weight: 4, arbitrary: fc.tuple(validChat, fc.oneof(fc.constantFrom(...CHAT_FIELDS), oddKey), oddValue).map(withField('chat/completions', CHAT_FIELDS)) },
  { weight: 3, arbitrary: fc.tuple(validText, fc.oneof(fc.constantFrom(...TEXT_FIELDS), oddKey), oddValue).map(withField('completions', TEXT_FIELDS)) },
  // prompts at and past the context (512 tokens), with the completion on top
  { weight: 1, arbitrary: fc.tuple(validChat, fc.constantFrom(1, 2, undefined)).map(([b, max]) => asCase('chat/completions', false)({ ...b, messages: [{ role: 'user', content: LONG }], max_tokens: max })) },
  { weight: 1, arbitrary: fc.tuple(validText, fc.integer({ min: 505, max: 520 }), fc.constantFrom(1, 2, undefined)).map(([b, n, max]) => asCase('completions', false)({ ...b, prompt: new Array(n).fill(1), max_tokens: max })) },
  { weight: 2, arbitrary: fc.tuple(validChat, fc.array(oddMessage, { maxLength: 3 })).map(([b, m]) => asCase('chat/completions', false)({ ...b, messages: m })) },
  { weight: 1, arbitrary: fc.tuple(validChat, fc.constantFrom('model', 'messages')).map(([b, k]) => asCase('chat/completions', false)({ ...b, [k]: undefined })) },
  { weight: 1, arbitrary: fc.tuple(fc.constantFrom<BodyCase['route']>('chat/completions', 'completions'), fc.oneof(fc.string(), fc.jsonValue().map((v) => JSON.stringify(v) ?? ''))).map(([route, body]) => ({ route, body, valid: false })) },
  { weight: 1, arbitrary: fc.tuple(validChat, fc.nat(200)).map(([b, cut]) => ({ route: 'chat/completions' as const, body: JSON.stringify(b).slice(0, cut), valid: false })) },
);

/** The events of an SSE body: parsed chunks, ending with [DONE] (or an error event). */
function sseEvents(body: string): unknown[] {
  const events = body.split('\n\n').filter((e) => e !== '');
  return events.map((e) => { assert.match(e, /^data: /, body.slice(0, 300)); const d = e.slice(6); return d === '[DONE]' ? d : JSON.parse(d); });
}

test('JSON bodies of /v1/chat/completions and /v1/completions: valid ones succeed, bad ones get a clean 4xx naming the field', async () => {
  await fuzz('HTTP JSON bodies', bodyCase, async (c) => {
    const r = await fetch(`${base}/v1/${c.route}`, { method: 'POST', headers: { 'content-type': 'application/json', ...AUTH }, body: c.body, signal: AbortSignal.timeout(GIVE_UP_MS) });
    const body = await r.text();
    alive();
    if (c.valid) assert.equal(r.status, 200, `a valid request failed: ${c.body} → ${body}`);
    if (c.unknown !== undefined) {
      assert.equal(r.status, 400, `the unknown field ${JSON.stringify(c.unknown)} was accepted: ${c.body.slice(0, 300)}`);
      assert.equal(JSON.parse(body).error.param, c.unknown, body);
    }
    if (r.status !== 200) return isCleanRefusal(r.status, body, c.body);
    if (r.headers.get('content-type')?.startsWith('text/event-stream')) {
      const events = sseEvents(body);
      assert.equal(events.at(-1), '[DONE]', body.slice(-300));
    } else {
      const j = JSON.parse(body);
      assert.equal(j.object, c.route === 'completions' ? 'text_completion' : 'chat.completion');
      assert.ok(j.usage.completion_tokens <= 2, body);
    }
  }, { runs: 220 });
});

// ---- raw requests: methods, headers, bodies ----------------------------------------------------------------------

const ROUTES = ['/v1/chat/completions', '/v1/completions', '/v1/models', '/v1/models/tiny', '/health', '/metrics', '/api/run', '/', '/dashboard', '/static/chat.html', '/nope'];
const headerName = fc.oneof(
  fc.constantFrom('Content-Type', 'Content-Length', 'Transfer-Encoding', 'Authorization', 'Accept', 'Host', 'Expect', 'Upgrade', 'Cookie', 'Te', 'Trailer', 'Range', 'X-Forwarded-For', 'authorization'),
  fc.string({ unit: 'binary-ascii', maxLength: 12 }),
);
const headerValue = fc.oneof(
  fc.constantFrom('chunked', 'gzip', 'chunked, gzip', '100-continue', 'teapot', `Bearer ${KEY}`, 'Bearer wrong', `bearer ${KEY}`, `Basic ${KEY}`, 'Bearer', 'application/json', 'text/plain',
    '-1', '0', '5', '99999999999999999999', 'websocket', 'x'.repeat(20_000)),
  fc.string({ unit: 'binary-ascii', maxLength: 40 }), fc.string({ maxLength: 20 }), fc.nat().map(String),
);
const rawCase = fc.record({
  method: fc.oneof(fc.constantFrom('GET', 'POST', 'HEAD', 'PUT', 'DELETE', 'OPTIONS', 'PATCH', 'TRACE', 'CONNECT'), fc.string({ unit: 'binary-ascii', minLength: 1, maxLength: 8 })),
  route: fc.constantFrom(...ROUTES),
  version: fc.constantFrom('HTTP/1.1', 'HTTP/1.1', 'HTTP/1.1', 'HTTP/1.0', 'HTTP/2.0', 'HTTP/1.x'),
  auth: fc.boolean(),
  headers: fc.array(fc.tuple(headerName, headerValue), { maxLength: 4 }),
  body: fc.oneof(fc.constant(''), fc.constant(JSON.stringify({ model: 'tiny', prompt: 'Hi', max_tokens: 1 })), fc.string({ maxLength: 60 })),
  declareLength: fc.boolean(),
});

test('raw requests with fuzzed methods, headers and bodies: each answered, bad ones with a clean 4xx', async () => {
  await fuzz('HTTP headers', rawCase, async (c) => {
    const lines = [`${c.method} ${c.route} ${c.version}`, 'Host: 127.0.0.1'];
    if (c.auth) lines.push(`Authorization: Bearer ${KEY}`);
    if (c.declareLength) lines.push(`Content-Length: ${Buffer.byteLength(c.body)}`);
    for (const [n, v] of c.headers) lines.push(`${n}: ${v}`);
    lines.push('Connection: close');
    const x = await exchange(port, [`${lines.join('\r\n')}\r\n\r\n${c.body}`], GIVE_UP_MS);
    alive();
    assert.ok(x.closedMs >= 0, `no answer within ${GIVE_UP_MS} ms`);
    const rs = responses(x.text);
    const what = JSON.stringify(c).slice(0, 400);
    assert.ok(rs.length >= 1, `${what}: no HTTP response: ${JSON.stringify(x.text.slice(0, 200))}`);
    const r = rs[0];
    assert.ok(r.status < 500, `${what}: ${r.status} ${r.body.slice(0, 300)}`);
    if (r.status >= 400 && r.body !== '') isCleanRefusal(r.status, r.body, what);
    else if (r.status >= 400) assert.equal(c.method, 'HEAD', `${what}: a ${r.status} without a body`);
  }, { runs: 70 });
});

// ---- query strings -----------------------------------------------------------------------------------------------

const queryPart = fc.oneof(fc.constantFrom('from', 'x', '', '%', '%zz', 'from[]', '__proto__'), fc.string({ maxLength: 10 }).map(encodeURIComponent), fc.string({ unit: fc.constantFrom(...'0123456789-+.e&=%?#/ab'.split('')), maxLength: 12 }));
const queryCase = fc.record({
  route: fc.constantFrom('/api/run', '/api/run', '/v1/models', '/v1/models/tiny', '/health', '/metrics', '/dashboard', '/static/dashboard.js'),
  pairs: fc.array(fc.tuple(queryPart, fc.option(queryPart, { nil: undefined })), { maxLength: 3 }),
  head: fc.boolean(),
});

test('query strings of the GET routes: each answered; a bad "from" gets a clean 400 naming it', async () => {
  await fuzz('HTTP query strings', queryCase, async (c) => {
    const query = c.pairs.map(([k, v]) => (v === undefined ? k : `${k}=${v}`)).join('&');
    const target = `${c.route}?${query}`;
    const x = await exchange(port, [`${c.head ? 'HEAD' : 'GET'} ${target} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${KEY}\r\nConnection: close\r\n\r\n`], GIVE_UP_MS);
    alive();
    const [r] = responses(x.text);
    assert.ok(r, `${target}: no response`);
    if (r.status >= 300 && !c.head) isCleanRefusal(r.status, r.body, target);
    else assert.ok(r.status < 300 || c.head, `${target}: ${r.status}`);
    if (c.route === '/api/run' && r.status === 200 && !c.head) {
      const from = new URL(target, 'http://x').searchParams.get('from') ?? '0';   // as the server reads it ('#' ends the query)
      assert.match(from, /^\d+$/, `${target}: accepted "from" = ${JSON.stringify(from)}`);
      assert.ok(Array.isArray(JSON.parse(r.body).records));
    }
  }, { runs: 60 });
});
