// `qiusuo serve` as a user runs it: greedy text served (chat and completions, streaming or not, alone or batched
// with other requests) equals `qiusuo generate` for the same prompt; SIGTERM lets a running stream finish and exits
// 0, or with --shutdown-grace 0 ends it with a shutting_down error; bad flags fail with a clear message.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { TempRoot } from '../generate/fixtures.js';
import { BIN, startServer, type ServerProcess } from './server-process.js';

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

test('bad flags and a taken port fail with a message naming them', async () => {
  const bad = spawnSync(process.execPath, [BIN, 'serve', '--model', dir, '--max-batch', '0'], { encoding: 'utf8' });
  assert.equal(bad.status, 1);
  assert.match(bad.stderr, /--max-batch must be an integer in \[1, 1024\], got "0"/);
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
