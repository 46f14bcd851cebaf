// FP8 with limited-precision accumulation, the precision suite's negative control: training speed against f32 and
// fp8 and the kernel alone (train-low-acc.json, bench/train-low-acc.ts), then the kernel before and after it took
// 4 products per truncation (low-acc-ab.json, bench/low-acc-ab.ts). The A/B table gives ranges over three runs per
// build, of which the JSON keeps the last, so that table and the accuracy figures stay fixed text here.

import { read, meta, fmt, span } from './common.js';

interface LowAccRun { precision: string; round: number; steps: number; tokS: number; loadAverage: number }

/** The fake quantisation's target speed (issue 13): fp8 training at this fraction of f32 tokens/s. */
const FP8_TARGET = 0.6;

export function renderLowAcc(): string[] {
  const la = read('train-low-acc');
  if (!la) return [];
  const runs = la.runs as LowAccRun[];
  const stepSec = (p: string) => la.tokensPerStep / la.meanTokS[p];
  const rounds = Math.max(...runs.map((r) => r.round)) + 1;
  const extra = stepSec('fp8-low-acc') - stepSec('fp8');
  const k = la.kernel;
  const lines = [`## FP8 with limited-precision accumulation (${meta(la)})`, '',
    `\`bench/train-low-acc.ts\`: ${la.preset} on the Brown corpus, ${la.threads} threads, ${la.tokensPerStep} tokens per step; f32, fp8 and fp8-low-acc`,
    `(every FP8 product sum in a 14-bit truncating accumulator, no FP32 promotion) alternated in one process for ${rounds} rounds,`,
    `each run's first step left out; load average ${span(runs.map((r) => r.loadAverage))}. fp8 and fp8-low-acc both spend most of a step in the JS fake`,
    'quantisation (`f32ToE4m3`); what fp8-low-acc adds on top of fp8 is its own kernel, JS transposes for dgrad/wgrad',
    'operands and the f32 adds into the gradients.', '',
    '| precision | tokens/s (rounds) | s/step | step time / f32 | step time − fp8\'s |', '|---|---:|---:|---:|---:|'];
  for (const p of Object.keys(la.meanTokS)) {
    const perRound = runs.filter((r) => r.precision === p).map((r) => fmt(r.tokS, 0)).join(', ');
    lines.push(`| ${p} | ${fmt(la.meanTokS[p], 0)} (${perRound}) | ${fmt(stepSec(p), 2)} | ${fmt(stepSec(p) / stepSec('f32'), 2)}× |${p === 'fp8-low-acc' ? ` +${fmt(extra, 2)} s` : ''} |`);
  }
  const fp8AtTarget = stepSec('f32') / FP8_TARGET;
  lines.push('', `The kernel alone, x [${k.T}, ${k.C}] · W [${k.OC}, ${k.C}]ᵀ (nano's FFN up-projection), best of 20 alternated: f32 matmul`,
    `${fmt(k.f32Ms, 2)} ms (${fmt(k.f32Gflops)} GFLOP/s), matmulLowAcc ${fmt(k.lowAccMs, 2)} ms (${fmt(k.lowAccGflops)} GFLOP/s), ${fmt(k.lowAccMs / k.f32Ms)}× (its add-and-mask chain`,
    `per accumulator cannot use a fused multiply-add). With the fake quantisation at the fp8 target (${FP8_TARGET}× f32, ≈${fmt(fp8AtTarget)} s/step),`,
    `fp8-low-acc's extra ${fmt(extra, 2)} s would put it at ≈${fmt((fp8AtTarget + extra) / stepSec('f32'))}× an f32 step (an estimate, not measured).`, '');
  const ab = read('low-acc-ab');
  if (ab) {
    lines.push('The figures above are from the first definition, which truncated after every product (it lost ~7.8% of a K = 4096 sum',
      'of positive uniform [0, 1) products, against the paper\'s "nearly 2%" on H800). Since 2026-12-06 the accumulator takes',
      '4 products at a time, summed in f32 first: ~2.1% mean / 2.2% max at K = 4096, 0.07% at K = 128 (tested in',
      `test/kernels/matmul-low-acc.test.ts). \`bench/low-acc-ab.ts\`, the kernel alone on ${ab.threads} thread, same shape, before (A)`,
      `against after (B) alternated in one process, median of ${ab.rounds} rounds, three runs per build, load average 3.4–4.1`,
      `(bench/results/low-acc-ab.json keeps the last ${ab.flavour} run). Not slower: the truncating add-and-mask chain now runs once`,
      'per 4 products.', '',
      '| build | per-product truncation (A) | groups of 4 (B) | B/A speed-up (median of round ratios) |', '|---|---:|---:|---:|',
      '| simd | 5.27–5.35 ms (18.8–19.1 GFLOP/s) | 4.99–5.09 ms (19.8–20.2 GFLOP/s) | 1.04–1.06× |',
      '| relaxed | 5.30–5.51 ms (18.3–19.0 GFLOP/s) | 5.03–5.24 ms (19.2–20.0 GFLOP/s) | 1.03–1.05× |', '');
  }
  return lines;
}
