// Makes sure the llama.cpp cross-check tests (test/llamacpp/) have node-llama-cpp before `npm test` runs them: the
// pinned version in bench/peers/llamacpp/node_modules, installed there once from the npm registry with `npm ci`.
// Leaves out everything node-llama-cpp would fetch from GitHub: no postinstall runs, and the only binaries are the
// linux-x64 CPU prebuilt that the peer's package.json names (GPU and other-platform packages are omitted).
// The prebuilt's AMX variant (libggml-cpu-sapphirerapids.so) is removed: on a CPU with AMX, ggml picks it, and its AMX
// matmuls give wrong deepseek2 logits for F16/Q8_0/Q4_0 weights (measured here: next-token probabilities off by 6e-2,
// top-1 agreement 2 of 16, against 4e-5 and 16 of 16 with the next variant, AVX-512 without AMX; upstream knows AMX
// garbage for Q4_0, ggml-org/llama.cpp#16315). F32 weights never went through it.

import { appendFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const PEER_DIR = fileURLToPath(new URL('../bench/peers/llamacpp', import.meta.url));
export const NODE_LLAMA_CPP_VERSION = '3.21.1';
/** The packages whose pinned versions make an install complete: the library and its CPU binaries. */
const PINNED_PACKAGES = ['node-llama-cpp', '@node-llama-cpp/linux-x64'];
const NPM_CI_ARGS = ['ci', '--omit=optional', '--ignore-scripts', '--no-audit', '--no-fund'];
const INSTALL_COMMAND = `npm --prefix bench/peers/llamacpp ${NPM_CI_ARGS.join(' ')}`;
/** Written into node_modules once our npm ci succeeded, before the lock is released: package.json files appear while
 *  npm is still unpacking, and npm ci removes node_modules (and so this) when it starts. */
const COMPLETE_MARKER = '.qiusuo-install-complete';
const LOCK = '.install-lock';
/** A lock older than this was left by an install that died (a cold install takes seconds to a minute). */
const STALE_LOCK_MS = 10 * 60_000;
const LOCK_POLL_MS = 500;

function installedVersion(peerDir, name) {
  try {
    return JSON.parse(readFileSync(join(peerDir, 'node_modules', name, 'package.json'), 'utf8')).version;
  } catch {
    return undefined;
  }
}

function pinnedPackagesPresent(peerDir) {
  return PINNED_PACKAGES.every((name) => installedVersion(peerDir, name) === NODE_LLAMA_CPP_VERSION);
}

/**
 * The pinned packages are there and complete: finished by our install (the marker), or, while no install holds the
 * lock, by someone's own npm ci. Under a lock — another process's or one left by a dead install — only the marker says
 * the unpacking is over.
 */
function isInstalled(peerDir) {
  if (!pinnedPackagesPresent(peerDir)) return false;
  return existsSync(join(peerDir, 'node_modules', COMPLETE_MARKER)) || !existsSync(join(peerDir, LOCK));
}

/** ggml's CPU variant that uses AMX: see the header. */
const AMX_VARIANT = 'libggml-cpu-sapphirerapids.so';

/** Removes the AMX variant from the prebuilt, whoever installed it; returns the library's folder. */
function withoutAmx(peerDir) {
  const bins = join(peerDir, 'node_modules', '@node-llama-cpp', 'linux-x64', 'bins');
  for (const build of existsSync(bins) ? readdirSync(bins) : []) rmSync(join(bins, build, AMX_VARIANT), { force: true });
  return join(peerDir, 'node_modules', 'node-llama-cpp');
}

function sleepSync(ms) {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/**
 * Takes the install lock (a directory: mkdir is atomic), waiting while another process holds it. Returns false when
 * that other process finished the install meanwhile, so there is nothing left to do.
 */
function takeLock(lockDir, peerDir) {
  for (;;) {
    try {
      mkdirSync(lockDir);
      return true;
    } catch (e) {
      if (e.code !== 'EEXIST') throw e;
    }
    let age;
    try {
      age = Date.now() - statSync(lockDir).mtimeMs;
    } catch {
      continue; // released between our mkdir and stat: try again
    }
    if (age > STALE_LOCK_MS) {
      rmSync(lockDir, { recursive: true, force: true }); // whatever its dead install left is replaced by ours
      continue;
    }
    sleepSync(LOCK_POLL_MS);
    if (isInstalled(peerDir)) return false;
  }
}

/**
 * Returns the directory of the pinned node-llama-cpp (what QIUSUO_LLAMACPP carries to the tests), installing it into
 * the peer folder first if it is missing or another version. `peerDir` and `env` are parameters so that the test can
 * ask about a fresh folder on a machine without npm.
 */
export function ensureLlamaCpp({ peerDir = PEER_DIR, env = process.env } = {}) {
  if (isInstalled(peerDir)) return withoutAmx(peerDir);
  const lockDir = join(peerDir, LOCK);
  if (!takeLock(lockDir, peerDir)) return withoutAmx(peerDir);
  try {
    if (isInstalled(peerDir)) return withoutAmx(peerDir);
    console.log(`npm test: installing node-llama-cpp@${NODE_LLAMA_CPP_VERSION} (llama.cpp's CPU build, ~56 MB from the npm registry) into bench/peers/llamacpp for the llama.cpp cross-check tests, once`);
    const log = join(mkdtempSync(join(tmpdir(), 'qiusuo-npm-')), 'npm-ci.log');
    const r = spawnSync('npm', NPM_CI_ARGS, { cwd: peerDir, env, encoding: 'utf8', maxBuffer: 64 << 20 });
    appendFileSync(log, `$ npm ${NPM_CI_ARGS.join(' ')}  (in ${peerDir})\n${r.error ?? ''}\n${r.stdout ?? ''}${r.stderr ?? ''}`);
    if (r.error || r.status !== 0) {
      // No half-unpacked packages stay behind, for a later run to take as an install made by hand.
      rmSync(join(peerDir, 'node_modules'), { recursive: true, force: true });
      const why = r.error?.code === 'ENOENT' ? 'npm is not on PATH' : `exit ${r.status ?? r.signal}`;
      throw new Error(`installing node-llama-cpp@${NODE_LLAMA_CPP_VERSION} failed (${why}; output in ${log}): run \`${INSTALL_COMMAND}\` yourself, then npm test again`);
    }
    if (!pinnedPackagesPresent(peerDir)) {
      throw new Error(`npm ci finished but node-llama-cpp@${NODE_LLAMA_CPP_VERSION} is still not in ${join(peerDir, 'node_modules')} (log: ${log})`);
    }
    const libraryDir = withoutAmx(peerDir);
    writeFileSync(join(peerDir, 'node_modules', COMPLETE_MARKER), NODE_LLAMA_CPP_VERSION);
    return libraryDir;
  } finally {
    rmSync(lockDir, { recursive: true, force: true });
  }
}
