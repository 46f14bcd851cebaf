// `qiusuo serve` as a user runs it: greedy text served (chat and completions, streaming or not, alone or batched
// with other requests) equals `qiusuo generate` for the same prompt; SIGTERM lets a running stream finish and exits
// 0, or with --shutdown-grace 0 ends it with a shutting_down error; --api-key / QIUSUO_API_KEY and the limits reach
// the server; listening beyond loopback without a key warns; bad flags fail with a clear message.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { TempRoot } from '../generate/fixtures.js';
import { BIN, startServer, type ServerProcess } from './server-process.js';
import { exchange, onlyResponse } from '../server/raw-http.js';

let tmp: TempRoot;
let dir: string;

before(() => { tmp = new TempRoot(); dir = tmp.tiny(); });
after(() => tmp.remove());

/** `qiusuo serve` on the test checkpoint. */
const serve = (args: string[]): Promise<ServerProcess> => startServer(['serve', '--model', dir, '--port', '0', '--quiet', ...args]);

function generate(prompt: string, maxTokens: number, chat: boolean): string {
  const r = spawnSync(process.execPath, [BIN, 'generate', '--model', dir, '--prompt', prompt, '--max-tokens', String(maxTokens), ...(chat ? ['--chat'] : [])], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.ok(r.stdout.endsWith('\n'), 'generate ends with a newline');
  return r.stdout.slice(0, -1);
}

/** One request; streaming ones are read as SSE and their text deltas joined. */
async function complete(base: string, kind: 'chat' | 'text', prompt: string, maxTokens: number, stream: boolean): Promise<string> {
  const body = kind === 'chat'
    ? { model: path.basename(dir), messages: [{ role: 'user', content: prompt }], max_tokens: maxTokens, temperature: 0, stream }
    : { model: path.basename(dir), prompt, max_tokens: maxTokens, temperature: 0, stream };
  const r = await fetch(`${base}/v1/${kind === 'chat' ? 'chat/completions' : 'completions'}`, { method: 'POST', body: JSON.stringify(body) });
  assert.equal(r.status, 200, await r.clone().text());
  if (!stream) {
    const j = await r.json() as any;
    return kind === 'chat' ? j.choices[0].message.content : j.choices[0].text;
  }
  const events = (await r.text()).split('\n\n').filter((e) => e.length > 0);
  assert.equal(events.at(-1), 'data: [DONE]');
  return events.slice(0, -1).map((e) => {
    const c = JSON.parse(e.replace(/^data: /, ''));
    return (kind === 'chat' ? c.choices[0]?.delta.content : c.choices[0]?.text) ?? '';
  }).join('');
}

test('greedy text served equals qiusuo generate, streaming or not, alone or batched with other requests', async () => {
  const prompts = ['Hello', 'The quick brown fox'];
  const expected = new Map<string, string>();
  for (const p of prompts) for (const chat of [false, true]) expected.set(`${chat}:${p}`, generate(p, 14, chat));
  const s = await serve([]);
  try {
    for (const p of prompts) {
      for (const stream of [false, true]) {
        assert.equal(await complete(s.base, 'text', p, 14, stream), expected.get(`false:${p}`), `completions "${p}" stream=${stream} alone`);
        assert.equal(await complete(s.base, 'chat', p, 14, stream), expected.get(`true:${p}`), `chat "${p}" stream=${stream} alone`);
      }
    }
    const together = await Promise.all([
      ...prompts.flatMap((p) => [false, true].flatMap((stream) => [
        complete(s.base, 'text', p, 14, stream).then((t) => [`false:${p}`, t, `completions "${p}" stream=${stream}`]),
        complete(s.base, 'chat', p, 14, stream).then((t) => [`true:${p}`, t, `chat "${p}" stream=${stream}`]),
      ])),
      complete(s.base, 'text', 'other traffic', 30, true).then(() => null),
      complete(s.base, 'chat', 'more traffic', 5, false).then(() => null),
    ]);
    for (const r of together) if (r) assert.equal(r[1], expected.get(r[0]), `${r[2]} batched`);
  } finally {
    s.child.kill('SIGTERM');
    assert.equal(await s.exit, 0);
  }
});

// The SIGTERM tests serve on the reference kernels and ask for this prompt's long greedy answer (2113 tokens), so
// the stream is surely still running when the signal arrives.
const longChat = (maxTokens: number) => JSON.stringify({
  model: path.basename(dir), messages: [{ role: 'user', content: 'Tell me everything' }], max_tokens: maxTokens, temperature: 0, stream: true,
});

test('SIGTERM: the running stream finishes, then the server exits 0', async () => {
  const s = await serve(['--kernels', 'ref']);
  const r = await fetch(`${s.base}/v1/chat/completions`, { method: 'POST', body: longChat(300) });
  const reader = r.body!.getReader();
  await reader.read();                 // the stream has begun
  s.child.kill('SIGTERM');
  let text = '';
  for (let chunk = await reader.read(); !chunk.done; chunk = await reader.read()) text += new TextDecoder().decode(chunk.value);
  assert.match(text, /"finish_reason":"length"/, 'the request finished normally, all 300 tokens');
  assert.ok(text.endsWith('data: [DONE]\n\n'), 'and the stream ended properly');
  assert.equal(await s.exit, 0, s.stderr());
  assert.match(s.stderr(), /SIGTERM: no longer accepting requests/);
  await assert.rejects(fetch(`${s.base}/health`), 'no longer listening');
});

test('SIGTERM with --shutdown-grace 0: a running stream ends with a shutting_down error event; exit 0', async () => {
  const s = await serve(['--shutdown-grace', '0', '--max-tokens', '4000', '--kernels', 'ref']);
  const r = await fetch(`${s.base}/v1/chat/completions`, { method: 'POST', body: longChat(4000) });
  const reader = r.body!.getReader();
  await reader.read();
  s.child.kill('SIGTERM');
  let text = '';
  for (let chunk = await reader.read(); !chunk.done; chunk = await reader.read()) text += new TextDecoder().decode(chunk.value);
  const last = text.trim().split('\n\n').at(-1)!;
  assert.equal(JSON.parse(last.replace(/^data: /, '')).error.code, 'shutting_down', last);
  assert.equal(await s.exit, 0, s.stderr());
});

test('--api-key and QIUSUO_API_KEY: requests need the key; listening beyond loopback without one warns', async () => {
  const run = fs.mkdtempSync(path.join(tmp.dir, 'run-'));
  const stop = async (s: ServerProcess): Promise<string> => { s.child.kill('SIGTERM'); assert.equal(await s.exit, 0); return s.stderr(); };
  for (const [args, env] of [[['--api-key', 'k-flag'], {}], [[], { QIUSUO_API_KEY: 'k-env' }]] as const) {
    const key = args.length ? 'k-flag' : 'k-env';
    const s = await startServer(['dashboard', '--run', run, '--port', '0', ...args], env);
    assert.equal((await fetch(`${s.base}/api/run`)).status, 401, `${key}: no key`);
    assert.equal((await fetch(`${s.base}/api/run`, { headers: { authorization: 'Bearer wrong' } })).status, 401, `${key}: a wrong key`);
    assert.equal((await fetch(`${s.base}/api/run`, { headers: { authorization: `Bearer ${key}` } })).status, 200, `${key}: the key`);
    assert.equal((await fetch(`${s.base}/health`)).status, 200);
    assert.doesNotMatch(await stop(s), /warning/);
  }
  const exposed = await startServer(['dashboard', '--run', run, '--port', '0', '--host', '0.0.0.0']);
  const port = new URL(exposed.base).port;
  assert.match(await stop(exposed), new RegExp(`warning: listening on 0\\.0\\.0\\.0 \\(0\\.0\\.0\\.0\\), which is not a loopback address, with no API key: anyone who can reach this machine's port ${port} can read the training run's metrics`));
  const keyed = await startServer(['serve', '--model', dir, '--port', '0', '--quiet', '--host', '0.0.0.0'], { QIUSUO_API_KEY: 'k' });
  assert.doesNotMatch(await stop(keyed), /warning/, 'with a key, no warning');
});

test('the limits reach the server: --header-timeout and --max-request-time', async () => {
  const s = await serve(['--header-timeout', '0.3', '--max-request-time', '0.5', '--max-tokens', '4000', '--kernels', 'ref']);
  try {
    const stalled = await exchange(Number(new URL(s.base).port), ['GET /health HTTP/1.1\r\n'], 5000);
    assert.equal(onlyResponse(stalled).status, 408);
    assert.ok(stalled.closedMs >= 280 && stalled.closedMs < 1500, `closed after ${stalled.closedMs.toFixed(0)} ms`);
    const t0 = performance.now();
    const r = await fetch(`${s.base}/v1/chat/completions`, { method: 'POST', body: longChat(4000).replace('"stream":true', '"stream":false') });
    assert.equal(r.status, 504);
    assert.equal(((await r.json()) as any).error.code, 'request_timeout');
    assert.ok(performance.now() - t0 < 3000, 'stopped after about half a second');
  } finally {
    s.child.kill('SIGTERM');
    await s.exit;
  }
});

test('bad flags and a taken port fail with a message naming them', async () => {
  const bad = spawnSync(process.execPath, [BIN, 'serve', '--model', dir, '--max-batch', '0'], { encoding: 'utf8' });
  assert.equal(bad.status, 1);
  assert.match(bad.stderr, /--max-batch must be an integer in \[1, 1024\], got "0"/);
  const env = { ...process.env, QIUSUO_API_KEY: undefined };
  const flags: [string[], NodeJS.ProcessEnv, RegExp][] = [
    [['--api-key', ''], env, /--api-key is empty/],
    [[], { ...env, QIUSUO_API_KEY: 'my secret' }, /QIUSUO_API_KEY must be visible ASCII characters without spaces .*character 3 of the key is not/],
    [['--header-timeout', '5', '--read-timeout', '2'], env, /--header-timeout \(5 s\) must be at most --read-timeout \(2 s\)/],
    [['--max-connections', '0'], env, /--max-connections must be an integer in \[1, 1000000\], got "0"/],
    [['--keep-alive-timeout', '0'], env, /--keep-alive-timeout must be a number in \(0, 3600\], got "0"/],
    [['--max-request-time', 'soon'], env, /--max-request-time must be a number in \(0, 604800\], got "soon"/],
  ];
  for (const [args, e, message] of flags) {
    const r = spawnSync(process.execPath, [BIN, 'dashboard', '--run', tmp.dir, '--port', '0', ...args], { encoding: 'utf8', env: e });
    assert.equal(r.status, 1, args.join(' '));
    assert.match(r.stderr, message);
    assert.doesNotMatch(r.stderr, /my secret/, 'the key is never printed');
  }
  const missing = spawnSync(process.execPath, [BIN, 'dashboard', '--run', path.join(tmp.dir, 'nope')], { encoding: 'utf8' });
  assert.equal(missing.status, 1);
  assert.match(missing.stderr, /--run .*nope: no such folder/);
  const s = await serve([]);
  try {
    const port = new URL(s.base).port;
    const taken = spawnSync(process.execPath, [BIN, 'serve', '--model', dir, '--port', port], { encoding: 'utf8' });
    assert.equal(taken.status, 1);
    assert.match(taken.stderr, new RegExp(`cannot listen on 127\\.0\\.0\\.1:${port}: the port is in use`));
  } finally {
    s.child.kill('SIGTERM');
    await s.exit;
  }
});
