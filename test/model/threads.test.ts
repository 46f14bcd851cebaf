// The automatic thread count: one thread for a model whose decode step is too small to share, the backend's default
// (every core, or QIUSUO_THREADS) otherwise, and never over what the caller or the environment asked for.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseConfig } from '../../src/model/config.js';
import { presetConfig } from '../../src/model/presets.js';
import { autoThreads } from '../../src/model/threads.js';
import { initCheckpoint } from '../../src/model/init.js';
import { DeepSeekModel } from '../../src/model/transformer.js';

const preset = (name: string) => parseConfig(presetConfig(name), name);

/** Runs fn with QIUSUO_THREADS set to `value` (or unset), restoring it after. */
function withThreadsEnv<T>(value: string | undefined, fn: () => T): T {
  const saved = process.env.QIUSUO_THREADS;
  if (value === undefined) delete process.env.QIUSUO_THREADS; else process.env.QIUSUO_THREADS = value;
  try { return fn(); } finally { if (saved === undefined) delete process.env.QIUSUO_THREADS; else process.env.QIUSUO_THREADS = saved; }
}

test('autoThreads: one thread for the tiny and nano presets, the default for small and larger models', () => {
  withThreadsEnv(undefined, () => {
    assert.equal(autoThreads(preset('tiny')), 1);
    assert.equal(autoThreads(preset('nano')), 1);
    assert.equal(autoThreads(preset('small')), undefined);
    assert.equal(autoThreads(preset('deepseek-v3')), undefined);
  });
});

test('autoThreads leaves the count to QIUSUO_THREADS when it is set', () => {
  withThreadsEnv('2', () => assert.equal(autoThreads(preset('nano')), undefined));
});

test('DeepSeekModel.load runs a small model on one thread unless told otherwise', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'qiusuo-threads-'));
  try {
    initCheckpoint({ preset: 'tiny', seed: 1, out: dir });
    for (const [threads, env, want] of [[undefined, undefined, 1], [2, undefined, 2], [undefined, '2', 2]] as const) {
      const model = withThreadsEnv(env, () => DeepSeekModel.load(dir, { threads }));
      try {
        assert.equal((model.ctx.backend as unknown as { threads: number }).threads, want, `threads ${threads}, QIUSUO_THREADS ${env}`);
      } finally {
        await model.dispose();
      }
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
