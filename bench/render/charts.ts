// How long an experiment report waits for its SVG charts (charts-render.json, bench/charts-render.ts). What each
// chart's input is, the repeat count and the import and dist/ timings are not in the JSON: fixed text here.

import { read, meta, fmt } from './common.js';

/** Each chart of the JSON: the function that draws it and the report-sized input the bench gives it. */
const CHARTS: Record<string, [name: string, input: string]> = {
  line: ['lineChart', '4 series × 200 points'],
  heatmaps: ['heatmaps', '15 genres × 64 experts × 3 panels'],
  bar: ['barChart', '6 bars with error bars'],
};

export function renderCharts(): string[] {
  const ch = read('charts-render');
  if (!ch) return [];
  const lines = [`## Report charts (${meta(ch)})`, '',
    '`bench/charts-render.ts`: SVG rendering through vega-lite + vega\'s headless View (src/experiment/charts.ts), report-sized',
    `inputs. The first chart of a process also loads vega and vega-lite: ${fmt(ch.first.ms / 1000)} s under tsx, 0.4–0.7 s from compiled dist/ in`,
    'plain node; importing charts.js itself costs ~12 ms because vega is loaded on the first call only.', '',
    '| chart | input | median ms (10 renders, after the first) | SVG bytes |', '|---|---|---:|---:|'];
  for (const c of ch.later as { chart: string; medianMs: number; bytes: number }[]) {
    const [name, input] = CHARTS[c.chart] ?? [c.chart, ''];
    lines.push(`| ${name} | ${input} | ${fmt(c.medianMs, 0)} | ${c.bytes.toLocaleString('en-US')} |`);
  }
  lines.push('');
  return lines;
}
