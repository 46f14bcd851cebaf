// The whole default experiment set, one seed: `qiusuo experiment` for each of the five suites in turn in one output
// folder (so the base arm trains once), timing each suite — the target is 60 minutes in all on 2 cores — and each
// arm's tokens/s. Copies the reports (report.md, report.json, charts; not the arms' checkpoints) to docs/experiments/,
// where the README's claims table comes from, and writes bench/results/experiments.json.
//   node --import tsx bench/experiments.ts [--out bench/out/experiments] [--steps N] [--fresh]

import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { runExperiment } from '../src/experiment/run.js';
import { suites, FULL } from '../src/experiment/suites.js';
import type { TrainEvents } from '../src/train/trainer.js';
import { stealMeter } from './steal.js';

const { values: args } = parseArgs({ options: { out: { type: 'string', default: 'bench/out/experiments' }, steps: { type: 'string' }, fresh: { type: 'boolean' } } });
const out = args.out!;
if (args.fresh) fs.rmSync(out, { recursive: true, force: true });
const steps = args.steps ? Number(args.steps) : undefined;

const quiet: TrainEvents = { log() {}, warn: (m) => console.warn(`warning: ${m}`), start() {}, step() {} };
const steal = stealMeter();
const rows: { suite: string; seconds: number; arms: { arm: string; budget: string; steps: number; tok_s: number; train_seconds: number; reused: boolean }[] }[] = [];
const started = performance.now();
for (const s of suites(FULL)) {
  const t0 = performance.now();
  const logs: string[] = [];
  await runExperiment(s.name, { out, steps, seeds: 1, quick: false, command: `qiusuo experiment ${s.name} --out ${out}${steps ? ` --steps ${steps}` : ''}` }, {
    log: (m) => { logs.push(m); console.log(m); }, warn: (m) => console.warn(`warning: ${m}`), arm: () => quiet,
  });
  const report = JSON.parse(fs.readFileSync(path.join(out, s.name, 'report.json'), 'utf8'));
  rows.push({
    suite: s.name, seconds: (performance.now() - t0) / 1000,
    arms: report.runs.map((r: { arm: string; budget: string; steps: number; tok_s: number; train_seconds: number }) => ({
      arm: r.arm, budget: r.budget, steps: r.steps, tok_s: r.tok_s, train_seconds: r.train_seconds,
      reused: logs.some((l) => l.includes(`${r.arm}${r.budget === 'equal-time' ? ' (equal time)' : ''} · seed 0 already done`)),
    })),
  });
  const docs = path.join('docs', 'experiments', s.name);
  fs.rmSync(docs, { recursive: true, force: true });
  fs.mkdirSync(docs, { recursive: true });
  for (const f of fs.readdirSync(path.join(out, s.name))) if (/\.(md|json|svg)$/.test(f) && f !== 'suite.json') fs.copyFileSync(path.join(out, s.name, f), path.join(docs, f));
}
const total = (performance.now() - started) / 1000;
fs.writeFileSync('bench/results/experiments.json', JSON.stringify({
  machine: os.cpus()[0]?.model.trim(), cores: os.cpus().length, node: process.version, date: new Date().toISOString(),
  stealPercent: steal(), steps: steps ?? FULL.steps, total_seconds: total, suites: rows,
}, null, 2) + '\n');
console.log(`all suites in ${(total / 60).toFixed(1)} min`);
