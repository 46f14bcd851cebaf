// Request validation, table-driven: every bad input is refused with status, param and code naming what is wrong;
// good requests become the token ids and sampling parameters `qiusuo generate` would use.
// Leaves out: scheduling and HTTP (engine.test.ts, http.test.ts).

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { loadTokenizer, loadChatTemplate, encodeText, encodeChat } from '../../src/generate/pipeline.js';
import { parseChatRequest, parseCompletionRequest, type ServedModel } from '../../src/server/requests.js';
import { ApiError } from '../../src/server/protocol.js';
import { TempRoot } from '../generate/fixtures.js';

let tmp: TempRoot;
let m: ServedModel;
const user = [{ role: 'user', content: 'Hello' }];

before(() => {
  tmp = new TempRoot();
  const dir = tmp.tiny();
  m = { id: 'tiny', tokenizer: loadTokenizer(dir), chat: loadChatTemplate(dir), vocabSize: 300, context: 64, maxTokens: 32 };
});
after(() => tmp.remove());

const escape = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

function refused(f: () => unknown, status: number, param: string | null, code: string | null, text?: RegExp): void {
  assert.throws(f, (e: unknown) => {
    assert.ok(e instanceof ApiError, `expected an ApiError, got ${String(e)}`);
    assert.equal(e.status, status, e.message);
    assert.equal(e.param, param, e.message);
    assert.equal(e.code, code, e.message);
    if (text) assert.match(e.message, text);
    return true;
  });
}

test('a chat request becomes the chat-template ids and its sampling parameters', () => {
  const r = parseChatRequest({ model: 'tiny', messages: user, max_tokens: 5, temperature: 0, top_p: 0.5, top_k: 3, seed: 7, stop: 'x', stream: true, stream_options: { include_usage: true } }, m);
  assert.deepEqual(r.prompt, encodeChat(m.tokenizer, m.chat, [{ role: 'user', content: 'Hello' }], 'tiny'));
  assert.deepEqual(r.params, { maxTokens: 5, temperature: 0, topP: 0.5, topK: 3, seed: 7, stop: ['x'] });
  assert.equal(r.stream, true);
  assert.equal(r.includeUsage, true);
});

test('defaults: temperature 1, top_p 1, no stop, max_tokens = the room left up to the server limit, a random seed', () => {
  const r = parseChatRequest({ model: 'tiny', messages: user }, m);
  assert.equal(r.params.temperature, 1);
  assert.equal(r.params.topP, 1);
  assert.deepEqual(r.params.stop, []);
  assert.equal(r.params.maxTokens, Math.min(32, 64 - r.prompt.length));
  assert.ok(Number.isInteger(r.params.seed) && r.params.seed >= 0, `seed ${r.params.seed}`);
  assert.equal(r.stream, false);
  const long = parseCompletionRequest({ model: 'tiny', prompt: 'x'.repeat(50) }, m);
  assert.equal(long.params.maxTokens, 64 - long.prompt.length, 'near the end of the context, max_tokens defaults to what fits');
});

test('completion prompts: a string (with BOS, as qiusuo generate), one string in a list, or token ids', () => {
  const ids = encodeText(m.tokenizer, m.chat, 'Hello');
  assert.deepEqual(parseCompletionRequest({ model: 'tiny', prompt: 'Hello' }, m).prompt, ids);
  assert.deepEqual(parseCompletionRequest({ model: 'tiny', prompt: ['Hello'] }, m).prompt, ids);
  assert.deepEqual(parseCompletionRequest({ model: 'tiny', prompt: [1, 2, 3] }, m).prompt, [1, 2, 3]);
});

test('max_completion_tokens is max_tokens by its newer name; "developer" messages are system messages', () => {
  const r = parseChatRequest({ model: 'tiny', messages: [{ role: 'developer', content: 'Be brief.' }, ...user], max_completion_tokens: 3 }, m);
  assert.equal(r.params.maxTokens, 3);
  assert.deepEqual(r.prompt, encodeChat(m.tokenizer, m.chat, [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: 'Hello' }], 'tiny'));
});

