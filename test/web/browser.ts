// Debian's Chromium (or QIUSUO_CHROMIUM) driven by playwright-core, for the browser tests of the web pages; npm test
// provides it (scripts/ensure-chromium.mjs). Not a test file itself.

import * as fs from 'node:fs';
import assert from 'node:assert/strict';
import { chromium, type Browser, type Page } from 'playwright-core';

export const CHROMIUM = process.env.QIUSUO_CHROMIUM ?? '/usr/bin/chromium';

export async function launchChromium(): Promise<Browser> {
  if (!fs.existsSync(CHROMIUM)) {
    throw new Error(`${CHROMIUM} not found: the browser tests need Debian's Chromium: npm test installs it where it may (scripts/ensure-chromium.mjs), else apt-get install chromium, or QIUSUO_CHROMIUM=/path/to/chromium`);
  }
  return chromium.launch({ executablePath: CHROMIUM, args: ['--headless', '--no-sandbox'] });
}

/** A new page on which any uncaught script error fails the test. */
export async function strictPage(browser: Browser): Promise<Page> {
  const page = await browser.newPage();
  page.on('pageerror', (e) => assert.fail(`page error: ${e.message}`));
  return page;
}
