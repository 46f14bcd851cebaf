// The deepseek-v3 preset against DeepSeek-V3's published config.json, transcribed once in
// fixtures/deepseek-v3-config.json (source named in fixtures/README.md): our loader accepts the file, the preset
// and `qiusuo info --preset deepseek-v3` equal what the file gives, and the parameter counts are the published ones.
// Leaves out tensors (the file alone does not need the 671B weights).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseConfig } from '../../src/model/config.js';
import { presetConfig } from '../../src/model/presets.js';
import { modelInfo } from '../../src/model/info.js';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const FIXTURE = path.join(HERE, 'fixtures', 'deepseek-v3-config.json');
const BIN = path.join(HERE, '..', '..', 'bin', 'qiusuo.js');
const published = (): Record<string, unknown> => JSON.parse(fs.readFileSync(FIXTURE, 'utf8'));

test('the published DeepSeek-V3 config.json loads, with no key left unread', () => {
  const c = parseConfig(published(), FIXTURE);
  assert.deepEqual(c.unknownKeys, []);
  assert.equal(c.modelType, 'deepseek_v3');
  assert.equal(c.torchDtype, 'bfloat16');
});

test('every key the deepseek-v3 preset states has the published value', () => {
  const file = published();
  for (const [key, value] of Object.entries(presetConfig('deepseek-v3'))) {
    assert.ok(key in file, `preset key "${key}" is not in the published config.json`);
    assert.deepEqual(value, file[key], `"${key}"`);
  }
});

test('the deepseek-v3 preset parses to exactly the published config, field by field', () => {
  const fromFile = parseConfig(published(), FIXTURE);
  const fromPreset = parseConfig(presetConfig('deepseek-v3'), 'preset deepseek-v3');
  for (const key of Object.keys(fromFile) as (keyof typeof fromFile)[]) {
    assert.deepEqual(fromPreset[key], fromFile[key], key);
  }
  assert.deepEqual(fromPreset, fromFile);
});

test('`qiusuo info --preset deepseek-v3` reports what the published config.json gives', () => {
  const r = spawnSync(process.execPath, [BIN, 'info', '--preset', 'deepseek-v3', '--json'], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(JSON.parse(r.stdout), modelInfo(parseConfig(published(), FIXTURE), null));
});

test('parameter counts of the published config: 671B total, 37B activated', () => {
  const c = parseConfig(published(), FIXTURE);
  const info = modelInfo(c, null);
  const embedding = c.vocabSize * c.hiddenSize; // 0.93B
  // model card: 671B main-model parameters (the 685B on the card adds the MTP module)
  assert.equal(Math.round(info.totalParams / 1e9), 671, `total ${info.totalParams}`);
  // README_WEIGHTS.md: 36.6B activated "including 0.9B for the output head", i.e. without the embedding table,
  // which a token reads one row of; the card rounds it to 37B
  const activated = info.activeParams - embedding;
  assert.ok(Math.abs(activated / 1e9 - 36.6) < 0.05, `activated ${activated}`);
  assert.equal(Math.round(activated / 1e9), 37);
  // 3 dense layers then 58 MoE layers, 8 of 256 routed experts per token
  assert.deepEqual([info.denseLayers, info.moeLayers, info.mtpModules], [3, 58, 1]);
});
