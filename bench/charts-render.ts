// How long an experiment report waits for its charts: the first chart of a process (which loads vega and vega-lite)
// and later ones, for report-sized inputs — 4 loss curves of 200 points, expert load of 15 Brown genres × 64 experts
// × 3 layers, 6 bars with spreads. Writes bench/results/charts-render.json. Leaves out file writing (the report's).

import * as fs from 'node:fs';
import * as os from 'node:os';
import { barChart, heatmaps, lineChart } from '../src/experiment/charts.js';

const REPEATS = 10;
const GENRES = 15;
const EXPERTS = 64;
const LAYERS = 3;

const curve = (floor: number, n: number): [number, number][] => Array.from({ length: n }, (_, i) => [i * 5, floor + 3 / Math.sqrt(i + 1)]);
const draw = {
  line: () => lineChart({
    title: 'val loss',
    xTitle: 'step',
    yTitle: 'loss',
    series: ['aux-free', 'aux-loss', 'none', 'dense'].map((name, i) => ({ name, points: curve(3 + i / 10, 200) })),
  }),
  heatmaps: () => heatmaps({
    title: 'expert load per genre',
    rowTitle: 'genre',
    colTitle: 'expert',
    colorTitle: 'load / balanced',
    rows: Array.from({ length: GENRES }, (_, g) => `genre ${g}`),
    cols: Array.from({ length: EXPERTS }, (_, e) => String(e)),
    panels: Array.from({ length: LAYERS }, (_, l) => ({
      name: `layer ${l + 1}`,
      values: Array.from({ length: GENRES }, (_, g) => Array.from({ length: EXPERTS }, (_, e) => ((g * 7 + e * 13 + l) % 17) / 4)),
    })),
    domain: [0, 4],
    midpoint: 1,
  }),
  bar: () => barChart({
    title: 'final val loss',
    yTitle: 'loss',
    bars: ['aux-free', 'aux-loss', 'none', 'dense', 'fp8', 'bf16'].map((name, i) => ({ name, value: 3 + i / 20, error: 0.02 })),
  }),
};

async function timed(render: () => Promise<string>): Promise<{ ms: number; bytes: number }> {
  const t0 = performance.now();
  const svg = await render();
  return { ms: performance.now() - t0, bytes: svg.length };
}

const first = { chart: 'line', ...(await timed(draw.line)) };
console.log(`first chart of the process (loads vega): ${first.ms.toFixed(0)} ms`);
const later: { chart: string; medianMs: number; minMs: number; bytes: number }[] = [];
for (const [chart, render] of Object.entries(draw)) {
  const runs = [];
  for (let i = 0; i < REPEATS; i++) runs.push(await timed(render));
  const ms = runs.map((r) => r.ms).sort((a, b) => a - b);
  later.push({ chart, medianMs: ms[(ms.length - 1) >> 1]!, minMs: ms[0]!, bytes: runs[0]!.bytes });
  console.log(`${chart}: median ${ms[(ms.length - 1) >> 1]!.toFixed(0)} ms over ${REPEATS} renders, ${runs[0]!.bytes} bytes`);
}
fs.mkdirSync('bench/results', { recursive: true });
fs.writeFileSync('bench/results/charts-render.json', JSON.stringify({
  machine: os.cpus()[0]?.model, cores: os.cpus().length, node: process.version, date: new Date().toISOString(), first, later,
}, null, 2) + '\n');
