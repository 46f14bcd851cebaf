// `qiusuo serve --speculative` as a user runs it, on a tiny model trained so that its MTP drafts are mostly kept:
// greedy text (chat and completions, streamed or not, alone or batched) equals the plain server's, every streamed
// delta arrives in order though a step may yield several tokens; /metrics shows acceptance only when speculating;
// a checkpoint without MTP and a bad --draft-tokens fail before listening.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { TempRoot, trainedTiny } from '../generate/fixtures.js';
import { BIN, startServer, type ServerProcess } from './server-process.js';

let tmp: TempRoot;
let dir: string;

before(async () => { tmp = new TempRoot(); dir = await trainedTiny(tmp.dir); });
after(() => tmp.remove());

const serve = (args: string[]): Promise<ServerProcess> => startServer(['serve', '--model', dir, '--port', '0', '--quiet', '--model-name', 'm', ...args]);

async function stop(s: ServerProcess): Promise<void> {
  s.child.kill('SIGTERM');
  assert.equal(await s.exit, 0, s.stderr());
}

/** One greedy request: the whole text, or a stream's text deltas in arrival order. */
async function complete(base: string, kind: 'chat' | 'text', prompt: string, stream: boolean): Promise<string[]> {
  const body = kind === 'chat'
    ? { model: 'm', messages: [{ role: 'user', content: prompt }], max_tokens: 20, temperature: 0, stream }
    : { model: 'm', prompt, max_tokens: 20, temperature: 0, stream };
  const r = await fetch(`${base}/v1/${kind === 'chat' ? 'chat/completions' : 'completions'}`, { method: 'POST', body: JSON.stringify(body) });
  assert.equal(r.status, 200, await r.clone().text());
  if (!stream) {
    const j = await r.json() as any;
    return [kind === 'chat' ? j.choices[0].message.content : j.choices[0].text];
  }
  const events = (await r.text()).split('\n\n').filter((e) => e.length > 0);
  assert.equal(events.at(-1), 'data: [DONE]');
  return events.slice(0, -1).map((e) => {
    const c = JSON.parse(e.replace(/^data: /, ''));
    return (kind === 'chat' ? c.choices[0]?.delta.content : c.choices[0]?.text) ?? '';
  }).filter((d) => d !== '');
}

const metrics = async (base: string): Promise<string> => (await fetch(`${base}/metrics`)).text();
const gauge = (text: string, sample: string): number => {
  const m = new RegExp(`^${sample.replace(/[{}"]/g, '\\$&')} (\\S+)$`, 'm').exec(text);
  assert.ok(m, `${sample} in\n${text}`);
  return Number(m[1]);
};

test('--speculative --draft-tokens 2 serves exactly the plain greedy text, streamed (every delta, in order) or whole; /metrics shows acceptance only then', async () => {
  const [plain, spec] = await Promise.all([serve([]), serve(['--speculative', '--draft-tokens', '2'])]);
  try {
    const cases = ['the cat sat', 'the bird sang in the'].flatMap((p) => (['text', 'chat'] as const).map((kind) => ({ p, kind })));
    const expected = await Promise.all(cases.map(({ p, kind }) => complete(plain.base, kind, p, false).then((t) => t[0])));
    for (const [i, { p, kind }] of cases.entries()) {
      const what = `${kind} "${p}"`;
      assert.ok(expected[i].length > 0, `${what}: the model answers something`);
      assert.deepEqual(await complete(spec.base, kind, p, false), [expected[i]], `${what} whole`);
      const deltas = await complete(spec.base, kind, p, true);
      assert.equal(deltas.join(''), expected[i], `${what} streamed: the deltas, in order, are the text`);
    }
    const together = await Promise.all(cases.map(({ p, kind }, i) => complete(spec.base, kind, p, i % 2 === 0).then((d) => d.join(''))));
    assert.deepEqual(together, expected, 'batched together');

    const m = await metrics(spec.base);
    assert.match(m, /^# HELP qiusuo_speculative_acceptance .+\n# TYPE qiusuo_speculative_acceptance gauge$/m);
    const positions = [...m.matchAll(/^qiusuo_speculative_acceptance\{position="(\d+)"\} /gm)].map((x) => x[1]);
    assert.ok(['1', '1,2'].includes(positions.join()), `one line per draft position reached, from 1: ${positions.join()}`);
    const first = gauge(m, 'qiusuo_speculative_acceptance{position="1"}');
    assert.ok(first > 0 && first <= 1, `position-1 acceptance ${first}`);
    assert.ok(gauge(m, 'qiusuo_speculative_accepted_per_step') > 1, 'kept drafts add tokens to a verify pass');
    assert.equal(gauge(m, 'qiusuo_speculative_draft_tokens'), 2);
    assert.doesNotMatch(await metrics(plain.base), /speculative/, 'without --speculative, no speculative metrics');
  } finally {
    await Promise.all([stop(plain), stop(spec)]);
  }
});

test('--speculative on a checkpoint without MTP, and bad --draft-tokens, exit 1 before listening with a message naming them', () => {
  const noMtp = tmp.tiny({ set: { num_nextn_predict_layers: 0 } });
  const cases: [string, string[], RegExp][] = [
    [noMtp, ['--speculative'], /^qiusuo: error: this checkpoint has no MTP module: config\.json num_nextn_predict_layers is 0\n$/],
    [dir, ['--speculative', '--draft-tokens', '0'], /^qiusuo: error: .*--draft-tokens must be an integer in \[1, ∞\], got "0"\n$/],
    [dir, ['--draft-tokens', '2'], /^qiusuo: error: --draft-tokens needs --speculative/],
    [dir, ['--speculative', '--draft-tokens', '31', '--context', '32'], /^qiusuo: error: --draft-tokens \(31\) must be at most --context - 2 \(30\)/],
    [dir, ['--speculative', '--draft-tokens', '127', '--context', '4096'], /^qiusuo: error: draft tokens must be an integer from 1 to 126 .*128-token context/],
  ];
  for (const [model, args, message] of cases) {
    const r = spawnSync(process.execPath, [BIN, 'serve', '--model', model, '--port', '0', ...args], { encoding: 'utf8', timeout: 30_000 });
    assert.equal(r.status, 1, args.join(' '));
    assert.match(r.stderr, message, args.join(' '));
    assert.equal(r.stdout, '', 'never announced a server');
  }
});
