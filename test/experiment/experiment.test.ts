// `qiusuo experiment --quick`: every suite runs end to end on the tiny preset and writes report.json in the shape
// tools read (exact arm names, every run field, claims), report.md and SVG charts; the arms of a suite differ only in
// their ablated setting (their options, and — where the setting cannot act before the first update — the very same
// first-step loss, i.e. the same initialisation and data order); the base arm trains once for all suites; a stopped
// suite resumes from the arm's checkpoint; `experiment list` names the suites.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { runExperiment, armOptions, type ExperimentEvents } from '../../src/experiment/run.js';
import { Interrupted, readMetrics } from '../../src/experiment/arm.js';
import { QUICK, suites } from '../../src/experiment/suites.js';
import type { TrainEvents } from '../../src/train/trainer.js';
import { qiusuo } from '../cli/run-cli.js';
import { runSetFromSuite } from '../../src/server/run-set.js';

const ARMS: Record<string, string[]> = {
  balance: ['aux-free', 'aux-loss', 'seq-aux', 'none'],
  gamma: ['gamma-1e-4', 'gamma-1e-3', 'gamma-1e-2', 'proportional'],
  mtp: ['mtp', 'no-mtp'],
  precision: ['f32', 'bf16', 'fp8', 'fp8-per-tensor', 'fp8-low-acc'],
  'moe-vs-dense': ['moe', 'dense-active', 'dense-total'],
};

const quiet: TrainEvents = { log() {}, warn() {}, start() {}, step() {} };
function events(logs: string[] = [], onArm?: (dir: string) => TrainEvents): ExperimentEvents {
  return { log: (m) => logs.push(m), warn: (m) => logs.push(`warning: ${m}`), arm: (a) => onArm?.(a.dir) ?? quiet };
}

const out = fs.mkdtempSync(path.join(os.tmpdir(), 'qiusuo-experiment-'));
const logs: string[] = [];
const all = runExperiment('all', { out, seeds: 1, quick: true, threads: 1, command: 'qiusuo experiment all --quick' }, events(logs));

test('every suite writes report.json with the exact arm names, every field, and claims', async () => {
  const dirs = await all;
  assert.deepEqual(dirs.map((d) => path.basename(d)), Object.keys(ARMS));
  for (const [suite, arms] of Object.entries(ARMS)) {
    const report = JSON.parse(fs.readFileSync(path.join(out, suite, 'report.json'), 'utf8'));
    assert.equal(report.experiment, suite);
    const equalSteps = report.runs.filter((r: { budget: string }) => r.budget === 'equal-steps');
    assert.deepEqual(equalSteps.map((r: { arm: string }) => r.arm), arms, suite);
    for (const r of report.runs) {
      assert.equal(r.seed, 0);
      for (const k of ['steps', 'tokens', 'val_loss', 'val_bpb', 'tok_s', 'train_seconds']) assert.ok(Number.isFinite(r[k]) && r[k] > 0, `${suite}/${r.arm}: ${k} = ${r[k]}`);
      assert.ok(Array.isArray(r.maxvio_global), `${suite}/${r.arm}: maxvio_global`);
      for (const k of ['specialization', 'mtp_agreement']) assert.ok(r[k] === null || Number.isFinite(r[k]), `${suite}/${r.arm}: ${k} = ${r[k]}`);
    }
    const dense = report.runs.filter((r: { arm: string }) => r.arm.startsWith('dense'));
    for (const r of dense) assert.deepEqual([r.maxvio_global, r.specialization], [[], null], `${r.arm} has no experts`);
    for (const r of report.runs.filter((x: { arm: string }) => !x.arm.startsWith('dense'))) {
      assert.equal(r.maxvio_global.length, 1, `${suite}/${r.arm}: the tiny preset has one MoE layer`);
      assert.ok(r.maxvio_global[0] >= 0);
    }
    assert.ok(report.claims.length >= 2, suite);
    for (const c of report.claims) {
      assert.deepEqual(Object.keys(c).sort(), ['claim', 'holds', 'ours', 'paper']);
      assert.ok([true, false, null].includes(c.holds));
      assert.ok(c.claim && c.paper && c.ours);
    }
    const md = fs.readFileSync(path.join(out, suite, 'report.md'), 'utf8');
    assert.match(md, /\| claim \| paper \| ours \| at this scale \|/);
    for (const c of report.claims) assert.ok(md.includes(c.claim), `${suite}: report.md lacks "${c.claim}"`);
    const svgs = fs.readdirSync(path.join(out, suite)).filter((f) => f.endsWith('.svg'));
    assert.ok(svgs.length >= 1, `${suite}: no chart`);
    for (const f of svgs) {
      assert.match(fs.readFileSync(path.join(out, suite, f), 'utf8'), /^<svg/, `${suite}/${f}`);
      assert.ok(md.includes(`](${f})`), `${suite}: report.md does not show ${f}`);
    }
  }
  const balance = JSON.parse(fs.readFileSync(path.join(out, 'balance', 'report.json'), 'utf8'));
  const free = balance.runs.find((r: { arm: string }) => r.arm === 'aux-free');
  assert.equal(free.genre_loads.genres.length, 15, 'fifteen Brown genres');
  assert.ok(Number.isFinite(free.specialization) && free.specialization >= 0);
  const mtp = JSON.parse(fs.readFileSync(path.join(out, 'mtp', 'report.json'), 'utf8'));
  assert.ok(Number.isFinite(mtp.runs.find((r: { arm: string }) => r.arm === 'mtp').mtp_agreement));
  assert.equal(mtp.runs.find((r: { arm: string }) => r.arm === 'no-mtp').mtp_agreement, null);
  const moe = JSON.parse(fs.readFileSync(path.join(out, 'moe-vs-dense', 'report.json'), 'utf8'));
  assert.deepEqual(moe.runs.filter((r: { budget: string }) => r.budget === 'equal-time').map((r: { arm: string }) => r.arm), ['dense-active', 'dense-total']);
});

