// DeepSeek-V3's real chat template rendered through ChatTemplate: exact prompt strings for system, multi-turn,
// tool calls and tool results (expected strings worked out by reading the template), special tokens encoding
// to their ids, and parseChatMessages validation. Leaves out: generation.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ChatTemplate, parseChatMessages, type ChatMessage } from '../../src/tokenizer/chat.js';
import { Tokenizer } from '../../src/tokenizer/bpe.js';
import { TOKENIZER_CONFIG_PATH, TOKENIZER_JSON_PATH, tokenizerJson } from './deepseek-files.js';

const chat = ChatTemplate.fromFile(TOKENIZER_CONFIG_PATH);
const BOS = '<｜begin▁of▁sentence｜>';
const EOS = '<｜end▁of▁sentence｜>';
const call = (name: string, args: string) => ({ type: 'function' as const, function: { name, arguments: args } });

test('bos/eos come from the {content} objects of tokenizer_config.json', () => {
  assert.equal(chat.bosToken, BOS);
  assert.equal(chat.eosToken, EOS);
  assert.equal(chat.addBosToken, true);
});

test('renders DeepSeek-V3 prompts exactly', () => {
  const table: { name: string; messages: ChatMessage[]; gen: boolean; expect: string }[] = [
    {
      name: 'user only, no generation prompt',
      messages: [{ role: 'user', content: 'Hi' }],
      gen: false,
      expect: `${BOS}<｜User｜>Hi`,
    },
    {
      name: 'system + user with generation prompt',
      messages: [{ role: 'system', content: 'You are helpful.' }, { role: 'user', content: 'Hi' }],
      gen: true,
      expect: `${BOS}You are helpful.<｜User｜>Hi<｜Assistant｜>`,
    },
    {
      name: 'two system messages join with a blank line, wherever they are',
      messages: [{ role: 'system', content: 'S1' }, { role: 'user', content: 'Q' }, { role: 'system', content: 'S2' }],
      gen: false,
      expect: `${BOS}S1\n\nS2<｜User｜>Q`,
    },
    {
      name: 'multi-turn',
      messages: [
        { role: 'user', content: 'A' }, { role: 'assistant', content: 'B' }, { role: 'user', content: 'C' },
      ],
      gen: true,
      expect: `${BOS}<｜User｜>A<｜Assistant｜>B${EOS}<｜User｜>C<｜Assistant｜>`,
    },
    {
      // The template closes the tool-call block only from the second call on: one call gets no
      // <｜tool▁calls▁end｜><｜end▁of▁sentence｜> (a quirk of DeepSeek-V3's template, reproduced as is).
      name: 'one tool call, its result, then the answer',
      messages: [
        { role: 'user', content: 'Weather?' },
        { role: 'assistant', content: null, tool_calls: [call('get_weather', '{"city":"Paris"}')] },
        { role: 'tool', content: '{"temp":20}', tool_call_id: 'c1' },
        { role: 'assistant', content: 'It is 20 degrees.' },
      ],
      gen: false,
      expect: `${BOS}<｜User｜>Weather?` +
        '<｜Assistant｜><｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function<｜tool▁sep｜>get_weather\n```json\n{"city":"Paris"}\n```<｜tool▁call▁end｜>' +
        '<｜tool▁outputs▁begin｜><｜tool▁output▁begin｜>{"temp":20}<｜tool▁output▁end｜>' +
        `<｜tool▁outputs▁end｜>It is 20 degrees.${EOS}`,
    },
    {
      name: 'two tool calls and two results; a trailing tool turn suppresses the generation prompt',
      messages: [
        { role: 'user', content: 'Go' },
        { role: 'assistant', content: null, tool_calls: [call('a', '{}'), call('b', '{"x":1}')] },
        { role: 'tool', content: 'r1' },
        { role: 'tool', content: 'r2' },
      ],
      gen: true,
      expect: `${BOS}<｜User｜>Go` +
        '<｜Assistant｜><｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function<｜tool▁sep｜>a\n```json\n{}\n```<｜tool▁call▁end｜>' +
        `\n<｜tool▁call▁begin｜>function<｜tool▁sep｜>b\n\`\`\`json\n{"x":1}\n\`\`\`<｜tool▁call▁end｜><｜tool▁calls▁end｜>${EOS}` +
        '<｜tool▁outputs▁begin｜><｜tool▁output▁begin｜>r1<｜tool▁output▁end｜>' +
        '\n<｜tool▁output▁begin｜>r2<｜tool▁output▁end｜>' +
        '<｜tool▁outputs▁end｜>',
    },
  ];
  for (const { name, messages, gen, expect } of table) {
    assert.equal(chat.render(messages, { addGenerationPrompt: gen }), expect, name);
  }
  // addGenerationPrompt defaults to false.
  assert.equal(chat.render([{ role: 'user', content: 'Hi' }]), `${BOS}<｜User｜>Hi`);
});

