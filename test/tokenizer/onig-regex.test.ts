// The Oniguruma -> JavaScript regex translation: each row is a pattern, a text and the spans Oniguruma would
// match (worked out by hand from Oniguruma's rules), plus the constructs that must be refused.
// Leaves out: pre-tokenizer plumbing (pre-tokenizer.test.ts).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compileOnigRegex } from '../../src/tokenizer/onig-regex.js';

const matches = (pattern: string, text: string) => [...text.matchAll(compileOnigRegex(pattern))].map((m) => m[0]);

test('translated patterns match what Oniguruma matches', () => {
  const table: { pattern: string; text: string; expect: string[]; why: string }[] = [
    { pattern: '\\s+', text: 'a\u0085b\ufeffc d', expect: ['\u0085', ' '], why: '\\s is White_Space: has U+0085, not U+FEFF' },
    { pattern: '\\S+', text: 'a\ufeff b\u0085c', expect: ['a\ufeff', 'b', 'c'], why: '\\S is the complement' },
    { pattern: '[\\s\\d]+', text: 'x1 2\u00853\u0663y', expect: ['1 2\u00853\u0663'], why: '\\s, \\d (Unicode Nd) inside a class' },
    { pattern: '.', text: 'a\r\n\u2028', expect: ['a', '\r', '\u2028'], why: '. excludes only \\n' },
    { pattern: '^\\w+', text: 'ab cd\nef', expect: ['ab', 'ef'], why: '^ is a line anchor' },
    { pattern: '\\w+$', text: 'ab cd\nef', expect: ['cd', 'ef'], why: '$ is a line anchor' },
    { pattern: '\\w+', text: 'é_x\u0301٣ a-b', expect: ['é_x\u0301٣', 'a', 'b'], why: 'Unicode \\w: letters, marks, Nd, Pc' },
    { pattern: 'a++a', text: 'aaa', expect: [], why: 'possessive never gives back' },
    { pattern: 'a*+b', text: 'aab', expect: ['aab'], why: 'possessive still matches when it can' },
    { pattern: '(?>a|ab)c', text: 'abc ac', expect: ['ac'], why: 'atomic group commits to its first match' },
    { pattern: '(?:a|ab)c', text: 'abc ac', expect: ['abc', 'ac'], why: 'plain group backtracks' },
    { pattern: 'x{2}+', text: 'xxxxx', expect: ['xxxx'], why: 'X{n}+ is stacked (Ruby syntax), not possessive' },
    { pattern: '\\p{Han}+', text: '漢字かな', expect: ['漢字'], why: 'script names become Script=' },
    { pattern: '\\p{^L}+', text: 'ab12cd', expect: ['12'], why: '\\p{^X} negates' },
    { pattern: "\\'s|\\#", text: "it's #1", expect: ["'s", '#'], why: 'identity escapes of non-syntax characters' },
    { pattern: '[]a]+', text: 'x]a]y', expect: [']a]'], why: '] first in a class is literal' },
    { pattern: '\\x{263A}', text: 'a☺b', expect: ['☺'], why: '\\x{...} code point' },
    { pattern: 'a(?#note)b', text: 'ab', expect: ['ab'], why: 'comment groups vanish' },
    { pattern: '\\s+(?!\\S)|\\s+', text: 'a   b  ', expect: ['  ', ' ', '  '], why: 'lookahead as in GPT-2 split' },
    { pattern: '\\p{N}{1,3}', text: '1234567', expect: ['123', '456', '7'], why: 'counted repeat' },
    { pattern: '[\\p{L}&&[^\\p{Han}]]+', text: 'ab漢字cd', expect: ['ab', 'cd'], why: '&& intersects with a nested class' },
    { pattern: '[a-z&&[^aeiou]]+', text: 'strength', expect: ['str', 'ngth'], why: '&& binds loosest: (a-z) && [^aeiou]' },
    { pattern: '[^a-z&&[^x]]+', text: 'abxX1', expect: ['xX1'], why: '^ negates the whole intersection' },
    { pattern: '[a[0-9]]+', text: 'a1b22a', expect: ['a1', '22a'], why: 'a nested class is a union' },
    { pattern: '[\\p{Lu}&&[^\\p{Han}]]*x', text: 'ABx', expect: ['ABx'], why: 'a quantifier applies to the whole intersection' },
    { pattern: "(?i:'s|'ll)", text: "'S 'Ll 'ſ 's", expect: ["'S", "'Ll", "'ſ", "'s"], why: '(?i:) uses Unicode simple case folding (ſ folds to s)' },
    { pattern: "a(?i:b)c", text: 'aBc ABC abC', expect: ['aBc'], why: '(?i:) is scoped to its group' },
  ];
  for (const { pattern, text, expect, why } of table) assert.deepEqual(matches(pattern, text), expect, `${pattern}: ${why}`);
});

test('an unsupported construct quoted from a pattern with line breaks stays on one line (found by fuzzing)', () => {
  for (const pattern of ['\\p{\r\nL}', '(?\nx)a']) {
    assert.throws(() => compileOnigRegex(pattern, 'f.json: pre_tokenizer'), (e: Error) => {
      assert.match(e.message, /^f\.json: pre_tokenizer: regex .*: unsupported Oniguruma construct /);
      assert.ok(!/[\r\n]/.test(e.message), JSON.stringify(e.message));
      return true;
    }, JSON.stringify(pattern));
  }
});

test('unsupported constructs throw an error naming the pattern', () => {
  for (const pattern of ['(?i)abc', '\\Gx', '(?i:[a-z])', '(?i:\\p{Lu})', '[a[b]', '(a', 'a)', '[ab', '\\p{NoSuchProperty}', '(a)\\1(?>b)']) {
    assert.throws(() => compileOnigRegex(pattern), (e: Error) => e.message.includes(JSON.stringify(pattern)), pattern);
  }
});

test('classes nested thousands deep fail with a message, not a stack overflow', () => {
  assert.throws(() => compileOnigRegex('['.repeat(5000) + 'a' + ']'.repeat(5000), 'tokenizer.json: pre_tokenizer'),
    /tokenizer\.json: pre_tokenizer: .*character classes nested more than 64 deep/);
  assert.ok(compileOnigRegex('[a[b[c]]]').test('c'), 'shallow nesting still works');
});