test('the arms of a suite differ only in their setting: options, and the same first-step loss where the setting acts later', async () => {
  await all;
  for (const suite of suites(QUICK)) {
    const runs: { arm: string; dir: string; budget: string }[] = JSON.parse(fs.readFileSync(path.join(out, suite.name, 'suite.json'), 'utf8')).runs;
    const base = armOptions(QUICK, {}, 0, QUICK.steps, 1);
    for (const run of runs.filter((r) => r.budget === 'equal-steps')) {
      const saved = JSON.parse(fs.readFileSync(path.join(out, suite.name, run.dir, 'arm.json'), 'utf8')).options;
      const change = suite.arms.find((a) => a.arm === run.arm)!.change;
      const differing = Object.keys(saved).filter((k) => JSON.stringify(saved[k]) !== JSON.stringify((base as Record<string, unknown>)[k])).sort();
      const declared = Object.keys(change).filter((k) => JSON.stringify((change as Record<string, unknown>)[k]) !== JSON.stringify((base as Record<string, unknown>)[k])).sort();
      assert.deepEqual(differing, declared, `${suite.name}/${run.arm}`);
    }
    // Balance losses, the bias update and the MTP module act after (or beside) the main forward pass of step 1.
    if (['balance', 'gamma', 'mtp'].includes(suite.name)) {
      const first = runs.map((r) => readMetrics(path.join(out, suite.name, r.dir))[0]!.ce);
      assert.ok(first.every((x) => x === first[0]), `${suite.name}: first-step losses ${first.join(', ')}`);
      const last = runs.map((r) => readMetrics(path.join(out, suite.name, r.dir)).at(-1)!.ce);
      assert.ok(new Set(last).size > 1, `${suite.name}: every arm ended at the same loss ${last[0]}: the setting changed nothing`);
    }
  }
});

test('the dashboard reads every suite\'s suite.json: each run under its label, in its arm\'s folder', async () => {
  await all;
  for (const suite of Object.keys(ARMS)) {
    const set = runSetFromSuite(path.join(out, suite));
    const report = JSON.parse(fs.readFileSync(path.join(out, suite, 'report.json'), 'utf8'));
    assert.equal(set.runs.length, report.runs.length, suite);
    set.runs.forEach((r, i) => assert.ok(fs.existsSync(path.join(r.dir, 'metrics.jsonl')), `${suite}: ${r.label}`));
  }
});

test('the base arm trains once for the five suites', async () => {
  await all;
  const baseArm: Record<string, string> = { balance: 'aux-free', gamma: 'gamma-1e-2', mtp: 'mtp', precision: 'f32', 'moe-vs-dense': 'moe' };
  const dirs = Object.entries(baseArm).map(([s, arm]) => JSON.parse(fs.readFileSync(path.join(out, s, 'suite.json'), 'utf8')).runs.find((r: { arm: string }) => r.arm === arm).dir as string);
  assert.equal(new Set(dirs.map((d) => path.basename(d))).size, 1, dirs.join(', '));
  assert.equal(logs.filter((l) => / aux-free · seed 0 done/.test(l)).length, 1);
  assert.equal(logs.filter((l) => /(gamma-1e-2|mtp|f32|moe) · seed 0 already done/.test(l)).length, 4, logs.join('\n'));
});

test('a stopped suite resumes from the arm\'s checkpoint; finished arms are reused', async () => {
  await all;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'qiusuo-experiment-resume-'));
  const controller = new AbortController();
  const o = { out: dir, seeds: 1, quick: true, threads: 1, steps: 4, command: 'test' };
  const stopAt2: (d: string) => TrainEvents = () => ({ ...quiet, step: (m) => { if (m.step === 2) controller.abort(); } });
  await assert.rejects(runExperiment('mtp', o, events([], stopAt2), controller.signal), Interrupted);
  const resumed: string[] = [];
  const seen: number[] = [];
  await runExperiment('mtp', o, events(resumed, () => ({ ...quiet, start: (i) => seen.push(i.startStep) })));
  assert.deepEqual(seen, [2, 0], 'the stopped arm resumed at step 2; the next one started fresh');
  const again: string[] = [];
  await runExperiment('mtp', o, events(again));
  assert.equal(again.filter((l) => /already done/.test(l)).length, 2);
  const report = JSON.parse(fs.readFileSync(path.join(dir, 'mtp', 'report.json'), 'utf8'));
  assert.deepEqual(report.runs.map((r: { steps: number }) => r.steps), [4, 4]);
});

test('experiment list names the suites with their estimates; an unknown suite is refused with the list', async () => {
  const r = await qiusuo(['experiment', 'list']);
  assert.equal(r.code, 0, r.stderr);
  for (const s of Object.keys(ARMS)) assert.match(r.stdout, new RegExp(`^${s} +~\\d+ (s|min)`, 'm'));
  assert.match(r.stdout, /^all +~\d+ min/m);
  const bad = await qiusuo(['experiment', 'balanse', '--quick']);
  assert.notEqual(bad.code, 0);
  assert.match(bad.stderr, /unknown experiment "balanse"; the suites are balance, gamma, mtp, precision, moe-vs-dense/);
});
