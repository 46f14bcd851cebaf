// Runs every test/**/*.test.ts with node:test through tsx (Node 20's --test takes no globs), or the files named on
// the command line. When the browser tests are among them, a Chromium is made available first (ensure-chromium.mjs);
// when the llama.cpp cross-checks are, node-llama-cpp (ensure-llamacpp.mjs), whose folder they get as QIUSUO_LLAMACPP.
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { ensureChromium } from './ensure-chromium.mjs';
import { ensureLlamaCpp } from './ensure-llamacpp.mjs';

function find(dir) {
  return readdirSync(dir).sort().flatMap((name) => {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) return find(p);
    return p.endsWith('.test.ts') ? [p] : [];
  });
}

const files = process.argv.length > 2 ? process.argv.slice(2) : find('test');
const env = { ...process.env };
const needs = (folder) => files.some((f) => f.split(/[\\/]/).includes(folder));
try {
  if (needs('web')) env.QIUSUO_CHROMIUM = ensureChromium();
  if (needs('llamacpp')) env.QIUSUO_LLAMACPP = ensureLlamaCpp();
} catch (e) {
  console.error(`npm test: ${e.message}`);
  process.exit(1);
}
// A test that hangs fails after 5 minutes instead of holding CI; the runner exits when the tests are done even if
// some handle would keep a process alive.
const r = spawnSync(process.execPath, ['--import', 'tsx', '--test', '--test-timeout=300000', '--test-force-exit', ...files], { stdio: 'inherit', env });
process.exit(r.status ?? 1);
