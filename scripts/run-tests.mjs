// Runs every test/**/*.test.ts with node:test through tsx (Node 20's --test takes no globs).
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';

function find(dir) {
  return readdirSync(dir).sort().flatMap((name) => {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) return find(p);
    return p.endsWith('.test.ts') ? [p] : [];
  });
}

const files = process.argv.length > 2 ? process.argv.slice(2) : find('test');
// A test that hangs fails after 5 minutes instead of holding CI; the runner exits when the tests are done even if
// some handle would keep a process alive.
const r = spawnSync(process.execPath, ['--import', 'tsx', '--test', '--test-timeout=300000', '--test-force-exit', ...files], { stdio: 'inherit' });
process.exit(r.status ?? 1);
