// modelInfo's bytes on disk: what the checkpoint's resolved files hold, not every *.safetensors in the folder.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { modelInfo } from '../../src/model/info.js';
import { readConfig } from '../../src/model/model-files.js';
import { WeightStore } from '../../src/weights/shards.js';
import { TempRoot } from '../generate/fixtures.js';
import { parseConfig } from '../../src/model/config.js';
import { presetConfig } from '../../src/model/presets.js';

test('bytes on disk count the files loaded (sharded, or single), not a stray copy beside them', (t) => {
  const tmp = new TempRoot();
  t.after(() => tmp.remove());
  const loadedCounts: number[] = [];
  for (const dir of [tmp.tiny(), tmp.tiny({ shardBytes: 20_000 })]) {
    const loaded = fs.readdirSync(dir).filter((f) => f.endsWith('.safetensors'));
    const expected = loaded.reduce((sum, f) => sum + fs.statSync(path.join(dir, f)).size, 0);
    fs.copyFileSync(path.join(dir, loaded[0]!), path.join(dir, 'consolidated.safetensors'));
    const store = WeightStore.open(dir);
    try {
      assert.equal(modelInfo(readConfig(dir), store).diskBytes, expected, `${loaded.length} file(s)`);
      loadedCounts.push(loaded.length);
    } finally {
      store.close();
    }
  }
  assert.equal(loadedCounts[0], 1);
  assert.ok(loadedCounts[1]! > 1, 'the second checkpoint is sharded');
});

test('memory per --weights format and the weight arenas it takes: a 16B preset needs arenas in every format, a tiny checkpoint none', () => {
  const cfg = parseConfig(presetConfig('moonlight-16b-a3b'), 'moonlight');
  const q4 = modelInfo(cfg, null, 'q4'), q8 = modelInfo(cfg, null, 'q8'), stored = modelInfo(cfg, null, 'stored');
  const m = q4.memoryByFormat;
  assert.ok(m.q4 < m.fp8 && m.fp8 < m.q8 && m.q8 < m.stored, JSON.stringify(m));
  assert.equal(q4.memoryBytes, m.q4);
  // Q4_0 is 4.5 bits a value (heads Q8_0: 8.5): between 0.28 and 0.35 of BF16 with the BF16 embedding kept.
  assert.ok(m.q4 / m.stored > 0.28 && m.q4 / m.stored < 0.35, `${m.q4 / m.stored}`);
  assert.ok(q4.arenas >= 2 && q8.arenas > q4.arenas && stored.arenas > q8.arenas, `${q4.arenas} ${q8.arenas} ${stored.arenas}`);
  assert.ok(stored.arenas >= Math.ceil(m.stored / 4 / 1024 ** 3), 'no arena beyond 4 GiB');
  const tmp = new TempRoot();
  try {
    const dir = tmp.tiny(), store = WeightStore.open(dir);
    try {
      const tiny = modelInfo(readConfig(dir), store, 'q8');
      assert.equal(tiny.arenas, 0);
      assert.ok(tiny.memoryBytes < tiny.memoryByFormat.stored);
    } finally {
      store.close();
    }
  } finally {
    tmp.remove();
  }
});
