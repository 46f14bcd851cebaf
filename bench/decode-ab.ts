// Batch-1 decode A/B in one process: two sides, each a build of qiusuo (a dist/ folder) at a thread count, load the
// same model and decode in alternation, round after round, so the shared machine's drift (±30% here) touches both
// alike. Each run: a 64-token prompt, then `tokens` decode steps with logits (as `bench generate`); each side's
// figure is the median over the rounds, and the ratio B/A is also taken per round (its median is the robust one).
//   node --import tsx bench/decode-ab.ts MODEL_DIR A_DIST:THREADS B_DIST:THREADS [--rounds 15] [--tokens 64]
// e.g. `... /work/runs/nano/checkpoint-000627 /tmp/base/dist:1 dist:1`. Prints one JSON line.

import * as path from 'node:path';
import { pathToFileURL } from 'node:url';

interface Side { dist: string; threads: number; decodeMs: (tokens: number, seed: number) => number; dispose: () => Promise<void> }

async function side(spec: string, model: string): Promise<Side> {
  const [dist, t] = spec.split(':');
  const threads = Number(t ?? 1);
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
const [model, aSpec, bSpec] = argv;
if (!bSpec) throw new Error('usage: decode-ab.ts MODEL_DIR A_DIST:THREADS B_DIST:THREADS [--rounds N] [--tokens N]');
const a = await side(aSpec, model), b = await side(bSpec, model);
for (let i = 0; i < 3; i++) { a.decodeMs(tokens, 100 + i); b.decodeMs(tokens, 100 + i); } // warm-up (tier-up)
const ta: number[] = [], tb: number[] = [];
for (let r = 0; r < rounds; r++) {
  // Alternate which side goes first, so neither always runs right after the other's pool went idle.
  if (r % 2 === 0) { ta.push(a.decodeMs(tokens, r)); tb.push(b.decodeMs(tokens, r)); } else { tb.push(b.decodeMs(tokens, r)); ta.push(a.decodeMs(tokens, r)); }
}
const median = (xs: number[]) => [...xs].sort((x, y) => x - y)[(xs.length - 1) >> 1];
const tokS = (ms: number) => (1000 * tokens) / ms;
console.log(JSON.stringify({
  model: path.basename(path.dirname(model)), a: aSpec, b: bSpec, rounds, tokens,
  a_tok_s: Math.round(tokS(median(ta))), b_tok_s: Math.round(tokS(median(tb))),
  b_over_a: Number(median(ta.map((x, i) => x / tb[i])).toFixed(3)),
}));
await a.dispose();
await b.dispose();
