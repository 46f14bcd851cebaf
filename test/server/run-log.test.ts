// The run-log reader on its own (the /api/run route's tests in http.test.ts cover offsets and restarts through HTTP):
// a line longer than a whole slice must not stall the reader. Found by fuzzing (run-log.fuzz.test.ts).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { readRunLog } from '../../src/server/run-log.js';

test('a line longer than a slice (4 MiB) is skipped once complete, and the lines after it are read', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'qiusuo-runlog-'));
  try {
    const file = path.join(dir, 'metrics.jsonl');
    const long = JSON.stringify({ blob: 'x'.repeat(5 << 20) });
    fs.writeFileSync(file, `{"step":1}\n${long}`);
    const first = readRunLog(dir, 0);
    assert.deepEqual([first.records, first.next, first.more], [[{ step: 1 }], 11, true]);
    const writing = readRunLog(dir, first.next); // the long line has no end yet: wait at its start
    assert.deepEqual([writing.records, writing.skipped, writing.next, writing.more], [[], 0, 11, false]);
    fs.appendFileSync(file, '\n{"step":2}\n');
    const skipped = readRunLog(dir, writing.next);
    assert.deepEqual([skipped.records, skipped.skipped, skipped.next, skipped.more], [[], 1, 11 + long.length + 1, true]);
    const after = readRunLog(dir, skipped.next);
    assert.deepEqual([after.records, after.next, after.more], [[{ step: 2 }], fs.statSync(file).size, false]);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
