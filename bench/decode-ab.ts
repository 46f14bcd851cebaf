// Batch-1 decode A/B in one process: two or more sides, each a build of qiusuo (a dist/ folder) at a thread count,
// load the same model and decode in alternation, round after round, so the shared machine's drift (±30% here, and
// bursts of other processes) touches all alike. Each run: a 64-token prompt, then `tokens` decode steps with logits
// (as `bench generate`); each side's figure is the median over the rounds, and its speed-up over the first side is
// also taken per round (that median is the robust one).
//   node --import tsx bench/decode-ab.ts MODEL_DIR A_DIST:THREADS B_DIST:THREADS [...] [--rounds 15] [--tokens 64]
// e.g. `... /work/runs/nano/checkpoint-000627 /tmp/base/dist:1 dist:1`; a side without :THREADS takes its build's
// default thread count. Prints one JSON line.

import * as path from 'node:path';
import { pathToFileURL } from 'node:url';

interface Side { dist: string; threads: number | undefined; decodeMs: (tokens: number, seed: number) => number; dispose: () => Promise<void> }

async function side(spec: string, model: string): Promise<Side> {
  const [dist, t] = spec.split(':');
  const threads = t === undefined ? undefined : Number(t);  // none: the build's default
  const from = (m: string) => import(pathToFileURL(path.resolve(dist, m)).href);
  const { DeepSeekModel } = await from('model/transformer.js');
  const { Scope } = await from('tensor/tensor.js');
  const m = DeepSeekModel.load(model, { threads });
  const V: number = m.cfg.vocabSize;
  const decodeMs = (tokens: number, seed: number): number => {
    const cache = m.newCache(1, 64 + tokens);
    try {
      const slot = cache.acquire();
      let s = new Scope(m.ctx.heap);
      m.prefill(s, Array.from({ length: 64 }, (_, i) => (seed * 7919 + i * 131) % V), cache, slot);
      s.release();
      const t0 = performance.now();
      for (let i = 0; i < tokens; i++) {
        s = new Scope(m.ctx.heap);
        m.logits(s, m.decode(s, [(seed * 31 + i * 977) % V], cache, [slot]), 1);
        s.release();
      }
      return performance.now() - t0;
    } finally {
      cache.dispose();
    }
  };
  return { dist, threads, decodeMs, dispose: () => m.dispose() };
}

const argv = process.argv.slice(2);
const opt = (name: string, dflt: number) => { const i = argv.indexOf(name); return i < 0 ? dflt : Number(argv.splice(i, 2)[1]); };
const rounds = opt('--rounds', 15), tokens = opt('--tokens', 64);
const [model, ...specs] = argv;
if (specs.length < 2) throw new Error('usage: decode-ab.ts MODEL_DIR A_DIST:THREADS B_DIST:THREADS [C_DIST:THREADS ...] [--rounds N] [--tokens N]');
const sides: Side[] = [];
for (const spec of specs) sides.push(await side(spec, model));
for (let i = 0; i < 3; i++) for (const s of sides) s.decodeMs(tokens, 100 + i); // warm-up (tier-up)
const times: number[][] = sides.map(() => []);
for (let r = 0; r < rounds; r++) {
  // Rotate which side goes first, so none always runs right after another's pool went idle.
  for (let j = 0; j < sides.length; j++) { const i = (r + j) % sides.length; times[i].push(sides[i].decodeMs(tokens, r)); }
}
const median = (xs: number[]) => [...xs].sort((x, y) => x - y)[(xs.length - 1) >> 1];
const tokS = (ms: number) => Math.round((1000 * tokens) / ms);
console.log(JSON.stringify({
  model: path.basename(path.dirname(model)), rounds, tokens,
  sides: specs.map((spec, i) => ({ side: spec, tok_s: tokS(median(times[i])), over_first: Number(median(times[0].map((x, r) => x / times[i][r])).toFixed(3)) })),
}));
for (const s of sides) await s.dispose();
