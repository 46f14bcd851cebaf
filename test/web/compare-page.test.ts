// The dashboard's compare view in Chromium, on an experiment of three runs (logs generated here in the trainer's
// StepMetrics format, so a renamed field fails to compile): both logged runs' curves are drawn with their labels,
// the run without a log yet shows as waiting, the time axis plots the same points, and a new step shows up live.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Browser, Page } from 'playwright-core';
import type { StepMetrics } from '../../src/train/trainer.js';
import { launchChromium, strictPage } from './browser.js';
import { startServer, type ServerProcess } from '../cli/server-process.js';

const TOTAL = 20;
const EVAL_EVERY = 4;
/** label, folder, steps logged, seconds per step (the slower run reaches fewer steps in the same time). */
const RUNS = [
  { label: 'aux-free · seed 0', dir: 'aux-free', steps: 12, secPerStep: 1 },
  { label: 'aux-loss · seed 0', dir: 'aux-loss', steps: 8, secPerStep: 2.5 },
  { label: 'none · seed 0', dir: 'none', steps: 0, secPerStep: 1 },
];

let root: string;
let dashboard: ServerProcess;
let browser: Browser;

function metrics(step: number, secPerStep: number): StepMetrics {
  const evaluated = step % EVAL_EVERY === 0 ? { valLoss: 5 / Math.sqrt(step), valBpb: 3 / Math.sqrt(step) } : {};
  return { step, totalSteps: TOTAL, lr: 1e-3, batch: 2, loss: 6 / Math.sqrt(step) + secPerStep, ce: 5, mtpLoss: null, balanceLoss: 0,
    gradNorm: 1, tokensPerSec: 1000 / secPerStep, elapsedSec: step * secPerStep, mfu: 0.1, mfuFma: 0.05,
    expertLoads: [[0.5, 0.5], [0.25, 0.75]], maxVio: [0.2 / step, 0.4 / step], ...evaluated };
}

const logLines = (from: number, to: number, secPerStep: number): string =>
  Array.from({ length: to - from + 1 }, (_, i) => JSON.stringify(metrics(from + i, secPerStep)) + '\n').join('');

before(async () => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'qiusuo-compare-'));
  for (const r of RUNS) {
    fs.mkdirSync(path.join(root, 'arms', r.dir), { recursive: true });
    if (r.steps) fs.writeFileSync(path.join(root, 'arms', r.dir, 'metrics.jsonl'), logLines(1, r.steps, r.secPerStep));
  }
  fs.mkdirSync(path.join(root, 'balance'));
  fs.writeFileSync(path.join(root, 'balance', 'suite.json'), JSON.stringify({ experiment: 'balance',
    runs: RUNS.map((r) => ({ arm: r.dir, seed: 0, label: r.label, dir: `../arms/${r.dir}` })) }));
  dashboard = await startServer(['dashboard', '--experiment', path.join(root, 'balance'), '--port', '0']);
  browser = await launchChromium();
});

after(async () => {
  await browser?.close();
  dashboard?.child.kill('SIGTERM');
  fs.rmSync(root, { recursive: true, force: true });
});

/** Per chart, the finite points each run has on it (the page writes them on the plot as data-points). */
const pointsOf = (page: Page): Promise<Record<string, string>> => page.evaluate(() => Object.fromEntries(
  [...document.querySelectorAll<HTMLElement>('[data-chart]')].map((c) => [c.dataset.chart, c.querySelector<HTMLElement>('.plot')!.dataset.points ?? ''])));

test('the compare view overlays every logged run on each chart with its label, shows the waiting one, and follows the runs live', async () => {
  const page = await strictPage(browser);
  await page.goto(dashboard.base + '/dashboard');
  await page.waitForSelector(`body[data-steps="${RUNS.map((r) => r.steps).join(',')}"]`);
  assert.equal(await page.textContent('#experiment'), 'balance');

  const evals = (r: typeof RUNS[number]): number => Math.floor(r.steps / EVAL_EVERY);
  const dense = RUNS.map((r) => r.steps).join(','), sparse = RUNS.map(evals).join(',');
  const expected = { loss: dense, 'val-bpb': sparse, 'val-loss': sparse, throughput: dense, maxvio: dense, lr: dense, 'mtp-agree': '0,0,0' };
  assert.deepEqual(await pointsOf(page), expected);
  assert.equal(await page.isHidden('[data-chart="mtp-agree"]'), true, 'no run has an MTP module: no MTP chart');
  for (const chart of ['loss', 'val-bpb', 'val-loss', 'throughput', 'maxvio', 'lr']) {
    assert.equal(await page.locator(`[data-chart="${chart}"] .uplot canvas`).count(), 1, `chart ${chart} is drawn`);
    const legend = await page.locator(`[data-chart="${chart}"] .u-legend`).innerText();
    for (const r of RUNS) assert.ok(legend.includes(r.label), `${chart}'s legend names ${r.label}: ${legend}`);
  }
  const states = await page.$$eval('#runs li', (items) => items.map((li) => [li.querySelector('b')!.textContent, li.dataset.state, li.querySelector('span')!.textContent]));
  assert.deepEqual(states.map(([label, state]) => [label, state]), [[RUNS[0].label, 'live'], [RUNS[1].label, 'live'], [RUNS[2].label, 'waiting']]);
  assert.match(states[0][2]!, /step 12\/20 · val bpb/);
  assert.match(states[2][2]!, /waiting for metrics\.jsonl/);

  await page.click('label:has(input[value="time"])');
  await page.waitForSelector('body[data-x="time"]');
  assert.deepEqual(await pointsOf(page), expected, 'the same points against elapsed time');
  assert.match(await page.locator('[data-chart="loss"] .u-legend').innerText(), /elapsed/);

  const late = RUNS[2];
  fs.writeFileSync(path.join(root, 'arms', late.dir, 'metrics.jsonl'), logLines(1, EVAL_EVERY, late.secPerStep));
  await page.waitForSelector(`body[data-steps="12,8,${EVAL_EVERY}"]`, { timeout: 15_000 });
  assert.equal((await pointsOf(page))['val-bpb'], `${evals(RUNS[0])},${evals(RUNS[1])},1`);
  await page.close();
});
