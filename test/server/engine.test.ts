// The serving engine as a library (engine.chat.completions.create / engine.completions.create): OpenAI response
// shapes, streamed chunks that add up to the whole response, greedy text equal to a Generator run alone, requests
// batched together each getting their solo text, cancellation by signal or by leaving the iterator, a full queue
// (429), and closing with requests still running (503). Leaves out: HTTP (http.test.ts).

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Engine } from '../../src/server/engine.js';
import { ApiError, type ChatCompletionChunk, type Completion } from '../../src/server/protocol.js';
import { encodeChat, encodeText } from '../../src/generate/pipeline.js';
import { TempRoot, params, solo } from '../generate/fixtures.js';

let tmp: TempRoot;
let dir: string;
let engine: Engine;
const CONTEXT = 64;

before(() => {
  tmp = new TempRoot();
  dir = tmp.tiny();
  engine = Engine.load(dir, { maxBatch: 4, maxQueue: 16, context: CONTEXT, maxTokens: 24, modelName: 'tiny' });
});
after(async () => { await engine.close(); tmp.remove(); });

const chatIds = (text: string): number[] => encodeChat(engine.pipeline.tokenizer, engine.pipeline.chat, [{ role: 'user', content: text }], dir);
const textIds = (text: string): number[] => encodeText(engine.pipeline.tokenizer, engine.pipeline.chat, text);
const alone = (ids: number[], maxTokens: number) => solo(engine.pipeline, ids, params({ maxTokens }), CONTEXT);
const msg = (text: string) => [{ role: 'user' as const, content: text }];

async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const c of it) out.push(c);
  return out;
}

const chunkText = (chunks: ChatCompletionChunk[]): string => chunks.map((c) => c.choices[0]?.delta.content ?? '').join('');

test('a greedy chat completion is the text, finish reason and token counts of the same prompt generated alone', async () => {
  const r = await engine.chat.completions.create({ model: 'tiny', messages: msg('Hello'), max_tokens: 12, temperature: 0 });
  const ref = alone(chatIds('Hello'), 12);
  assert.equal(r.object, 'chat.completion');
  assert.match(r.id, /^chatcmpl-[0-9a-f]{24}$/);
  assert.equal(r.model, 'tiny');
  assert.deepEqual(r.choices, [{ index: 0, message: { role: 'assistant', content: ref.text, refusal: null }, logprobs: null, finish_reason: ref.finish }]);
  assert.deepEqual(r.usage, { prompt_tokens: chatIds('Hello').length, completion_tokens: ref.generated.length, total_tokens: chatIds('Hello').length + ref.generated.length });
});

test('streamed chunks: the role first, then the text deltas, then the finish reason, then usage; their text is the whole text', async () => {
  const req = { model: 'tiny', messages: msg('abc'), max_tokens: 10, temperature: 0 } as const;
  const whole = await engine.chat.completions.create(req);
  const chunks = await collect(await engine.chat.completions.create({ ...req, stream: true, stream_options: { include_usage: true } }));
  assert.deepEqual(chunks[0].choices[0].delta, { role: 'assistant', content: '' });
  const last = chunks.at(-2)!;
  assert.deepEqual(last.choices[0], { index: 0, delta: {}, logprobs: null, finish_reason: whole.choices[0].finish_reason });
  assert.deepEqual(chunks.at(-1)!.choices, []);
  assert.deepEqual(chunks.at(-1)!.usage, whole.usage);
  assert.equal(chunkText(chunks), whole.choices[0].message.content);
  assert.ok(chunks.every((c) => c.id === chunks[0].id && c.object === 'chat.completion.chunk'), 'one id for all chunks');
  assert.ok(chunks.slice(1, -2).every((c) => c.choices[0].finish_reason === null && (c.choices[0].delta.content ?? '').length > 0), 'middle chunks carry text');
});

test('text completions (legacy endpoint): the prompt gets BOS as in qiusuo generate; streaming adds up to the same text', async () => {
  const ref = alone(textIds('The quick'), 9);
  const r = await engine.completions.create({ model: 'tiny', prompt: 'The quick', max_tokens: 9, temperature: 0 });
  assert.equal(r.object, 'text_completion');
  assert.equal(r.choices[0].text, ref.text);
  assert.equal(r.choices[0].finish_reason, ref.finish);
  const chunks: Completion[] = await collect(await engine.completions.create({ model: 'tiny', prompt: 'The quick', max_tokens: 9, temperature: 0, stream: true }));
  assert.equal(chunks.map((c) => c.choices[0].text).join(''), ref.text);
  assert.equal(chunks.at(-1)!.choices[0].finish_reason, ref.finish);
});

test('requests running together (more than the batch, mixed kinds and lengths) each get exactly their solo text', async () => {
  const prompts = ['Hello', 'abc', 'DeepSeek', 'The quick brown fox', '1234', 'xyz'];
  const runs = prompts.map(async (text, i) => {
    const n = 4 + 3 * i;
    if (i % 3 === 0) return { i, text: (await engine.chat.completions.create({ model: 'tiny', messages: msg(text), max_tokens: n, temperature: 0 })).choices[0].message.content };
    if (i % 3 === 1) return { i, text: chunkText(await collect(await engine.chat.completions.create({ model: 'tiny', messages: msg(text), max_tokens: n, temperature: 0, stream: true }))) };
    return { i, text: (await engine.completions.create({ model: 'tiny', prompt: text, max_tokens: n, temperature: 0 })).choices[0].text };
  });
  for (const r of await Promise.all(runs)) {
    const text = prompts[r.i], n = 4 + 3 * r.i;
    assert.equal(r.text, alone(r.i % 3 === 2 ? textIds(text) : chatIds(text), n).text, `request ${r.i} ("${text}")`);
  }
  assert.equal(engine.stats().running, 0);
});

