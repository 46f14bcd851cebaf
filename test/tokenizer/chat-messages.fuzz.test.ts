// Fuzzes chat-message arrays (parseChatMessages, the validation every chat request and `--chat` input goes through)
// and what follows them: rendering with DeepSeek-V3's chat template and tokenizing the prompt. Arrays are built from
// scratch and mutated from valid conversations. Accepted messages must render (each one's text in the prompt) and
// tokenize to ids that decode back to the prompt; refused ones fail with one line naming the message and field.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fc, fuzz, parsedOrRefused } from '../fuzz/harness.js';
import { mutatedJsonValue, wrongValue } from '../fuzz/mutators.js';
import { ChatTemplate, parseChatMessages, type ChatMessage } from '../../src/tokenizer/chat.js';
import { Tokenizer } from '../../src/tokenizer/bpe.js';
import { byteLevelTokenizerJson, deepseekTokenizerConfig } from '../../src/tokenizer/init-files.js';

const chat = ChatTemplate.fromJSON(deepseekTokenizerConfig());
const tokenizer = Tokenizer.fromJSON(byteLevelTokenizerJson(300).json);

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** The text an accepted raw message's content stands for: a string, or its {type: "text", text} parts joined. */
function contentText(raw: unknown): string | null {
  const c = (raw as { content?: unknown }).content;
  if (Array.isArray(c)) {
    for (const p of c) assert.ok(isObject(p) && p.type === 'text' && typeof p.text === 'string', `accepted a content part ${JSON.stringify(p)}`);
    return c.map((p) => (p as { text: string }).text).join('');
  }
  assert.ok(c === undefined || c === null || typeof c === 'string', `accepted content ${JSON.stringify(c)}`);
  return typeof c === 'string' ? c : null;
}

function messagesCase(input: unknown): void {
  parsedOrRefused(() => parseChatMessages(input), /^messages/, (messages) => checkAccepted(input, messages));
}

/** Accepted: one message per input element, as the validator documents them, and the prompt renders. */
function checkAccepted(input: unknown, messages: ChatMessage[]): void {
  assert.ok(Array.isArray(input) && messages.length === input.length && messages.length > 0);
  messages.forEach((m, i) => {
    assert.ok(['system', 'user', 'assistant', 'tool'].includes(m.role));
    assert.equal(m.content, contentText(input[i]));
    if (m.content === null) assert.ok(m.role === 'assistant' && (m.tool_calls?.length ?? 0) > 0);
    if (m.tool_calls) assert.equal(m.role, 'assistant');
    const raw = input[i] as Record<string, unknown>;
    if (raw.tool_calls !== undefined && raw.tool_calls !== null) {
      assert.ok(Array.isArray(raw.tool_calls) && m.tool_calls?.length === raw.tool_calls.length);
      raw.tool_calls.forEach((c: unknown, k) => {
        assert.ok(isObject(c) && c.type === 'function' && isObject(c.function), `accepted a tool call ${JSON.stringify(c)}`);
        assert.deepEqual(m.tool_calls![k]!.function, { name: c.function.name, arguments: c.function.arguments });
      });
    }
    assert.equal(m.tool_call_id, raw.tool_call_id);
  });
  // And it renders, each user/system/tool text appearing in the prompt, which tokenizes and decodes back.
  const prompt = chat.render(messages, { addGenerationPrompt: true });
  for (const m of messages) if (m.role !== 'assistant' && m.content !== null) assert.ok(prompt.includes(m.content), `${m.role} text missing from the prompt`);
  const ids = tokenizer.encode(prompt);
  assert.ok(ids.every((id) => id >= 0 && id < tokenizer.vocabSize));
  assert.equal(tokenizer.decode(ids), prompt.toWellFormed());
}

const text = fc.oneof(fc.string({ maxLength: 12 }), fc.string({ unit: 'binary', maxLength: 6 }), fc.constantFrom('', '<｜User｜>', '{{ x }}', '{% endfor %}', '</think>a', '\ud800'));
const toolCall = fc.oneof(
  fc.record({ type: fc.constant('function'), function: fc.record({ name: text, arguments: text }), id: fc.option(text) }),
  wrongValue(),
);
const message = fc.record({
  role: fc.oneof(fc.constantFrom('system', 'user', 'assistant', 'tool'), wrongValue()),
  content: fc.oneof(text, fc.constant(null), fc.array(fc.oneof(fc.record({ type: fc.constant('text'), text }), wrongValue()), { maxLength: 3 }), wrongValue()),
  tool_calls: fc.option(fc.oneof(fc.array(toolCall, { maxLength: 3 }), wrongValue())),
  tool_call_id: fc.option(fc.oneof(text, wrongValue())),
  name: fc.option(text),
}, { requiredKeys: ['role'] });

test('chat messages: arrays built from scratch', async () => {
  await fuzz('chat messages (from scratch)', fc.oneof({ arbitrary: fc.array(message, { maxLength: 6 }), weight: 9 }, { arbitrary: wrongValue(), weight: 1 }), messagesCase);
});

test('chat messages: valid conversations mutated (wrong types, removed fields, deep nesting)', async () => {
  const valid = [
    { role: 'system', content: 'Be brief.' },
    { role: 'user', content: [{ type: 'text', text: 'What is 2+2?' }, { type: 'text', text: ' Answer.' }] },
    { role: 'assistant', content: null, tool_calls: [{ id: 'c1', type: 'function', function: { name: 'add', arguments: '{"a":2,"b":2}' } }] },
    { role: 'tool', tool_call_id: 'c1', content: '4' },
    { role: 'assistant', content: 'Four.' },
    { role: 'user', content: 'Thanks' },
  ];
  await fuzz('chat messages (mutated)', mutatedJsonValue(valid), messagesCase);
});
