// Reads a training run's metrics.jsonl incrementally for the dashboard: the complete lines from a byte offset on,
// parsed, and the offset to ask from next. A log that shrank (a fresh run truncates it) is read again from 0; a line
// longer than a whole slice is skipped (counted), so it cannot stall the reader.

import * as fs from 'node:fs';
import * as path from 'node:path';
import { ApiError } from './protocol.js';

export interface RunLogSlice {
  run: string;
  from: number;
  next: number;
  reset: boolean;                // the log was restarted: drop what was read before
  more: boolean;                 // the slice stopped at the size cap: ask again at once
  records: unknown[];
  skipped: number;               // complete lines that are not JSON (reported, not fatal)
}

const MAX_SLICE_BYTES = 4 << 20;
const SCAN_CHUNK = 64 << 10;

/** Checks that `runDir` is a folder (its metrics.jsonl may not exist yet: the run has not logged a step). */
export function checkRunDir(runDir: string): void {
  let st: fs.Stats;
  try { st = fs.statSync(runDir); } catch { throw new Error(`--run ${runDir}: no such folder`); }
  if (!st.isDirectory()) throw new Error(`--run ${runDir}: not a folder (give a training run's --out folder)`);
}

/** `maxSliceBytes`: the most bytes one call reads (a smaller cap is for tests of the slicing). */
export function readRunLog(runDir: string, from: number, maxSliceBytes = MAX_SLICE_BYTES): RunLogSlice {
  const run = path.basename(path.resolve(runDir));
  const file = path.join(runDir, 'metrics.jsonl');
  let fd: number;
  try { fd = fs.openSync(file, 'r'); } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return { run, from: 0, next: 0, reset: from > 0, more: false, records: [], skipped: 0 };
    throw new ApiError(500, `${run}/metrics.jsonl cannot be read (${(e as NodeJS.ErrnoException).code})`, 'server_error');
  }
  try {
    const size = fs.fstatSync(fd).size;
    const reset = from > size;
    const start = reset ? 0 : from;
    const buf = Buffer.alloc(Math.min(size - start, maxSliceBytes));
    const n = buf.length > 0 ? fs.readSync(fd, buf, 0, buf.length, start) : 0;
    const end = buf.subarray(0, n).lastIndexOf(0x0a) + 1; // only complete lines; a line being written waits
    if (end === 0 && n === maxSliceBytes) {
      // A whole slice without a line end: a line too long to be a metrics record. Skip past it once it is complete.
      const lineEnd = findNewline(fd, start + n, size);
      const next = lineEnd < 0 ? start : lineEnd + 1;
      return { run, from: start, next, reset, more: lineEnd >= 0 && next < size, records: [], skipped: lineEnd < 0 ? 0 : 1 };
    }
    const records: unknown[] = [];
    let skipped = 0;
    for (const line of buf.subarray(0, end).toString('utf8').split('\n')) {
      if (!line.trim()) continue;
      try { records.push(JSON.parse(line)); } catch { skipped += 1; }
    }
    return { run, from: start, next: start + end, reset, more: end > 0 && start + n < size, records, skipped };
  } finally {
    fs.closeSync(fd);
  }
}

/** Offset of the first "\n" in [position, size) of the file, or -1. */
function findNewline(fd: number, position: number, size: number): number {
  const chunk = Buffer.alloc(SCAN_CHUNK);
  for (let at = position; at < size; ) {
    const n = fs.readSync(fd, chunk, 0, Math.min(SCAN_CHUNK, size - at), at);
    if (n === 0) break;
    const i = chunk.subarray(0, n).indexOf(0x0a);
    if (i >= 0) return at + i;
    at += n;
  }
  return -1;
}
