// How `npm test` finds a browser for test/web/: an explicit QIUSUO_CHROMIUM, Debian's Chromium, or a one-line
// failure that names the command to run where this user cannot install it. (The apt-get install itself is run by
// npm test on a machine without Chromium; here it would change the machine, so it is not exercised.)

import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
// @ts-expect-error: a plain .mjs build script without type declarations
import { ensureChromium } from '../../scripts/ensure-chromium.mjs';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'qiusuo-chromium-'));
const present = path.join(dir, 'chromium');
fs.writeFileSync(present, '');
const absent = path.join(dir, 'no-chromium');
/** A PATH with the shell and coreutils but neither apt-get nor sudo. */
const bareBin = fs.mkdtempSync(path.join(os.tmpdir(), 'qiusuo-bin-'));
fs.symlinkSync('/bin/sh', path.join(bareBin, 'sh'));
const noApt = { PATH: bareBin };

test.after(() => { fs.rmSync(dir, { recursive: true, force: true }); fs.rmSync(bareBin, { recursive: true, force: true }); });

test('QIUSUO_CHROMIUM wins when it exists, and a wrong one is named', () => {
  assert.equal(ensureChromium({ debianPath: absent, env: { ...noApt, QIUSUO_CHROMIUM: present } }), present);
  assert.throws(() => ensureChromium({ debianPath: present, env: { ...noApt, QIUSUO_CHROMIUM: absent } }),
    (e: Error) => e.message.includes(`QIUSUO_CHROMIUM=${absent} does not exist`));
});

test("Debian's Chromium is used where it is installed", () => {
  assert.equal(ensureChromium({ debianPath: present, env: noApt }), present);
});

test('without Chromium and without apt-get the run fails with the one command to run', () => {
  assert.throws(() => ensureChromium({ debianPath: absent, env: noApt }),
    (e: Error) => !e.message.includes('\n') && /this user cannot install it: run `sudo apt-get install chromium` once/.test(e.message));
});
