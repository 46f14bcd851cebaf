// Fuzzes the run-log reader (a training run's metrics.jsonl as the dashboard polls it): logs of JSON records,
// garbage, blank, invalid UTF-8 and over-long lines, with or without a final newline, read with small slice caps and
// from arbitrary offsets. Following `next` while `more` must terminate and deliver exactly the complete lines: each
// JSON line as a record, every other non-blank one (and any line longer than a slice) counted as skipped.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fc, fuzz } from '../fuzz/harness.js';
import { scratchDir } from '../fuzz/scratch-dir.js';
import { mutatedBytes } from '../fuzz/mutators.js';
import { readRunLog } from '../../src/server/run-log.js';

const runDir = scratchDir('qiusuo-runlog-fuzz-');
const file = path.join(runDir, 'metrics.jsonl');

const NL = 0x0a;

/** What a reader must deliver for `log` read in slices of `cap` bytes: the model the property compares against. */
function expected(log: Uint8Array, cap: number): { records: unknown[]; skipped: number; end: number } {
  const records: unknown[] = [];
  let skipped = 0;
  let at = 0;
  for (let nl = log.indexOf(NL, at); nl >= 0; at = nl + 1, nl = log.indexOf(NL, at)) {
    const line = Buffer.from(log.subarray(at, nl)).toString('utf8');
    if (nl + 1 - at > cap) { skipped++; continue; }
    if (!line.trim()) continue;
    try { records.push(JSON.parse(line)); } catch { skipped++; }
  }
  return { records, skipped, end: at };
}

function readAll(cap: number): { records: unknown[]; skipped: number; next: number } {
  const records: unknown[] = [];
  let skipped = 0;
  let from = 0;
  for (let calls = 0; ; calls++) {
    assert.ok(calls <= fs.statSync(file).size + 2, 'the reader does not advance');
    const s = readRunLog(runDir, from, cap);
    assert.equal(s.reset, false);
    assert.equal(s.from, from);
    assert.ok(s.next >= from);
    records.push(...s.records);
    skipped += s.skipped;
    from = s.next;
    if (!s.more) return { records, skipped, next: from };
  }
}

const line = fc.oneof(
  fc.record({ step: fc.nat(), loss: fc.double({ noNaN: true, noDefaultInfinity: true }), note: fc.string({ maxLength: 8 }) }).map((r) => Buffer.from(JSON.stringify(r))),
  fc.string({ maxLength: 20 }).map((s) => Buffer.from(s)),
  fc.constantFrom('', '   ', '\r', '{', '[1,2]', 'null', '"x"', '{"a":1}\r').map((s) => Buffer.from(s)),
  fc.uint8Array({ maxLength: 12 }).map((b) => Buffer.from(b.filter((x) => x !== NL))), // invalid UTF-8 and control bytes
  fc.integer({ min: 60, max: 400 }).map((n) => Buffer.from(JSON.stringify({ long: 'x'.repeat(n) }))),
);
const log = fc.tuple(fc.array(line, { maxLength: 12 }), fc.boolean()).map(([lines, finalNewline]) => {
  const joined = Buffer.concat(lines.flatMap((l, i) => (i < lines.length - 1 || finalNewline ? [l, Buffer.of(NL)] : [l])));
  return new Uint8Array(joined);
});
const cap = fc.oneof(fc.integer({ min: 1, max: 80 }), fc.constant(4 << 20));

function wholeLogCase([bytes, sliceCap]: [Uint8Array, number]): void {
  fs.writeFileSync(file, bytes);
  const got = readAll(sliceCap);
  const want = expected(bytes, sliceCap);
  assert.deepEqual(got.records, want.records);
  assert.equal(got.skipped, want.skipped);
  assert.equal(got.next, want.end);
}

test('run log: whole logs read in slices deliver every complete line once', async () => {
  await fuzz('run log (whole logs)', fc.tuple(log, cap), wholeLogCase);
});

test('run log: mutated logs and arbitrary offsets (mid-line, past the end)', async () => {
  const valid = Buffer.from(Array.from({ length: 6 }, (_, i) => JSON.stringify({ step: i, loss: 1 / (i + 1) })).join('\n') + '\n');
  const cases = fc.tuple(fc.oneof(log, mutatedBytes(valid)), cap, fc.integer({ min: 0, max: 600 }));
  await fuzz('run log (offsets, mutated)', cases, ([bytes, sliceCap, from]) => {
    fs.writeFileSync(file, bytes);
    const s = readRunLog(runDir, from, sliceCap);
    assert.equal(s.reset, from > bytes.length);
    assert.equal(s.from, s.reset ? 0 : from);
    assert.ok(s.next >= s.from && s.next <= bytes.length);
    assert.ok(s.next === s.from || s.next === bytes.length || bytes[s.next - 1] === NL, 'a slice ends at a line end');
    const lines = bytes.subarray(s.from, s.next).filter((b) => b === NL).length;
    assert.ok(s.records.length + s.skipped <= lines);
    wholeLogCase([bytes, sliceCap]);
  });
});
