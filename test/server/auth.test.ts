// The API key on a server of the tiny model: the official `openai` client with the key completes requests and with a
// wrong key raises AuthenticationError (401, invalid_api_key); every route but /health and the page files refuses a
// request without `Authorization: Bearer KEY`, whatever the key's length, and keeps the connection for the next
// request; keys given by the user are checked.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import OpenAI from 'openai';
import { Engine } from '../../src/server/engine.js';
import { QiusuoServer } from '../../src/server/http.js';
import { ApiKey, validateApiKey } from '../../src/server/auth.js';
import { TempRoot } from '../generate/fixtures.js';
import { exchange, responses } from './raw-http.js';

const KEY = 'sk-qiusuo-test-0123456789';
let tmp: TempRoot;
let server: QiusuoServer;
let base: string;

before(async () => {
  tmp = new TempRoot();
  const runDir = path.join(tmp.dir, 'run');
  fs.mkdirSync(runDir);
  const engine = Engine.load(tmp.tiny(), { maxBatch: 2, context: 64, maxTokens: 8, modelName: 'tiny' });
  server = new QiusuoServer({ engine, runDir, apiKey: KEY });
  base = `http://127.0.0.1:${(await server.listen(0, '127.0.0.1')).port}`;
});
after(async () => { await server.close(0); tmp.remove(); });

const client = (apiKey: string): OpenAI => new OpenAI({ baseURL: `${base}/v1`, apiKey, maxRetries: 0, timeout: 30_000 });

test('the openai client with the key lists the model and completes; with a wrong key it raises AuthenticationError', async () => {
  const good = client(KEY);
  assert.deepEqual((await good.models.list()).data.map((m) => m.id), ['tiny']);
  const r = await good.chat.completions.create({ model: 'tiny', messages: [{ role: 'user', content: 'Hi' }], max_tokens: 2 });
  assert.equal(r.object, 'chat.completion');
  for (const wrong of ['sk-wrong', `${KEY}x`, KEY.slice(0, -1), KEY.toUpperCase()]) {
    await assert.rejects(client(wrong).chat.completions.create({ model: 'tiny', messages: [{ role: 'user', content: 'Hi' }], max_tokens: 2 }),
      (e: unknown) => {
        assert.ok(e instanceof OpenAI.AuthenticationError, `${wrong}: ${String(e)}`);
        assert.equal(e.status, 401);
        assert.equal(e.code, 'invalid_api_key');
        assert.equal(e.type, 'invalid_request_error');
        return true;
      });
  }
});

test('a request without the key gets 401 with OpenAI\'s error body, exactly; /health and the page files stay open', async () => {
  const r = await fetch(`${base}/v1/models`);
  assert.equal(r.status, 401);
  assert.equal(r.headers.get('www-authenticate'), 'Bearer realm="qiusuo"');
  const body = await r.json() as { error: { message: string } };
  assert.deepEqual(body, { error: { message: body.error.message, type: 'invalid_request_error', param: null, code: 'invalid_api_key' } });
  assert.match(body.error.message, /Authorization header/);

  const guarded: [string, string][] = [['GET', '/v1/models'], ['GET', '/v1/models/tiny'], ['POST', '/v1/chat/completions'], ['POST', '/v1/completions'],
    ['GET', '/metrics'], ['GET', '/api/run?from=0'], ['GET', '/no-such-route']];
  for (const [method, route] of guarded) {
    const res = await fetch(base + route, { method, body: method === 'POST' ? '{}' : undefined });
    assert.equal(res.status, 401, `${method} ${route}`);
    const authorized = await fetch(base + route, { method, headers: { authorization: `Bearer ${KEY}` }, body: method === 'POST' ? '{}' : undefined });
    assert.notEqual(authorized.status, 401, `${method} ${route} with the key`);
  }
  for (const route of ['/health', '/', '/dashboard', '/static/chat.html', '/static/dashboard.js', '/static/api-key.js']) {
    assert.equal((await fetch(base + route)).status, 200, route);
  }
});

test('the Authorization header: only "Bearer KEY" (any case of Bearer) passes; each refusal says what is wrong', async () => {
  const cases: [string, RegExp | null][] = [
    [`Bearer ${KEY}`, null], [`bearer ${KEY}`, null], [`BEARER  ${KEY} `, null],
    ['', /No API key was given/], [KEY, /must read "Bearer YOUR_KEY"/], [`Basic ${KEY}`, /must read "Bearer YOUR_KEY"/],
    ['Bearer', /must read "Bearer YOUR_KEY"/], [`Bearer ${KEY} ${KEY}`, /must read "Bearer YOUR_KEY"/],
    ['Bearer x', /not this server's key/], [`Bearer ${KEY}${KEY}`, /not this server's key/], [`Bearer ${'k'.repeat(5000)}`, /not this server's key/],
  ];
  for (const [header, refused] of cases) {
    const r = await fetch(`${base}/v1/models`, { headers: header ? { authorization: header } : {} });
    const body = await r.json() as { error?: { message: string; code: string } };
    if (!refused) { assert.equal(r.status, 200, `"${header.slice(0, 40)}": ${JSON.stringify(body)}`); continue; }
    assert.equal(r.status, 401, `"${header.slice(0, 40)}"`);
    assert.equal(body.error?.code, 'invalid_api_key');
    assert.match(body.error!.message, refused, `"${header.slice(0, 40)}"`);
  }
});

test('a refused request leaves its connection open: the next request on it, with the key, is answered', async () => {
  const x = await exchange(Number(new URL(base).port), ['GET /v1/models HTTP/1.1\r\nHost: x\r\n\r\n', { waitMs: 100 },
    `POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}`, { waitMs: 100 },
    `GET /v1/models HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${KEY}\r\nConnection: close\r\n\r\n`], 5000);
  assert.deepEqual(responses(x.text).map((r) => r.status), [401, 401, 200]);
});

test('ApiKey compares keys of every length without throwing (digests of equal length)', () => {
  const key = new ApiKey('abc');
  for (const given of ['a', 'ab', 'abd', 'abcd', 'x'.repeat(1000), 'é', '\u0000']) {
    assert.equal(key.refusal(`Bearer ${given}`)?.status ?? 401, 401, given);
  }
  assert.equal(key.refusal('Bearer abc'), null);
});

test('a key given by the user must be non-empty visible ASCII; the error names where it came from, never the key', () => {
  assert.equal(validateApiKey('sk-1_2.3~', '--api-key'), 'sk-1_2.3~');
  for (const [key, message] of [['', /^--api-key is empty/], ['my secret', /^--api-key must be visible ASCII .* character 3 of the key is not$/], ['naïve', /character 3/]] as const) {
    assert.throws(() => validateApiKey(key, '--api-key'), (e: Error) => {
      assert.match(e.message, message);
      if (key) assert.ok(!e.message.includes(key), 'the key is not printed');
      return true;
    });
  }
  assert.throws(() => validateApiKey('a\tb', 'QIUSUO_API_KEY'), /QIUSUO_API_KEY must be visible ASCII/);
});