test('a rendered prompt encodes its special tokens to their ids', () => {
  const tok = Tokenizer.fromJSON(tokenizerJson, TOKENIZER_JSON_PATH);
  const text = chat.render([{ role: 'system', content: 'Be brief.' }, { role: 'user', content: 'Hi' }], { addGenerationPrompt: true });
  const ids = tok.encode(text);
  assert.deepEqual(ids, [0, ...tok.encode('Be brief.'), 128803, ...tok.encode('Hi'), 128804]);
  assert.equal(tok.decode(ids), text);
});

test('fromJSON accepts plain-string tokens; missing template and bad tokens are errors naming the source', () => {
  const t = ChatTemplate.fromJSON({ chat_template: '{{ bos_token }}{{ messages[0].content }}{{ eos_token }}', bos_token: '<s>', eos_token: '</s>' }, 'cfg.json');
  assert.equal(t.render([{ role: 'user', content: 'x' }]), '<s>x</s>');
  assert.equal(t.addBosToken, false);
  const listForm = ChatTemplate.fromJSON({ chat_template: [{ name: 'tool_use', template: 'T' }, { name: 'default', template: 'D' }] });
  assert.equal(listForm.render([{ role: 'user', content: 'x' }]), 'D');
  assert.throws(() => ChatTemplate.fromJSON({ bos_token: '<s>' }, 'cfg.json'), /cfg\.json: no "chat_template" string/);
  assert.throws(() => ChatTemplate.fromJSON({ chat_template: 'x', bos_token: 5 }, 'cfg.json'), /cfg\.json: "bos_token" must be/);
  assert.throws(() => ChatTemplate.fromJSON({ chat_template: '{% if %}' }, 'cfg.json'), /cfg\.json: chat_template does not parse/);
  assert.throws(() => ChatTemplate.fromFile('/nonexistent/tokenizer_config.json'), /\/nonexistent\/tokenizer_config\.json: cannot read/);
});

test('tokenizer_config.json errors found by fuzzing: one line, no leaked engine internals', () => {
  const dir = mkdtempSync(join(tmpdir(), 'qiusuo-chat-'));
  const file = join(dir, 'tokenizer_config.json');
  writeFileSync(file, '{\n"chat_template": x\n}');
  assert.throws(() => ChatTemplate.fromFile(file), (e: Error) => e.message.startsWith(`${file}: tokenizer config is not valid JSON (`) && !e.message.includes('\n'));
  // On "{{ x(" the Jinja engine itself fails with "Cannot read properties of undefined".
  assert.throws(() => ChatTemplate.fromJSON({ chat_template: '{{ x(' }, 'cfg.json'), /cfg\.json: chat_template does not parse \(malformed template: the Jinja engine failed on it\)$/);
});

test('parseChatMessages accepts OpenAI-shaped messages', () => {
  const parsed = parseChatMessages([
    { role: 'system', content: 'S', name: 'ignored' },
    { role: 'user', content: [{ type: 'text', text: 'a' }, { type: 'text', text: 'b' }] },
    { role: 'assistant', content: null, tool_calls: [{ id: 'c1', type: 'function', function: { name: 'f', arguments: '{}' } }] },
    { role: 'tool', content: 'r', tool_call_id: 'c1' },
  ]);
  assert.deepEqual(parsed, [
    { role: 'system', content: 'S' },
    { role: 'user', content: 'ab' },
    { role: 'assistant', content: null, tool_calls: [{ type: 'function', function: { name: 'f', arguments: '{}' } }] },
    { role: 'tool', content: 'r', tool_call_id: 'c1' },
  ]);
});

test('parseChatMessages errors name the index and field', () => {
  const table: { json: unknown; error: RegExp }[] = [
    { json: { role: 'user' }, error: /messages: expected an array$/ },
    { json: [], error: /at least one message/ },
    { json: [{ role: 'user', content: 'x' }, 5], error: /messages\[1\]: expected an object$/ },
    { json: [{ role: 'bot', content: 'x' }], error: /messages\[0\]\.role: expected one of system, user, assistant, tool$/ },
    { json: [{ role: 'user', content: 3 }], error: /messages\[0\]\.content: expected a string, a list of text parts, or null$/ },
    { json: [{ role: 'user', content: null }], error: /messages\[0\]\.content: expected a string \(null only/ },
    { json: [{ role: 'user', content: [{ type: 'image_url' }] }], error: /messages\[0\]\.content\[0\]: expected/ },
    { json: [{ role: 'user', content: 'x', tool_calls: [] }], error: /messages\[0\]\.tool_calls: only assistant/ },
    { json: [{ role: 'assistant', content: null, tool_calls: [{ type: 'function', function: { name: 'f', arguments: {} } }] }], error: /messages\[0\]\.tool_calls\[0\]\.function\.arguments: expected a JSON string$/ },
    { json: [{ role: 'assistant', content: null, tool_calls: [{ type: 'x' }] }], error: /messages\[0\]\.tool_calls\[0\]\.type/ },
    { json: [{ role: 'tool', content: 'r', tool_call_id: 7 }], error: /messages\[0\]\.tool_call_id: expected a string$/ },
  ];
  for (const { json, error } of table) assert.throws(() => parseChatMessages(json), error, JSON.stringify(json));
});
