// Runs every test/**/*.test.ts with node:test through tsx (Node 20's --test takes no globs), or the files named on
// the command line. When the browser tests are among them, a Chromium is made available first (ensure-chromium.mjs).
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { ensureChromium } from './ensure-chromium.mjs';

function find(dir) {
  return readdirSync(dir).sort().flatMap((name) => {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) return find(p);
    return p.endsWith('.test.ts') ? [p] : [];
  });
}

const files = process.argv.length > 2 ? process.argv.slice(2) : find('test');
const env = { ...process.env };
if (files.some((f) => f.split(/[\\/]/).includes('web'))) {
  try {
    env.QIUSUO_CHROMIUM = ensureChromium();
  } catch (e) {
    console.error(`npm test: ${e.message}`);
    process.exit(1);
  }
}
// A test that hangs fails after 5 minutes instead of holding CI; the runner exits when the tests are done even if
// some handle would keep a process alive.
const r = spawnSync(process.execPath, ['--import', 'tsx', '--test', '--test-timeout=300000', '--test-force-exit', ...files], { stdio: 'inherit', env });
process.exit(r.status ?? 1);
