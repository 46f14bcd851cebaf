// `qiusuo dashboard` with several runs: --run repeated and --experiment start the compare view and say what they
// show; a bad suite.json, both flags, or neither fail with one line naming what is wrong.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { startServer, type ServerProcess } from './server-process.js';
import { qiusuo, assertCliError } from './run-cli.js';

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'qiusuo-dash-cli-'));
after(() => fs.rmSync(root, { recursive: true, force: true }));

const a = path.join(root, 'a'), b = path.join(root, 'b'), suiteDir = path.join(root, 'balance');
for (const dir of [a, b, suiteDir]) fs.mkdirSync(dir);

async function stop(s: ServerProcess): Promise<void> {
  s.child.kill('SIGTERM');
  assert.equal(await s.exit, 0, s.stderr());
}

async function labels(s: ServerProcess): Promise<string[]> {
  const listed = await (await fetch(`${s.base}/api/runs`)).json() as { runs: { label: string }[] };
  return listed.runs.map((r) => r.label);
}

test('--run twice and --experiment each serve their runs under their labels', async () => {
  const two = await startServer(['dashboard', '--run', a, '--run', b, '--port', '0']);
  try {
    assert.deepEqual(await labels(two), ['a', 'b']);
  } finally { await stop(two); }

  fs.writeFileSync(path.join(suiteDir, 'suite.json'), JSON.stringify({ experiment: 'balance', runs: [
    { arm: 'aux-free', seed: 0, label: 'aux-free · seed 0', dir: '../a' }, { arm: 'none', seed: 0, label: 'none · seed 0', dir: '../b' }] }));
  const suite = await startServer(['dashboard', '--experiment', suiteDir, '--port', '0']);
  try {
    assert.deepEqual(await labels(suite), ['aux-free · seed 0', 'none · seed 0']);
    assert.equal((await fetch(`${suite.base}/api/runs/2/metrics`)).status, 404);
  } finally { await stop(suite); }
});

test('a bad suite.json, --run with --experiment, or neither: one error line', async () => {
  const bad = path.join(root, 'bad');
  fs.mkdirSync(bad);
  fs.writeFileSync(path.join(bad, 'suite.json'), JSON.stringify({ experiment: 'balance', runs: [{ arm: 'x', seed: -1, label: 'x', dir: '../a' }] }));
  assertCliError(await qiusuo(['dashboard', '--experiment', bad, '--port', '0']), /bad\/suite\.json: runs\[0\]\.seed must be a non-negative integer, got -1/, 'bad seed');
  assertCliError(await qiusuo(['dashboard', '--experiment', root, '--port', '0']), /--experiment .*: no suite\.json there \(give the folder of one experiment; .*bad, .*balance are one\)/, 'a folder of experiments');
  assertCliError(await qiusuo(['dashboard', '--run', a, '--experiment', suiteDir]), /give --run or --experiment, not both/, 'both');
  assertCliError(await qiusuo(['dashboard']), /give --run DIR \(repeat it to compare runs\) or --experiment DIR/, 'neither');
  assertCliError(await qiusuo(['dashboard', '--run', a, '--run', path.join(root, 'a', '.')]), /--run .*: the same folder as --run .*a; give each run once/, 'a run twice');
});
