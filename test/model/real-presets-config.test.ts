// The deepseek-v2-lite and moonlight-16b-a3b presets against their published config.json files, transcribed in
// fixtures/ (sources in fixtures/README.md): the loader reads every key, each preset key has the published value,
// preset and file parse to the same config, and `qiusuo info --preset` gives the published parameter counts.
// Leaves out tensors (init of these presets is tested in test/model/init-stream.test.ts on shrunken copies).

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
const BIN = path.join(HERE, '..', '..', 'bin', 'qiusuo.js');

/**
 * Published parameter counts, in billions. V2-Lite (model card and paper): 15.7B total, 2.4B activated, the
 * activated count without the embedding table (as DeepSeek counts V3's 37B). Moonlight (model card "16B/3B"; 15.29B
 * and 2.24B without embedding and head): both the rounded and the exact figures are checked.
 */
const CASES = [
  {
    preset: 'deepseek-v2-lite', fixture: 'deepseek-v2-lite-chat-config.json', modelType: 'deepseek_v2',
    layers: { dense: 1, moe: 26, mtp: 0 },
    check(total: number, active: number, embedding: number): void {
      assert.equal(Number((total / 1e9).toFixed(1)), 15.7, `total ${total}`);
      // 2.45B: the card's "2.4B" is this figure cut, not rounded, to one decimal (with the head left out too it
      // would be 2.24B, which no source quotes for V2-Lite)
      assert.equal(Math.floor((active - embedding) / 1e8) / 10, 2.4, `activated ${active - embedding}`);
    },
  },
  {
    preset: 'moonlight-16b-a3b', fixture: 'moonlight-16b-a3b-instruct-config.json', modelType: 'deepseek_v3',
    layers: { dense: 1, moe: 26, mtp: 0 },
    check(total: number, active: number, embedding: number): void {
      assert.equal(Math.round(total / 1e9), 16, `total ${total}`);
      assert.equal(Math.round(active / 1e9), 3, `active ${active}`);
      // embedding and untied output head are the same size
      assert.equal(Number(((total - 2 * embedding) / 1e9).toFixed(2)), 15.29, `total without embedding and head`);
      assert.equal(Number(((active - 2 * embedding) / 1e9).toFixed(2)), 2.24, `active without embedding and head`);
    },
  },
];

for (const c of CASES) {
  const FIXTURE = path.join(HERE, 'fixtures', c.fixture);
  const published = (): Record<string, unknown> => JSON.parse(fs.readFileSync(FIXTURE, 'utf8'));

  test(`${c.preset}: the published config.json loads, with no key left unread`, () => {
    const cfg = parseConfig(published(), FIXTURE);
    assert.deepEqual(cfg.unknownKeys, []);
    assert.equal(cfg.modelType, c.modelType);
    assert.equal(cfg.torchDtype, 'bfloat16');
  });

  test(`${c.preset}: every key the preset states has the published value`, () => {
    const file = published();
    for (const [key, value] of Object.entries(presetConfig(c.preset))) {
      assert.ok(key in file, `preset key "${key}" is not in the published config.json`);
      assert.deepEqual(value, file[key], `"${key}"`);
    }
  });

  test(`${c.preset}: the preset parses to the published config, field by field`, () => {
    const fromFile = parseConfig(published(), FIXTURE);
    const fromPreset = parseConfig(presetConfig(c.preset), `preset ${c.preset}`);
    // token ids the preset leaves out (see presets.ts) are the only allowed difference
    for (const key of Object.keys(fromFile) as (keyof typeof fromFile)[]) {
      if ((key === 'bosTokenId' || key === 'eosTokenId') && !('bos_token_id' in presetConfig(c.preset))) continue;
      assert.deepEqual(fromPreset[key], fromFile[key], key);
    }
  });

  test(`\`qiusuo info --preset ${c.preset}\` reports the published parameter counts`, () => {
    const r = spawnSync(process.execPath, [BIN, 'info', '--preset', c.preset, '--json'], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    const info = JSON.parse(r.stdout);
    const cfg = parseConfig(published(), FIXTURE);
    assert.deepEqual(info, modelInfo(cfg, null));
    c.check(info.totalParams, info.activeParams, cfg.vocabSize * cfg.hiddenSize);
    assert.deepEqual([info.denseLayers, info.moeLayers, info.mtpModules], [c.layers.dense, c.layers.moe, c.layers.mtp]);
  });
}

test('the published routing details are read as such', () => {
  const lite = parseConfig(presetConfig('deepseek-v2-lite'));
  assert.deepEqual(
    [lite.topkMethod, lite.scoringFunc, lite.normTopkProb, lite.qLoraRank, lite.nGroup, lite.topkGroup, lite.routedScalingFactor],
    ['greedy', 'softmax', false, null, 1, 1, 1],
  );
  assert.deepEqual(lite.ropeScaling, {
    type: 'yarn', factor: 40, originalMaxPositionEmbeddings: 4096, betaFast: 32, betaSlow: 1, mscale: 0.707, mscaleAllDim: 0.707, attentionFactor: null,
  });
  const moon = parseConfig(presetConfig('moonlight-16b-a3b'));
  assert.deepEqual(
    [moon.topkMethod, moon.scoringFunc, moon.normTopkProb, moon.qLoraRank, moon.nGroup, moon.topkGroup, moon.routedScalingFactor],
    ['noaux_tc', 'sigmoid', true, null, 1, 1, 2.446],
  );
  assert.deepEqual([moon.ropeTheta, moon.ropeScaling, moon.vocabSize, moon.rmsNormEps, moon.numNextnPredictLayers], [50000, null, 163840, 1e-5, 0]);
});
