// Which runs a dashboard shows: --run folders (labels by name, by the path given when names repeat, a folder given
// twice refused) and an experiment's suite.json, whose every malformed field is an error naming the file and field.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { runSetFromDirs, runSetFromSuite } from '../../src/server/run-set.js';

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'qiusuo-runset-'));
after(() => fs.rmSync(root, { recursive: true, force: true }));

function folder(...parts: string[]): string {
  const dir = path.join(root, ...parts);
  fs.mkdirSync(dir, { recursive: true });
  return dir;
}

/** A suite folder holding `suite` (an object is written as JSON, a string as it is). */
function suite(name: string, content: unknown): string {
  const dir = folder('suites', name);
  fs.writeFileSync(path.join(dir, 'suite.json'), typeof content === 'string' ? content : JSON.stringify(content));
  return dir;
}

const run = (over: Record<string, unknown> = {}): Record<string, unknown> => ({ arm: 'aux-free', seed: 0, label: 'aux-free · seed 0', dir: '../../arms/a', ...over });

test('--run folders: labelled by name; a repeated name is labelled by its path; the same folder twice is refused', () => {
  const a = folder('x', 'run'), b = folder('y', 'run'), c = folder('other');
  assert.deepEqual(runSetFromDirs([a]), { experiment: null, runs: [{ label: 'run', dir: a }] });
  assert.deepEqual(runSetFromDirs([a, b, c]).runs.map((r) => r.label), [a, b, 'other']);
  assert.throws(() => runSetFromDirs([c, path.join(root, 'x', '..', 'other')]), /--run .*other: the same folder as --run .*other; give each run once/);
  assert.throws(() => runSetFromDirs([a, path.join(root, 'nope')]), /--run .*nope: no such folder/);
});

test('suite.json: runs resolved against the suite folder; a run whose folder does not exist yet is kept (shown waiting)', () => {
  const a = folder('arms', 'a');
  const dir = suite('good', { experiment: 'balance', note: 'extra keys are the writer\'s business', runs: [run(), run({ arm: 'none', seed: 3, label: 'none · seed 3', dir: '../../arms/later' })] });
  assert.deepEqual(runSetFromSuite(dir), { experiment: 'balance', runs: [
    { label: 'aux-free · seed 0', dir: a, arm: 'aux-free', seed: 0 },
    { label: 'none · seed 3', dir: path.join(root, 'arms', 'later'), arm: 'none', seed: 3 },
  ] });
});

test('a malformed suite.json is an error naming the file and the field', () => {
  fs.writeFileSync(path.join(folder('arms'), 'file'), '');
  const cases: [string, unknown, RegExp][] = [
    ['not-json', '{"experiment": "balance", ', /suite\.json: not valid JSON/],
    ['array', [], /suite\.json: must hold a JSON object/],
    ['no-name', { runs: [run()] }, /suite\.json: experiment must be a non-empty string, got nothing/],
    ['no-runs', { experiment: 'balance', runs: [] }, /suite\.json: "runs" must be a non-empty array/],
    ['run-not-object', { experiment: 'balance', runs: [run(), 7] }, /suite\.json: runs\[1\] must be an object/],
    ['arm', { experiment: 'balance', runs: [run({ arm: '' })] }, /suite\.json: runs\[0\]\.arm must be a non-empty string, got ""/],
    ['seed', { experiment: 'balance', runs: [run(), run({ label: 'b', seed: 1.5 })] }, /suite\.json: runs\[1\]\.seed must be a non-negative integer, got 1\.5/],
    ['seed-string', { experiment: 'balance', runs: [run({ seed: '0' })] }, /suite\.json: runs\[0\]\.seed must be a non-negative integer, got "0"/],
    ['label', { experiment: 'balance', runs: [run({ label: 3 })] }, /suite\.json: runs\[0\]\.label must be a non-empty string, got 3/],
    ['label-twice', { experiment: 'balance', runs: [run(), run({ seed: 1 })] }, /suite\.json: runs\[1\]\.label "aux-free · seed 0" repeats runs\[0\]\.label/],
    ['dir', { experiment: 'balance', runs: [run({ dir: undefined })] }, /suite\.json: runs\[0\]\.dir must be a non-empty string, got nothing/],
    ['dir-file', { experiment: 'balance', runs: [run({ dir: '../../arms/file' })] }, /suite\.json: runs\[0\]\.dir "\.\.\/\.\.\/arms\/file" \(.*file\) is not a folder/],
  ];
  for (const [name, content, message] of cases) {
    const dir = suite(name, content);
    assert.throws(() => runSetFromSuite(dir), (e: Error) => {
      assert.match(e.message, message, name);
      assert.ok(e.message.startsWith(path.join(dir, 'suite.json')), `${name}: names the file: ${e.message}`);
      return true;
    });
  }
});

test('a folder without suite.json: the error says so, and names the experiments below it', () => {
  const out = folder('out');
  assert.throws(() => runSetFromSuite(out), /--experiment .*out: no suite\.json there \(give the folder of one experiment\)$/);
  suite('../out/balance', { experiment: 'balance', runs: [run()] });
  suite('../out/gamma', { experiment: 'gamma', runs: [run()] });
  assert.throws(() => runSetFromSuite(out), /no suite\.json there \(give the folder of one experiment; .*out\/balance, .*out\/gamma are one\)$/);
  assert.throws(() => runSetFromSuite(path.join(root, 'missing')), /--experiment .*missing: no suite\.json there/);
});
