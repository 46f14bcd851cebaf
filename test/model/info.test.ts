// modelInfo's bytes on disk: what the checkpoint's resolved files hold, not every *.safetensors in the folder.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { modelInfo } from '../../src/model/info.js';
import { readConfig } from '../../src/model/transformer.js';
import { WeightStore } from '../../src/weights/shards.js';
import { TempRoot } from '../generate/fixtures.js';

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