test('seeded sampling: the same seed gives the same text', async () => {
  const req = { model: 'tiny', messages: msg('Hello'), max_tokens: 12, temperature: 1, seed: 42 };
  const a = await engine.chat.completions.create(req);
  const b = await engine.chat.completions.create(req);
  assert.equal(a.choices[0].message.content, b.choices[0].message.content);
});

test('aborting a stream by its signal, or leaving the iterator early, frees the slot at once', async () => {
  const ctl = new AbortController();
  const it = await engine.chat.completions.create({ model: 'tiny', messages: msg('Hello'), max_tokens: 24, temperature: 0, stream: true }, { signal: ctl.signal });
  await it.next();
  ctl.abort(new Error('stop'));
  await assert.rejects(async () => { for await (const c of it) void c; }, /stop/);
  assert.equal(engine.stats().running + engine.stats().queued, 0, 'the aborted request left');

  const it2 = await engine.chat.completions.create({ model: 'tiny', messages: msg('abc'), max_tokens: 24, temperature: 0, stream: true });
  let seen = 0;
  for await (const c of it2) { void c; if (++seen === 2) break; }
  assert.equal(engine.stats().running + engine.stats().queued, 0, 'leaving the loop cancelled the request');

  const after = await engine.chat.completions.create({ model: 'tiny', messages: msg('Hello'), max_tokens: 12, temperature: 0 });
  assert.equal(after.choices[0].message.content, alone(chatIds('Hello'), 12).text, 'the engine keeps serving');
});

test('a non-streaming request aborted before it finishes rejects with the abort reason', async () => {
  const ctl = new AbortController();
  const p = engine.chat.completions.create({ model: 'tiny', messages: msg('Hello'), max_tokens: 24, temperature: 0 }, { signal: ctl.signal });
  ctl.abort(new Error('user gave up'));
  await assert.rejects(p, /user gave up/);
  await assert.rejects(engine.chat.completions.create({ model: 'tiny', messages: msg('Hello') }, { signal: ctl.signal }), /user gave up/, 'an already aborted signal');
});

test('bad requests reject with an ApiError before anything is queued', async () => {
  await assert.rejects(engine.chat.completions.create({ model: 'tiny', messages: [] }), (e: unknown) => e instanceof ApiError && e.status === 400 && e.param === 'messages');
  await assert.rejects(engine.completions.create({ model: 'other', prompt: 'x' }), (e: unknown) => e instanceof ApiError && e.status === 404);
  assert.equal(engine.stats().queued, 0);
});

test('a full queue answers 429 and the requests already accepted still finish', async () => {
  const small = Engine.load(dir, { maxBatch: 1, maxQueue: 1, context: CONTEXT, modelName: 'tiny' });
  try {
    const req = { model: 'tiny', messages: msg('Hello'), max_tokens: 6, temperature: 0 };
    const a = small.chat.completions.create(req);
    const b = small.chat.completions.create(req);
    await assert.rejects(small.chat.completions.create(req), (e: unknown) => e instanceof ApiError && e.status === 429 && e.code === 'queue_full');
    const [ra, rb] = await Promise.all([a, b]);
    assert.equal(ra.choices[0].message.content, rb.choices[0].message.content);
  } finally {
    await small.close();
  }
});

test('closing with a request still running fails it with 503 shutting_down, and later requests get 503', async () => {
  const e2 = Engine.load(dir, { maxBatch: 2, context: CONTEXT, modelName: 'tiny' });
  const it = await e2.chat.completions.create({ model: 'tiny', messages: msg('Hello'), max_tokens: 24, temperature: 0, stream: true });
  await it.next();
  const closing = e2.close(0);
  await assert.rejects(async () => { for await (const c of it) void c; }, (e: unknown) => e instanceof ApiError && e.status === 503 && e.code === 'shutting_down');
  await closing;
});

test('models.list names the served model with its limits', () => {
  const list = engine.models.list();
  assert.equal(list.object, 'list');
  assert.equal(list.data.length, 1);
  assert.equal(list.data[0].id, 'tiny');
  assert.equal(list.data[0].context_length, CONTEXT);
  assert.equal(list.data[0].max_completion_tokens, 24);
});

test('speculative: { draftTokens: 2 } serves the same greedy text and reports acceptance; none without it; no MTP fails', async () => {
  const spec = Engine.load(dir, { maxBatch: 2, context: CONTEXT, modelName: 'tiny', speculative: { draftTokens: 2 } });
  try {
    for (const text of ['Hello', 'The quick brown fox']) {
      const r = await spec.chat.completions.create({ model: 'tiny', messages: msg(text), max_tokens: 16, temperature: 0 });
      assert.equal(r.choices[0].message.content, alone(chatIds(text), 16).text, text);
    }
    const s = spec.stats().speculation!;
    assert.equal(s.draftTokens, 2);
    assert.ok(s.acceptance.length >= 1 && s.acceptedPerStep !== null, `drafts were verified: ${JSON.stringify(s)}`);
  } finally {
    await spec.close();
  }
  assert.equal(engine.stats().speculation, null);
  const noMtp = tmp.tiny({ set: { num_nextn_predict_layers: 0 } });
  assert.throws(() => Engine.load(noMtp, { speculative: { draftTokens: 1 } }), /num_nextn_predict_layers is 0/);
  assert.throws(() => Engine.load(dir, { context: CONTEXT, speculative: { draftTokens: CONTEXT - 1 } }), /draft tokens must be an integer from 1 to 62/);
});
