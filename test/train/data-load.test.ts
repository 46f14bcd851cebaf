// Loading documents from a path: a text file, a folder (recursive, sorted, .txt/.md only), a .jsonl file; and
// the bad inputs: empty, binary and invalid UTF-8 files (skipped with a warning), JSONL lines without "text",
// a folder with nothing usable, a missing path. Fixtures are written by the test into a temp folder.
// Leaves out: the Brown corpus (data-brown.test.ts).

import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadDocuments } from '../../src/train/data.js';

const root = mkdtempSync(join(tmpdir(), 'qiusuo-data-'));
after(() => rmSync(root, { recursive: true, force: true }));
/** Writes a fixture file under root and returns its path. */
function fixture(rel: string, content: string | Uint8Array): string {
  const p = join(root, rel);
  mkdirSync(join(p, '..'), { recursive: true });
  writeFileSync(p, content);
  return p;
}
const BINARY = Uint8Array.from([0x89, 0x50, 0x4e, 0x47, 0x00, 0x01, 0x02, 0x03]);
const BAD_UTF8 = Uint8Array.from([0x68, 0x69, 0x20, 0xc3, 0x28, 0x21]); // "hi " then a broken 2-byte sequence

/** loadDocuments collecting warnings. */
function load(path: string): { documents: string[]; warnings: string[] } {
  const warnings: string[] = [];
  const { documents } = loadDocuments(path, { onWarning: (m) => warnings.push(m) });
  return { documents, warnings };
}

test('a text file is one document, kept whole', () => {
  const text = 'First paragraph.\n\nSecond, with ünïcödé — and 数字 123.\n';
  const p = fixture('one.txt', text);
  const r = loadDocuments(p);
  assert.deepEqual(r.documents, [text]);
  assert.equal(r.source, p);
});

test('a folder: every .txt/.md file below it, sorted by path, other files ignored', () => {
  fixture('tree/b.txt', 'B');
  fixture('tree/a.md', 'A');
  fixture('tree/sub/c.txt', 'C');
  fixture('tree/sub/deeper/d.md', 'D');
  fixture('tree/z.json', '{"text": "not read"}');
  fixture('tree/.hidden.txt', 'hidden');
  fixture('tree/empty.txt', ' \n\n ');
  const { documents, warnings } = load(join(root, 'tree'));
  assert.deepEqual(documents, ['A', 'B', 'C', 'D']);
  assert.deepEqual(warnings, []);
});

test('binary and invalid UTF-8 files are skipped with a warning naming them', () => {
  fixture('mixed/good.txt', 'good text');
  const bin = fixture('mixed/image.txt', BINARY);
  const bad = fixture('mixed/latin1.txt', BAD_UTF8);
  const { documents, warnings } = load(join(root, 'mixed'));
  assert.deepEqual(documents, ['good text']);
  assert.equal(warnings.length, 2);
  assert.ok(warnings[0]!.includes(bin) && /binary/.test(warnings[0]!), warnings[0]!);
  assert.ok(warnings[1]!.includes(bad) && /UTF-8/.test(warnings[1]!), warnings[1]!);
});

test('a single invalid UTF-8 or binary file: warning, then a clear error', () => {
  for (const [name, bytes] of [['bad.txt', BAD_UTF8], ['bin.md', BINARY]] as const) {
    const p = fixture(name, bytes);
    const warnings: string[] = [];
    assert.throws(() => loadDocuments(p, { onWarning: (m) => warnings.push(m) }), /no usable training documents \(1 file\(s\) skipped/, name);
    assert.equal(warnings.length, 1, name);
  }
});

test('an empty file and a folder with nothing usable are errors', () => {
  const empty = fixture('empty.txt', '');
  assert.throws(() => loadDocuments(empty), new RegExp(`${empty.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: no usable training documents \\(every document is empty\\)`));
  fixture('useless/a.txt', '\n\n');
  fixture('useless/b.txt', BINARY);
  assert.throws(() => loadDocuments(join(root, 'useless'), { onWarning: () => {} }), /useless: no usable training documents \(1 file\(s\) skipped/);
  fixture('no-text/data.bin', 'x');
  assert.throws(() => loadDocuments(join(root, 'no-text')), /no-text: no \.txt or \.md files in this folder/);
  assert.throws(() => loadDocuments(join(root, 'missing.txt')), /missing\.txt: cannot read training data/);
});

test('JSONL: one document per line with a string "text"; blank lines and empty texts skipped', () => {
  const p = fixture('docs.jsonl', '{"text": "one", "id": 1}\n\n{"text": ""}\n{"text": "two\\nlines"}\n');
  assert.deepEqual(loadDocuments(p).documents, ['one', 'two\nlines']);
});

test('a JSONL syntax error quoting a carriage return stays on one line (found by fuzzing)', () => {
  const p = fixture('cr.jsonl', '{"text":\r x}\n');
  assert.throws(() => loadDocuments(p), (e: Error) => e.message.startsWith(`${p}:1: not valid JSON (`) && !/[\r\n]/.test(e.message));
});

test('JSONL errors name the file and the line', () => {
  const table: { content: string; error: RegExp }[] = [
    { content: '{"text": "ok"}\n{"body": "no text"}\n', error: /bad1\.jsonl:2: expected a JSON object with a string "text" field/ },
    { content: '{"text": "ok"}\n\n{"text": 5}\n', error: /bad2\.jsonl:3: expected a JSON object with a string "text" field/ },
    { content: '["text"]\n', error: /bad3\.jsonl:1: expected a JSON object/ },
    { content: '{"text": "ok"}\n{"text": "unterminated\n', error: /bad4\.jsonl:2: not valid JSON/ },
  ];
  table.forEach(({ content, error }, i) => {
    const p = fixture(`bad${i + 1}.jsonl`, content);
    assert.throws(() => loadDocuments(p), error, content);
  });
});
