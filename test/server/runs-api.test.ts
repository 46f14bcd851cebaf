// The multi-run API of a dashboard-only server: /api/runs lists the runs, /api/runs/:i/metrics reads run i's own log
// from an offset, a bad index is a 404 naming the valid ones, /api/run stays the first run's log, and /dashboard is
// the compare page for several runs or an experiment but the single-run page for one --run.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { QiusuoServer } from '../../src/server/http.js';
import type { RunSet } from '../../src/server/run-set.js';

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'qiusuo-runs-api-'));
const dirs = ['a', 'b', 'c'].map((name) => path.join(root, name));
const runs: RunSet = { experiment: 'balance', runs: dirs.map((dir, i) => ({ label: `arm ${i} · seed 0`, dir, arm: `arm ${i}`, seed: 0 })) };
let server: QiusuoServer;
let base: string;

/** A server shown `o`'s runs, stopped after the callback. */
async function withServer(o: ConstructorParameters<typeof QiusuoServer>[0], f: (base: string) => Promise<void>): Promise<void> {
  const s = new QiusuoServer(o);
  const a = await s.listen(0, '127.0.0.1');
  try { await f(`http://127.0.0.1:${a.port}`); } finally { await s.close(0); }
}

before(async () => {
  for (const dir of dirs.slice(0, 2)) fs.mkdirSync(dir);   // the third run has not started: no folder yet
  fs.writeFileSync(path.join(dirs[0], 'metrics.jsonl'), '{"step":1,"loss":5}\n{"step":2,"loss":4}\n');
  fs.writeFileSync(path.join(dirs[1], 'metrics.jsonl'), '{"step":1,"loss":9}\n{"step":2,');
  server = new QiusuoServer({ runs });
  base = `http://127.0.0.1:${(await server.listen(0, '127.0.0.1')).port}`;
});

after(async () => {
  await server?.close(0);
  fs.rmSync(root, { recursive: true, force: true });
});

const get = async (url: string): Promise<{ status: number; body: any }> => {
  const r = await fetch(base + url);
  return { status: r.status, body: await r.json() };
};

test('/api/runs lists each run with its label, folder name, arm and seed', async () => {
  assert.deepEqual(await get('/api/runs'), { status: 200, body: { experiment: 'balance', compare: true, runs: [
    { index: 0, label: 'arm 0 · seed 0', run: 'a', arm: 'arm 0', seed: 0 },
    { index: 1, label: 'arm 1 · seed 0', run: 'b', arm: 'arm 1', seed: 0 },
    { index: 2, label: 'arm 2 · seed 0', run: 'c', arm: 'arm 2', seed: 0 },
  ] } });
});

test('/api/runs/:i/metrics reads run i\'s log from ?from=, complete lines only; a run not started yet has none', async () => {
  const a = await get('/api/runs/0/metrics');
  assert.deepEqual([a.status, a.body.index, a.body.label, a.body.run, a.body.records], [200, 0, 'arm 0 · seed 0', 'a', [{ step: 1, loss: 5 }, { step: 2, loss: 4 }]]);
  const b = await get('/api/runs/1/metrics?from=0');
  assert.deepEqual([b.body.run, b.body.records], ['b', [{ step: 1, loss: 9 }]]);
  fs.appendFileSync(path.join(dirs[1], 'metrics.jsonl'), '"loss":8}\n');
  const b2 = await get(`/api/runs/1/metrics?from=${b.body.next}`);
  assert.deepEqual([b2.body.records, b2.body.reset], [[{ step: 2, loss: 8 }], false]);
  const c = await get('/api/runs/2/metrics');
  assert.deepEqual([c.status, c.body.run, c.body.records, c.body.next], [200, 'c', [], 0]);
  assert.equal((await get('/api/runs/0/metrics?from=x')).status, 400);
});

test('a run index that is not one of the runs is a 404 naming the valid range', async () => {
  for (const index of ['3', '-1', '01', 'x', '1.0', '%20', '99999999999999999999']) {
    const r = await get(`/api/runs/${index}/metrics`);
    assert.equal(r.status, 404, index);
    assert.equal(r.body.error.code, 'unknown_run', index);
    assert.match(r.body.error.message, /here: the runs are numbered 0 to 2 \(GET \/api\/runs lists them\)/, index);
  }
  assert.equal((await get('/api/runs//metrics')).status, 404);
});

test('/api/run is the first run\'s log; /dashboard is the compare page for several runs, the single-run page for one', async () => {
  assert.deepEqual((await get('/api/run')).body.records, [{ step: 1, loss: 5 }, { step: 2, loss: 4 }]);
  assert.match(await (await fetch(`${base}/dashboard`)).text(), /compare\.js/);
  await withServer({ runDir: dirs[1] }, async (single) => {
    assert.match(await (await fetch(`${single}/dashboard`)).text(), /dashboard\.js/);
    const listed = await (await fetch(`${single}/api/runs`)).json();
    assert.deepEqual(listed, { experiment: null, compare: false, runs: [{ index: 0, label: 'b', run: 'b', arm: null, seed: null }] });
    assert.deepEqual((await (await fetch(`${single}/api/runs/0/metrics`)).json()).records, [{ step: 1, loss: 9 }, { step: 2, loss: 8 }]);
  });
  await withServer({ runs: { experiment: null, runs: runs.runs.slice(0, 2) } }, async (two) => {
    assert.match(await (await fetch(`${two}/dashboard`)).text(), /compare\.js/);
  });
});
