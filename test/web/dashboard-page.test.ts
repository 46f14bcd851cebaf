// `qiusuo dashboard` in Chromium on a run recorded by `qiusuo train`: every chart is drawn from the metrics log,
// one expert-load heatmap per MoE layer with paint on it, and a step appended to the log shows up live.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Browser } from 'playwright-core';
import { launchChromium, strictPage } from './browser.js';
import { BIN, startServer, type ServerProcess } from '../cli/server-process.js';

const STEPS = 8;

let root: string;
let run: string;
let dashboard: ServerProcess;
let base: string;
let browser: Browser;

before(async () => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'qiusuo-dash-'));
  const data = path.join(root, 'data.jsonl');
  const words = 'the model routes each token to a few experts and the bias keeps their load even while training goes on'.split(' ');
  const doc = (i: number): string => Array.from({ length: 40 }, (_, k) => words[(i * 7 + k * 3) % words.length]).join(' ') + '.';
  fs.writeFileSync(data, Array.from({ length: 12 }, (_, i) => JSON.stringify({ text: doc(i) })).join('\n') + '\n');
  run = path.join(root, 'run');
  const r = spawnSync(process.execPath, [BIN, 'train', '--data', data, '--out', run, '--max-steps', String(STEPS), '--eval-every', '4', '--preset', 'tiny',
    '--set', 'rope_scaling=null', '--seq-len', '16', '--micro-batch', '2', '--batch', '2', '--vocab-size', '512', '--val-fraction', '0.2', '--eval-windows', '2'], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);

  dashboard = await startServer(['dashboard', '--run', run, '--port', '0']);
  base = dashboard.base;
  browser = await launchChromium();
});

after(async () => {
  await browser?.close();
  dashboard?.child.kill('SIGTERM');
  fs.rmSync(root, { recursive: true, force: true });
});

test('the dashboard draws every chart and one expert-load heatmap per MoE layer from the recorded run, and follows it live', async () => {
  const lines = fs.readFileSync(path.join(run, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  assert.equal(lines.length, STEPS);
  const layers = lines[0].expertLoads.length;

  const page = await strictPage(browser);
  await page.goto(base + '/');                                  // redirects to /dashboard
  await page.waitForSelector(`body[data-steps="${STEPS}"]`);
  assert.equal(await page.getAttribute('body', 'data-run'), 'run');
  for (const chart of ['loss', 'val-bpb', 'lr', 'throughput', 'grad-norm', 'maxvio']) {
    assert.equal(await page.locator(`[data-chart="${chart}"] .uplot canvas`).count() > 0, true, `chart ${chart} is drawn`);
  }
  assert.equal(await page.locator('canvas.heatmap').count(), layers, 'a heatmap per MoE layer');
  assert.match(await page.locator('[data-chart="val-bpb"] .u-legend').innerText(), /MTP agree/, 'the MTP agreement is charted by val bpb');
  const painted = await page.evaluate(() => [...document.querySelectorAll<HTMLCanvasElement>('canvas.heatmap')].map((c) => {
    const px = c.getContext('2d')!.getImageData(0, 0, c.width, c.height).data;
    const colours = new Set<number>();
    for (let i = 0; i < px.length; i += 4) if (px[i + 3] > 0) colours.add((px[i] << 16) | (px[i + 1] << 8) | px[i + 2]);
    return colours.size;
  }));
  assert.ok(painted.every((n) => n > 8), `every heatmap shows many loads: ${painted}`);

  fs.appendFileSync(path.join(run, 'metrics.jsonl'), JSON.stringify({ ...lines.at(-1), step: STEPS + 1 }) + '\n');
  await page.waitForSelector(`body[data-steps="${STEPS + 1}"]`, { timeout: 15_000 });
  await page.close();
});
