// How `npm test` gets node-llama-cpp for test/llamacpp/: the pinned install in the peer folder is used as it is; a
// missing or other version is installed with npm ci, one process at a time, or the run fails with the command to run.
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

/** Writes the package.json files an install leaves, at `version`. */
function fakeInstall(dir: string, version: string): void {
  for (const name of ['node-llama-cpp', '@node-llama-cpp/linux-x64']) {
    fs.mkdirSync(path.join(dir, 'node_modules', name), { recursive: true });
    fs.writeFileSync(path.join(dir, 'node_modules', name, 'package.json'), JSON.stringify({ name, version }));
  }
}

const installError = (e: Error) => !e.message.includes('\n')
  && e.message.includes(`installing node-llama-cpp@${NODE_LLAMA_CPP_VERSION} failed (npm is not on PATH;`)
  && e.message.includes('run `npm --prefix bench/peers/llamacpp ci --omit=optional --ignore-scripts --no-audit --no-fund` yourself');

test('the pinned install is used as it is, without npm', () => {
  const dir = freshPeer();
  fakeInstall(dir, NODE_LLAMA_CPP_VERSION);
  assert.equal(ensureLlamaCpp({ peerDir: dir, env: noNpm }), path.join(dir, 'node_modules', 'node-llama-cpp'));
});

test('nothing installed and no npm: one line naming the command to run, and the lock is released', () => {
  const dir = freshPeer();
  assert.throws(() => ensureLlamaCpp({ peerDir: dir, env: noNpm }), installError);
  assert.equal(fs.existsSync(path.join(dir, '.install-lock')), false);
});

test('another version installed is reinstalled, not used', () => {
  const dir = freshPeer();
  fakeInstall(dir, '3.20.0');
  assert.throws(() => ensureLlamaCpp({ peerDir: dir, env: noNpm }), installError);
});

test('a lock left by a dead install (older than 10 minutes) is taken over', () => {
  const dir = freshPeer();
  const lock = path.join(dir, '.install-lock');
  fs.mkdirSync(lock);
  const old = new Date(Date.now() - 11 * 60_000);
  fs.utimesSync(lock, old, old);
  assert.throws(() => ensureLlamaCpp({ peerDir: dir, env: noNpm }), installError);
});

test('while another process installs, it waits for that install instead of starting its own', async () => {
  const dir = freshPeer();
  const lock = path.join(dir, '.install-lock');
  fs.mkdirSync(lock);
  // The "other process": finishes its install after a second and releases the lock.
  const other = spawn(process.execPath, ['-e', `setTimeout(() => {
    const fs = require('node:fs'), path = require('node:path');
    for (const name of ['node-llama-cpp', '@node-llama-cpp/linux-x64']) {
      fs.mkdirSync(path.join(${JSON.stringify(dir)}, 'node_modules', name), { recursive: true });
      fs.writeFileSync(path.join(${JSON.stringify(dir)}, 'node_modules', name, 'package.json'), JSON.stringify({ name, version: ${JSON.stringify(NODE_LLAMA_CPP_VERSION)} }));
    }
    fs.rmdirSync(${JSON.stringify(lock)});
  }, 1000)`]);
  const exited = new Promise((resolve) => other.on('exit', resolve));
  await new Promise((resolve) => other.on('spawn', resolve));
  assert.equal(ensureLlamaCpp({ peerDir: dir, env: noNpm }), path.join(dir, 'node_modules', 'node-llama-cpp'));
  assert.equal(await exited, 0);
});
