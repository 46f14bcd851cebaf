// Makes sure the browser tests (test/web/) have a Chromium before `npm test` runs them: QIUSUO_CHROMIUM or Debian's
// /usr/bin/chromium if present; otherwise Debian's package is installed with apt-get when this user may (root, or
// password-less sudo), saying so in one line. Where it can't, it names the one command to run and fails.
// Leaves out other browsers: playwright's own downloads come from outside the npm registry.

import { appendFileSync, existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';

export const DEBIAN_CHROMIUM = '/usr/bin/chromium';
const INSTALL_COMMAND = 'sudo apt-get install chromium';

function succeeds(cmd, args, env) {
  return spawnSync(cmd, args, { stdio: 'ignore', env }).status === 0;
}

/** How this user can run apt-get: [] as root, ['sudo', '-n'] with password-less sudo, null when it can't. */
function aptPrefix(env) {
  if (!succeeds('sh', ['-c', 'command -v apt-get'], env)) return null;
  if (process.getuid?.() === 0) return [];
  return succeeds('sh', ['-c', 'sudo -n true'], env) ? ['sudo', '-n'] : null;
}

/**
 * Returns the Chromium path the browser tests will use, installing Debian's package if needed and allowed.
 * `debianPath` and `env` are parameters so that the test can ask about a machine without Chromium or apt-get.
 */
export function ensureChromium({ debianPath = DEBIAN_CHROMIUM, env: baseEnv = process.env } = {}) {
  const chosen = baseEnv.QIUSUO_CHROMIUM;
  if (chosen !== undefined) {
    if (existsSync(chosen)) return chosen;
    throw new Error(`QIUSUO_CHROMIUM=${chosen} does not exist; unset it to use Debian's Chromium (${INSTALL_COMMAND})`);
  }
  if (existsSync(debianPath)) return debianPath;
  const prefix = aptPrefix(baseEnv);
  if (prefix === null) {
    throw new Error(`the browser tests need Chromium and this user cannot install it: run \`${INSTALL_COMMAND}\` once, then npm test again`);
  }
  console.log(`npm test: ${debianPath} is missing, installing Debian's chromium for the browser tests (apt-get install chromium, a minute or two, once)`);
  const log = join(mkdtempSync(join(tmpdir(), 'qiusuo-apt-')), 'apt.log');
  const env = { ...baseEnv, DEBIAN_FRONTEND: 'noninteractive' };
  // Waits for another apt/dpkg holding the lock instead of failing at once.
  const lock = ['-o', 'DPkg::Lock::Timeout=300'];
  for (const args of [['update', '-qq', ...lock], ['install', '-y', '-qq', ...lock, 'chromium']]) {
    const [cmd, ...rest] = [...prefix, 'apt-get', ...args];
    const r = spawnSync(cmd, rest, { env, encoding: 'utf8', maxBuffer: 64 << 20 });
    appendFileSync(log, `$ ${[cmd, ...rest].join(' ')}\n${r.stdout ?? ''}${r.stderr ?? ''}`);
    if (r.status !== 0) {
      throw new Error(`apt-get ${args[0]} failed (exit ${r.status ?? r.signal}; output in ${log}): run \`${INSTALL_COMMAND}\` yourself, then npm test again`);
    }
  }
  if (!existsSync(debianPath)) throw new Error(`apt-get installed chromium but ${debianPath} is still missing (log: ${log})`);
  return debianPath;
}