const BAD: [string, unknown, number, string | null, string | null][] = [
  ['not an object', [1, 2], 400, null, null],
  ['missing messages', { model: 'tiny' }, 400, 'messages', 'missing_required_parameter'],
  ['missing model', { messages: user }, 400, 'model', 'missing_required_parameter'],
  ['model of the wrong type', { model: 5, messages: user }, 400, 'model', 'invalid_type'],
  ['unknown model', { model: 'gpt-4o', messages: user }, 404, 'model', 'model_not_found'],
  ['messages not a list', { model: 'tiny', messages: 'hi' }, 400, 'messages', null],
  ['empty messages', { model: 'tiny', messages: [] }, 400, 'messages', null],
  ['unknown role', { model: 'tiny', messages: [...user, { role: 'wizard', content: 'x' }] }, 400, 'messages[1].role', null],
  ['content of the wrong type', { model: 'tiny', messages: [{ role: 'user', content: 42 }] }, 400, 'messages[0].content', null],
  ['an image part', { model: 'tiny', messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url: 'x' } }] }] }, 400, 'messages[0].content[0]', null],
  ['temperature a string', { model: 'tiny', messages: user, temperature: 'hot' }, 400, 'temperature', 'invalid_type'],
  ['temperature out of range', { model: 'tiny', messages: user, temperature: 3 }, 400, 'temperature', 'invalid_value'],
  ['top_p 0', { model: 'tiny', messages: user, top_p: 0 }, 400, 'top_p', 'invalid_value'],
  ['top_k negative', { model: 'tiny', messages: user, top_k: -1 }, 400, 'top_k', 'invalid_value'],
  ['max_tokens 0', { model: 'tiny', messages: user, max_tokens: 0 }, 400, 'max_tokens', 'invalid_value'],
  ['max_tokens negative', { model: 'tiny', messages: user, max_tokens: -5 }, 400, 'max_tokens', 'invalid_value'],
  ['max_tokens fractional', { model: 'tiny', messages: user, max_tokens: 2.5 }, 400, 'max_tokens', 'invalid_type'],
  ['max_tokens huge', { model: 'tiny', messages: user, max_tokens: 1e9 }, 400, 'max_tokens', 'invalid_value'],
  ['prompt + max_tokens past the context', { model: 'tiny', messages: [{ role: 'user', content: 'x'.repeat(40) }], max_tokens: 30 }, 400, 'max_tokens', 'context_length_exceeded'],
  ['a prompt longer than the context', { model: 'tiny', messages: [{ role: 'user', content: 'x'.repeat(500) }] }, 400, 'messages', 'context_length_exceeded'],
  ['max_tokens and max_completion_tokens disagree', { model: 'tiny', messages: user, max_tokens: 2, max_completion_tokens: 3 }, 400, 'max_completion_tokens', null],
  ['n = 2', { model: 'tiny', messages: user, n: 2 }, 400, 'n', 'invalid_value'],
  ['stream not a boolean', { model: 'tiny', messages: user, stream: 'yes' }, 400, 'stream', 'invalid_type'],
  ['stream_options without stream', { model: 'tiny', messages: user, stream_options: { include_usage: true } }, 400, 'stream_options', null],
  ['an unknown stream option', { model: 'tiny', messages: user, stream: true, stream_options: { speed: 1 } }, 400, 'stream_options.speed', 'unrecognized_parameter'],
  ['stop of the wrong type', { model: 'tiny', messages: user, stop: 5 }, 400, 'stop', 'invalid_type'],
  ['five stop strings', { model: 'tiny', messages: user, stop: ['a', 'b', 'c', 'd', 'e'] }, 400, 'stop', 'invalid_value'],
  ['an empty stop string', { model: 'tiny', messages: user, stop: [''] }, 400, 'stop', 'invalid_value'],
  ['seed not an integer', { model: 'tiny', messages: user, seed: 1.5 }, 400, 'seed', 'invalid_type'],
  ['an unknown field', { model: 'tiny', messages: user, temprature: 0 }, 400, 'temprature', 'unrecognized_parameter'],
  ['an unsupported feature', { model: 'tiny', messages: user, logprobs: true }, 400, 'logprobs', 'unsupported_parameter'],
  // found by http.fuzz.test.ts: names inherited from Object.prototype were taken for neutral fields
  ['a field named toString', { model: 'tiny', messages: user, toString: 5 }, 400, 'toString', 'unrecognized_parameter'],
  ['a null field named constructor', { model: 'tiny', messages: user, constructor: null }, 400, 'constructor', 'unrecognized_parameter'],
  ['tools', { model: 'tiny', messages: user, tools: [{ type: 'function', function: { name: 'f' } }] }, 400, 'tools', 'unsupported_parameter'],
];

