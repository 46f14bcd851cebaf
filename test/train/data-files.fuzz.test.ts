// Fuzzes training-data loading (loadDocuments): text files, .jsonl files and folders holding binary bytes, invalid
// UTF-8, NULs, BOMs, CRLF, blank and huge lines, mutated JSONL records and odd file names. What loads must be exactly
// the usable documents (valid UTF-8, no NUL, not blank) in path order, every skipped file must be warned about by
// name, and a failure must be one line naming the path (and, for JSONL, the line).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { assertCleanError, fc, fuzz } from '../fuzz/harness.js';
import { scratchDir } from '../fuzz/scratch-dir.js';
import { mutatedBytes, wrongValue } from '../fuzz/mutators.js';
import { loadDocuments } from '../../src/train/data.js';

const root = scratchDir('qiusuo-data-fuzz-');

/** The text a file contributes, or null if it must be skipped: the test's own statement of the rule. */
function usable(bytes: Uint8Array): string | null {
  if (bytes.includes(0)) return null;
  try { return new TextDecoder('utf-8', { fatal: true }).decode(bytes); } catch { return null; }
}

function load(p: string): { documents: string[]; warnings: string[] } | Error {
  const warnings: string[] = [];
  try {
    return { documents: loadDocuments(p, { onWarning: (w) => warnings.push(w) }).documents, warnings };
  } catch (e) {
    assertCleanError(e, p);
    assert.ok(!(e as Error).message.includes('\r'), `carriage return in ${JSON.stringify((e as Error).message)}`);
    for (const w of warnings) assert.ok(!w.includes('\n') && w.startsWith(p), `warning ${JSON.stringify(w)}`);
    return e;
  }
}

const textBytes = fc.oneof(
  { arbitrary: fc.string({ unit: 'binary', maxLength: 40 }).map((s) => new Uint8Array(Buffer.from(s))), weight: 10 },
  { arbitrary: fc.uint8Array({ maxLength: 40 }), weight: 10 },
  { arbitrary: fc.constantFrom('', '  \n\t ', '\ufeffbom text', 'a\r\nb\r\n', 'x\u0000y').map((s) => new Uint8Array(Buffer.from(s))), weight: 5 },
  { arbitrary: fc.constantFrom(Uint8Array.of(0xc3, 0x28), Uint8Array.of(0xed, 0xa0, 0x80), Uint8Array.of(0xf4, 0x90, 0x80, 0x80), Uint8Array.of(0xef, 0xbb)), weight: 5 },
  { arbitrary: fc.integer({ min: 100_000, max: 2_000_000 }).map((n) => new Uint8Array(Buffer.from('word '.repeat(n / 5)))), weight: 1 }, // one huge line
);

test('training data: a single text file (any bytes)', async () => {
  const p = path.join(root, 'corpus.txt');
  await fuzz('training data (text file)', fc.oneof(textBytes, mutatedBytes(Buffer.from('Hello, wörld.\nSecond line 数字\n'))), (bytes) => {
    fs.writeFileSync(p, bytes);
    const r = load(p);
    const text = usable(bytes);
    if (r instanceof Error) {
      assert.ok(text === null || text.trim() === '', 'a usable, non-blank file was refused');
      return;
    }
    assert.deepEqual(r.documents, [text]);
  });
});

test('training data: .jsonl files (records built from scratch and mutated)', async () => {
  const p = path.join(root, 'corpus.jsonl');
  const record = fc.oneof(
    fc.string({ unit: 'binary', maxLength: 20 }).map((text) => JSON.stringify({ text })),
    fc.record({ text: wrongValue(), meta: fc.option(wrongValue()) }).map((r) => JSON.stringify(r) ?? ''),
    wrongValue().map((v) => JSON.stringify(v) ?? ''),
    fc.constantFrom('', '   ', '{"text": "a"', '{"text": "dup", "text": "last"}', '{"text": "\\ud800"}', '\ufeff{"text":"x"}', '{"text":\r x}'),
  );
  const jsonl = fc.tuple(fc.array(record, { maxLength: 8 }), fc.constantFrom('\n', '\r\n'), fc.boolean())
    .map(([lines, eol, last]) => new Uint8Array(Buffer.from(lines.join(eol) + (last ? eol : ''))));
  const valid = Buffer.from(['{"text": "one"}', '{"text": "two\\nlines", "id": 2}', '', '{"text": "three"}'].join('\n'));
  await fuzz('training data (jsonl)', fc.oneof(jsonl, mutatedBytes(valid)), (bytes) => {
    fs.writeFileSync(p, bytes);
    const r = load(p);
    const text = usable(bytes);
    // The reference: every non-blank line parses to an object with a string "text"; blank texts are dropped.
    const lines = (text ?? '').split('\n').map((l) => l.trim());
    let want: string[] | null = [];
    lines.forEach((l, i) => {
      if (want === null || l === '') return;
      try {
        const o = JSON.parse(l);
        if (typeof o !== 'object' || o === null || Array.isArray(o) || typeof o.text !== 'string') throw new Error('no text');
        want.push(o.text);
      } catch {
        want = null;
        if (r instanceof Error) assert.ok(r.message.startsWith(`${p}:${i + 1}:`), `error does not name line ${i + 1}: ${r.message}`);
      }
    });
    want = text === null ? null : want?.filter((d) => d.trim() !== '') ?? null;
    if (r instanceof Error) assert.ok(want === null || want.length === 0, `refused a file with documents: ${r.message}`);
    else assert.deepEqual(r.documents, want);
  });
});

test('training data: folders of .txt/.md and other files, nested and hidden', async () => {
  const entry = fc.record({
    dir: fc.constantFrom('', 'a', 'a/b', '.hidden', 'B', 'a/.git'),
    name: fc.tuple(fc.constantFrom('x', 'y', 'Z', '.dot', '01', 'é', 'a b'), fc.constantFrom('.txt', '.md', '.TXT', '.jsonl', '', '.txt.bak')).map(([n, e]) => n + e),
    bytes: textBytes,
  });
  let round = 0;
  await fuzz('training data (folder)', fc.uniqueArray(entry, { selector: (e) => `${e.dir}/${e.name}`, maxLength: 6 }), (entries) => {
    const dir = path.join(root, `folder-${round++}`);
    try {
      for (const e of entries) {
        fs.mkdirSync(path.join(dir, e.dir), { recursive: true });
        fs.writeFileSync(path.join(dir, e.dir, e.name), e.bytes);
      }
      fs.mkdirSync(dir, { recursive: true });
      const read = entries
        .filter((e) => !e.name.startsWith('.') && !e.dir.split('/').some((d) => d.startsWith('.')) && /\.(txt|md)$/.test(e.name))
        .map((e) => ({ rel: path.join(e.dir, e.name), text: usable(e.bytes) }))
        .sort((a, b) => (a.rel < b.rel ? -1 : a.rel > b.rel ? 1 : 0));
      const want = read.map((f) => f.text).filter((t): t is string => t !== null && t.trim() !== '');
      const r = load(dir);
      if (r instanceof Error) {
        assert.equal(want.length, 0, `refused a folder with documents: ${r.message}`);
        return;
      }
      assert.deepEqual(r.documents, want);
      const skipped = read.filter((f) => f.text === null);
      assert.equal(r.warnings.length, skipped.length);
      skipped.forEach((f, i) => assert.ok(r.warnings[i]!.startsWith(path.join(dir, f.rel)) && !r.warnings[i]!.includes('\n')));
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
