// How `npm test` gets node-llama-cpp for test/llamacpp/: the pinned install in the peer folder is used as it is; a
// missing or other version is installed with npm ci, one process at a time, or the run fails with the command to run.
// An install counts once it is finished: marked complete by ensure-llamacpp, or made by hand while no install runs.
// Every case here runs on a PATH without npm, so an install that would start fails instead of touching the network
// (the real install is what run-tests.mjs does before test/llamacpp/ runs).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { spawn } from 'node:child_process';
// @ts-expect-error: a plain .mjs build script without type declarations
import { ensureLlamaCpp, NODE_LLAMA_CPP_VERSION, PEER_DIR } from '../../scripts/ensure-llamacpp.mjs';

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'qiusuo-llamacpp-'));
/** A PATH with the shell but no npm. */
const bareBin = fs.mkdtempSync(path.join(os.tmpdir(), 'qiusuo-bin-'));
fs.symlinkSync('/bin/sh', path.join(bareBin, 'sh'));
const noNpm = { PATH: bareBin };

test.after(() => { fs.rmSync(root, { recursive: true, force: true }); fs.rmSync(bareBin, { recursive: true, force: true }); });

let folders = 0;
/** A fresh copy of the peer folder (package.json and lock, nothing installed). */
function freshPeer(): string {
  const dir = path.join(root, `peer-${folders++}`);
  fs.mkdirSync(dir);
  for (const f of ['package.json', 'package-lock.json']) fs.copyFileSync(path.join(PEER_DIR, f), path.join(dir, f));
  return dir;
}

/** Writes the package.json files an install unpacks, at `version`. */
function unpack(dir: string, version: string): void {
  for (const name of ['node-llama-cpp', '@node-llama-cpp/linux-x64']) {
    fs.mkdirSync(path.join(dir, 'node_modules', name), { recursive: true });
    fs.writeFileSync(path.join(dir, 'node_modules', name, 'package.json'), JSON.stringify({ name, version }));
  }
}
const markComplete = (dir: string) => fs.writeFileSync(path.join(dir, 'node_modules', '.qiusuo-install-complete'), NODE_LLAMA_CPP_VERSION);
const libraryDir = (dir: string) => path.join(dir, 'node_modules', 'node-llama-cpp');

const installError = (e: Error) => !e.message.includes('\n')
  && e.message.includes(`installing node-llama-cpp@${NODE_LLAMA_CPP_VERSION} failed (npm is not on PATH;`)
  && e.message.includes('run `npm --prefix bench/peers/llamacpp ci --omit=optional --ignore-scripts --no-audit --no-fund` yourself');

test('the pinned install is used as it is, without npm: one ensure-llamacpp finished, or one made by hand', () => {
  const ours = freshPeer();
  unpack(ours, NODE_LLAMA_CPP_VERSION);
  markComplete(ours);
  assert.equal(ensureLlamaCpp({ peerDir: ours, env: noNpm }), libraryDir(ours));
  const byHand = freshPeer();
  unpack(byHand, NODE_LLAMA_CPP_VERSION);
  assert.equal(ensureLlamaCpp({ peerDir: byHand, env: noNpm }), libraryDir(byHand));
});

test('nothing installed and no npm: one line naming the command to run, and the lock is released', () => {
  const dir = freshPeer();
  assert.throws(() => ensureLlamaCpp({ peerDir: dir, env: noNpm }), installError);
  assert.equal(fs.existsSync(path.join(dir, '.install-lock')), false);
});

test('another version installed is reinstalled, not used', () => {
  const dir = freshPeer();
  unpack(dir, '3.20.0');
  markComplete(dir);
  assert.throws(() => ensureLlamaCpp({ peerDir: dir, env: noNpm }), installError);
});

test('a lock left by a dead install (older than 10 minutes) is taken over, and its half-unpacked packages reinstalled', () => {
  const dir = freshPeer();
  const lock = path.join(dir, '.install-lock');
  fs.mkdirSync(lock);
  unpack(dir, NODE_LLAMA_CPP_VERSION);
  const old = new Date(Date.now() - 11 * 60_000);
  fs.utimesSync(lock, old, old);
  assert.throws(() => ensureLlamaCpp({ peerDir: dir, env: noNpm }), installError);
});

test('while another process installs, it waits for that install to finish instead of starting its own', async () => {
  const dir = freshPeer();
  const lock = path.join(dir, '.install-lock');
  fs.mkdirSync(lock);
  // The "other process": its npm has unpacked the package.json files already; a second later it marks the install
  // complete and releases the lock.
  unpack(dir, NODE_LLAMA_CPP_VERSION);
  const marker = path.join(dir, 'node_modules', '.qiusuo-install-complete');
  const other = spawn(process.execPath, ['-e', `setTimeout(() => {
    require('node:fs').writeFileSync(${JSON.stringify(marker)}, ${JSON.stringify(NODE_LLAMA_CPP_VERSION)});
    require('node:fs').rmdirSync(${JSON.stringify(lock)});
  }, 1000)`]);
  const exited = new Promise((resolve) => other.on('exit', resolve));
  await new Promise((resolve) => other.on('spawn', resolve));
  assert.equal(ensureLlamaCpp({ peerDir: dir, env: noNpm }), libraryDir(dir));
  assert.ok(fs.existsSync(marker), 'returned before the other install finished');
  assert.equal(await exited, 0);
});

test('an npm ci that fails halfway leaves no packages behind that a later run would take as installed', () => {
  const dir = freshPeer();
  // An npm that unpacks the pinned package.json files, then fails (as when the network drops).
  const fakeBin = fs.mkdtempSync(path.join(root, 'bin-'));
  fs.symlinkSync('/bin/sh', path.join(fakeBin, 'sh'));
  const unpackAndFail = ['node-llama-cpp', '@node-llama-cpp/linux-x64'].map((name) => `mkdir -p node_modules/${name} && `
    + `echo '{"version":"${NODE_LLAMA_CPP_VERSION}"}' > node_modules/${name}/package.json`).join(' && ');
  fs.writeFileSync(path.join(fakeBin, 'npm'), `#!/bin/sh\n${unpackAndFail}\nexit 1\n`, { mode: 0o755 });
  const failingNpm = { PATH: `${fakeBin}:/usr/bin:/bin` };
  assert.throws(() => ensureLlamaCpp({ peerDir: dir, env: failingNpm }),
    (e: Error) => e.message.includes(`installing node-llama-cpp@${NODE_LLAMA_CPP_VERSION} failed (exit 1;`));
  assert.equal(fs.existsSync(path.join(dir, 'node_modules')), false);
  assert.throws(() => ensureLlamaCpp({ peerDir: dir, env: noNpm }), installError);
});

test('the prebuilt\'s AMX variant is removed (its matmuls give wrong deepseek2 logits), the other CPU variants kept', () => {
  const dir = freshPeer();
  unpack(dir, NODE_LLAMA_CPP_VERSION);
  const bins = path.join(dir, 'node_modules', '@node-llama-cpp', 'linux-x64', 'bins', 'linux-x64');
  fs.mkdirSync(bins, { recursive: true });
  for (const v of ['sapphirerapids', 'icelake', 'haswell']) fs.writeFileSync(path.join(bins, `libggml-cpu-${v}.so`), '');
  assert.equal(ensureLlamaCpp({ peerDir: dir, env: noNpm }), libraryDir(dir));
  assert.deepEqual(fs.readdirSync(bins).sort(), ['libggml-cpu-haswell.so', 'libggml-cpu-icelake.so']);
});
