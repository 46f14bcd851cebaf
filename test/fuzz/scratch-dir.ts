// A temporary folder for fuzz fixtures, in memory (/dev/shm) where the system has one: on this project's VMs a write
// to the disk-backed tmpdir costs milliseconds, which would cap a 100,000-case run. Removed when the test file ends.
// Not a test file itself.

import { after } from 'node:test';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

/** A fresh folder named `prefix…`, deleted after the calling test file's tests. */
export function scratchDir(prefix: string): string {
  const base = fs.existsSync('/dev/shm') ? '/dev/shm' : os.tmpdir();
  const dir = fs.mkdtempSync(path.join(base, prefix));
  after(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}
