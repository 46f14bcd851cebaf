// The web chat page in Chromium against a real server: an answer streams in token by token and equals the API's
// greedy text; the conversation is kept and sent back; Stop ends a generation and keeps its text; tok/s is shown;
// a bad setting or a server error is shown without losing the conversation.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { Browser, Page } from 'playwright-core';
import { Engine } from '../../src/server/engine.js';
import { QiusuoServer } from '../../src/server/http.js';
import { TempRoot } from '../generate/fixtures.js';
import { launchChromium, strictPage } from './browser.js';

let tmp: TempRoot;
let engine: Engine;
let server: QiusuoServer;
let base: string;
let browser: Browser;

before(async () => {
  tmp = new TempRoot();
  // The reference kernels and a long token budget keep a generation running for seconds (the wasm kernels finish
  // this model's 2113-token greedy answer in under one), so the Stop button surely finds it running.
  engine = Engine.load(tmp.tiny(), { maxBatch: 2, context: 4096, maxTokens: 4000, modelName: 'tiny', kernels: 'ref' });
  server = new QiusuoServer({ engine });
  base = `http://127.0.0.1:${(await server.listen(0, '127.0.0.1')).port}`;
  browser = await launchChromium();
});
after(async () => { await browser?.close(); await server.close(0); tmp.remove(); });

async function openChat(): Promise<Page> {
  const page = await strictPage(browser);
  await page.goto(base + '/');
  await page.waitForSelector('#model:text("tiny")');
  return page;
}

async function greedy(messages: { role: string; content: string }[], maxTokens: number): Promise<string> {
  const r = await engine.chat.completions.create({ model: 'tiny', messages: messages as any, max_tokens: maxTokens, temperature: 0 });
  return r.choices[0].message.content;
}

test('the chat page streams an answer token by token, keeps the conversation and shows tokens/s', async () => {
  const page = await openChat();
  await page.fill('#temperature', '0');
  await page.fill('#max-tokens', '24');
  // Record the assistant text as it grows, to see it arrive in several pieces.
  await page.evaluate(() => {
    const seen: string[] = [];
    (window as any).seen = seen;
    new MutationObserver(() => {
      const a = document.querySelector('.message.assistant:last-of-type');
      if (a && a.textContent !== seen.at(-1)) seen.push(a.textContent ?? '');
    }).observe(document.querySelector('#messages')!, { subtree: true, childList: true, characterData: true });
  });
  await page.fill('#prompt', 'Hello');
  await page.click('#send');
  const first = page.locator('.message.assistant').nth(0);
  await page.waitForSelector('.message.assistant[data-done="true"]');
  assert.equal(await first.textContent(), await greedy([{ role: 'user', content: 'Hello' }], 24));
  assert.equal(await first.getAttribute('data-finish'), 'length');
  const steps: string[] = await page.evaluate(() => (window as any).seen);
  assert.ok(steps.filter((s) => s.length > 0).length >= 3, `the text arrived in pieces: ${steps.length} states`);
  assert.equal(await page.getAttribute('#stats', 'data-tokens'), '24');
  assert.match(await page.textContent('#stats') ?? '', /24 tokens · [\d.]+ tok\/s/);

  await page.fill('#prompt', 'And then?');
  await page.press('#prompt', 'Enter');
  await page.waitForFunction(() => document.querySelectorAll('.message.assistant[data-done="true"]').length === 2);
  const second = await page.locator('.message.assistant').nth(1).textContent();
  const history = [{ role: 'user', content: 'Hello' }, { role: 'assistant', content: (await first.textContent())! }, { role: 'user', content: 'And then?' }];
  assert.equal(second, await greedy(history, 24), 'the second answer saw the whole conversation');
  assert.equal(await page.locator('.message.user').count(), 2);
  await page.close();
});

test('Stop ends a generation, keeps its partial text, and the page is ready for the next message', async () => {
  const page = await openChat();
  await page.fill('#temperature', '0');
  await page.fill('#max-tokens', '4000');
  await page.fill('#prompt', 'Tell me everything');
  await page.click('#send');
  await page.waitForFunction(() => (document.querySelector('.message.assistant')?.textContent ?? '').length > 0);
  await page.click('#stop');
  await page.waitForSelector('.message.assistant[data-done="true"]');
  assert.equal(await page.getAttribute('.message.assistant', 'data-finish'), 'aborted');
  const tokens = Number(await page.getAttribute('#stats', 'data-tokens'));
  assert.ok(tokens > 0 && tokens < 4000, `stopped early after ${tokens} tokens`);
  assert.equal(await page.getAttribute('body', 'data-state'), 'idle');
  for (let i = 0; i < 100 && (engine.stats().running > 0); i++) await new Promise((r) => setTimeout(r, 20));
  assert.equal(engine.stats().running, 0, 'the server cancelled the generation');
  await page.close();
});

test('a bad setting is refused on the page; a server error is shown and the message can be sent again', async () => {
  const page = await openChat();
  await page.fill('#max-tokens', '0');
  await page.fill('#prompt', 'Hi');
  await page.click('#send');
  await page.waitForSelector('#error:not([hidden])');
  assert.equal(await page.locator('.message.user').count(), 0, 'nothing was sent');
  await page.fill('#max-tokens', '10');
  await page.fill('#prompt', 'x'.repeat(20_000));       // longer than the 4096-token context
  await page.click('#send');
  await page.waitForFunction(() => /maximum context length/.test(document.querySelector('#error')?.textContent ?? ''));
  assert.equal(await page.locator('.message.user').count(), 0, 'the failed turn left the conversation');
  assert.equal((await page.inputValue('#prompt')).length, 20_000, 'its text is back in the prompt box');
  await page.close();
});