for (const [what, body, status, param, code] of BAD) {
  // The message names the field too (its top-level name), as http.fuzz.test.ts demands of every error.
  const field = param?.replace(/[[.].*$/, '');
  test(`chat request with ${what}: ${status} naming ${param ?? 'the body'}`, () => refused(() => parseChatRequest(body, m), status, param, code, field ? new RegExp(escape(field)) : undefined));
}

test('neutral values of unsupported features and fields that change nothing are accepted', () => {
  const r = parseChatRequest({ model: 'tiny', messages: user, logprobs: false, frequency_penalty: 0, presence_penalty: null, user: 'u1', n: 1, metadata: { a: 'b' } }, m);
  assert.ok(r.prompt.length > 0, 'parsed');
});

test('completion prompts that are refused', () => {
  refused(() => parseCompletionRequest({ model: 'tiny' }, m), 400, 'prompt', 'missing_required_parameter');
  refused(() => parseCompletionRequest({ model: 'tiny', prompt: 5 }, m), 400, 'prompt', 'invalid_type');
  refused(() => parseCompletionRequest({ model: 'tiny', prompt: [] }, m), 400, 'prompt', 'invalid_type');
  refused(() => parseCompletionRequest({ model: 'tiny', prompt: ['a', 'b'] }, m), 400, 'prompt', null, /one prompt per request/);
  refused(() => parseCompletionRequest({ model: 'tiny', prompt: [1, 300] }, m), 400, 'prompt[1]', 'invalid_value', /\[0, 300\)/);
  refused(() => parseCompletionRequest({ model: 'tiny', prompt: 'x'.repeat(100) }, m), 400, 'prompt', 'context_length_exceeded', /maximum context length is 64/);
  // found by http.fuzz.test.ts: these messages did not name the field they blame
  refused(() => parseChatRequest({ model: 'tiny', messages: [{ role: 'user', content: 'x'.repeat(100) }] }, m), 400, 'messages', 'context_length_exceeded', /but the messages come to \d+ tokens/);
  refused(() => parseCompletionRequest({ model: 'tiny', prompt: new Array(60).fill(1), max_tokens: 10 }, m), 400, 'max_tokens', 'context_length_exceeded', /\(60 in the prompt, 10 asked for by 'max_tokens'\)/);
  refused(() => parseChatRequest({ model: 'tiny', messages: user, max_completion_tokens: 30 }, { ...m, context: 20 }), 400, 'max_completion_tokens', 'context_length_exceeded', /asked for by 'max_completion_tokens'/);
  refused(() => parseCompletionRequest({ model: 'tiny', prompt: 'hi', messages: user }, m), 400, 'messages', 'unrecognized_parameter');
});

test('a model without a chat template refuses chat requests and still completes text', () => {
  const plain: ServedModel = { ...m, chat: null };
  refused(() => parseChatRequest({ model: 'tiny', messages: user }, plain), 400, 'messages', null, /no chat template/);
  assert.ok(parseCompletionRequest({ model: 'tiny', prompt: 'Hi' }, plain).prompt.length > 0, 'completions work without a template');
});
