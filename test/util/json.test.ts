// The JSON helpers for user files: parse errors on one line naming the file, and previews of values for error
// messages that stay short and cannot overflow the stack however deep or long the value is.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseJson, preview } from '../../src/util/json.js';

test('parseJson: a syntax error is one line that starts with the caller\'s words; good JSON parses', () => {
  assert.deepEqual(parseJson('{"a": [1]}', 'f.json: invalid JSON'), { a: [1] });
  for (const text of ['{\n  "a": x\n}', '{\r\n"a":\r\n', '[1,\u2028 x]']) {
    assert.throws(() => parseJson(text, 'f.json: invalid JSON'), (e: Error) => {
      assert.ok(e.message.startsWith('f.json: invalid JSON ('), e.message);
      assert.ok(!/[\r\n\u2028\u2029]/.test(e.message), JSON.stringify(e.message));
      return true;
    });
  }
});

test('preview: short values as JSON, deep ones cut at depth 3, long ones at 80 characters', () => {
  const table: [unknown, string][] = [
    [null, 'null'], [1.5, '1.5'], ['a\nb', '"a\\nb"'], [[1, 'x'], '[1,"x"]'], [{ k: true }, '{"k":true}'], [undefined, 'undefined'],
    [[[[[1]]]], '[[[[...]]]]'], [{ a: { b: { c: { d: 1 } } } }, '{"a":{"b":{"c":{...}}}}'], [[[[[]]]], '[[[[]]]]'],
    [Array.from({ length: 10 }, (_, i) => i), '[0,1,2,3,4,5,6,7,...]'],
  ];
  for (const [v, want] of table) assert.equal(preview(v), want);
  let deep: unknown = 0;
  for (let i = 0; i < 100_000; i++) deep = [deep];
  assert.equal(preview(deep), '[[[[...]]]]');
  const long = preview('x'.repeat(10_000));
  assert.equal(long.length, 81);
  assert.ok(long.endsWith('…'));
});
