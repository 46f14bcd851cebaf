// The pages of a server started with an API key, in Chromium: the chat page asks for the key once, says so clearly
// when a key is refused and asks again, then chats without asking more; the key is kept in memory only (no
// localStorage, sessionStorage, cookie or URL; a reload asks again). The dashboard asks too, then draws the run.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { Engine } from '../../src/server/engine.js';
import { QiusuoServer } from '../../src/server/http.js';
import { TempRoot } from '../generate/fixtures.js';
import { launchChromium, strictPage } from './browser.js';

const KEY = 'sk-page-test-42';
let tmp: TempRoot;
let engine: Engine;
let server: QiusuoServer;
let base: string;
let browser: Browser;

before(async () => {
  tmp = new TempRoot();
  const run = path.join(tmp.dir, 'run');
  fs.mkdirSync(run);
  const record = (step: number) => ({ step, totalSteps: 10, loss: 5 - step / 10, lr: 1e-3, elapsedSec: step, tokensPerSec: 100, expertLoads: [[0.5, 1.5, 1, 1]] });
  fs.writeFileSync(path.join(run, 'metrics.jsonl'), [1, 2, 3].map((s) => JSON.stringify(record(s))).join('\n') + '\n');
  engine = Engine.load(tmp.tiny(), { maxBatch: 2, context: 256, maxTokens: 16, modelName: 'tiny' });
  server = new QiusuoServer({ engine, runDir: run, apiKey: KEY });
  base = `http://127.0.0.1:${(await server.listen(0, '127.0.0.1')).port}`;
  browser = await launchChromium();
});
after(async () => { await browser?.close(); await server.close(0); tmp.remove(); });

/** A page that counts how often a dialog is opened (window.asks). */
async function countingPage(): Promise<Page> {
  const page = await strictPage(browser);
  // A string, not a function: tsx would add helpers the page does not have.
  await page.addInitScript(`window.asks = 0;
    const showModal = HTMLDialogElement.prototype.showModal;
    HTMLDialogElement.prototype.showModal = function () { window.asks += 1; return showModal.call(this); };`);
  return page;
}

async function enterKey(page: Page, key: string): Promise<void> {
  await page.waitForSelector('#api-key-dialog[open]');
  await page.fill('#api-key-input', key);
  await page.click('#api-key-submit');
}

test('the chat page asks for the key once, asks again after a refused key, and then chats without asking', async () => {
  const page = await countingPage();
  await page.goto(base + '/');
  await page.waitForSelector('#api-key-dialog[open]');
  assert.match(await page.textContent('#api-key-reason') ?? '', /needs the API key it was started with/);
  await enterKey(page, 'sk-wrong');
  await page.waitForFunction(() => document.querySelector('#api-key-reason')?.getAttribute('data-refused') === 'true');
  assert.match(await page.textContent('#api-key-reason') ?? '', /The server refused this key: The API key in the Authorization header is not this server's key\. Enter the key again\./);
  assert.equal(await page.inputValue('#api-key-input'), '', 'the refused key is not left in the field');
  await enterKey(page, KEY);
  await page.waitForSelector('#model:text("tiny")');
  assert.equal(await page.getAttribute('#api-key-dialog', 'open'), null, 'the dialog is closed');

  await page.fill('#temperature', '0');
  await page.fill('#max-tokens', '6');
  for (const [n, prompt] of [[1, 'Hello'], [2, 'And then?']] as const) {
    await page.fill('#prompt', prompt);
    await page.click('#send');
    await page.waitForFunction((k) => document.querySelectorAll('.message.assistant[data-done="true"]').length === k, n);
  }
  const first = await page.locator('.message.assistant').nth(0).textContent();
  const greedy = await engine.chat.completions.create({ model: 'tiny', messages: [{ role: 'user', content: 'Hello' }], max_tokens: 6, temperature: 0 });
  assert.equal(first, greedy.choices[0].message.content, 'the answer came with the key');
  assert.equal(await page.evaluate(() => (window as any).asks), 2, 'asked at the start and after the refused key, not for each request');

  const kept = await page.evaluate(() => ({
    local: localStorage.length, session: sessionStorage.length, cookie: document.cookie, url: location.href,
    field: (document.querySelector('#api-key-input') as HTMLInputElement).value,
  }));
  assert.deepEqual(kept, { local: 0, session: 0, cookie: '', url: `${base}/`, field: '' }, 'the key is kept nowhere but in memory');
  assert.deepEqual(await page.context().cookies(), []);

  await page.reload();
  await page.waitForSelector('#api-key-dialog[open]');
  assert.equal(await page.textContent('#model'), 'loading…', 'after a reload the page knows no key');
  await page.close();
});

test('the dashboard asks for the key, then draws the run and keeps polling with it', async () => {
  const page = await countingPage();
  await page.goto(base + '/dashboard');
  await enterKey(page, KEY);
  await page.waitForSelector('body[data-steps="3"]');
  assert.equal(await page.getAttribute('body', 'data-run'), 'run');
  const polls = await page.evaluate(() => performance.getEntriesByType('resource').filter((e) => e.name.includes('/api/run')).length);
  await page.waitForFunction((n) => performance.getEntriesByType('resource').filter((e) => e.name.includes('/api/run')).length > n + 1, polls, { timeout: 10_000 });
  assert.equal(await page.evaluate(() => (window as any).asks), 1, 'asked once, though it polls on');
  assert.equal(await page.getAttribute('#live', 'data-state'), 'live', 'following the run, not in error');
  await page.close();
});
