// The report charts: each draws one mark per line, cell or bar it was given (non-finite values dropped), names its
// series, rows, panels and bars, is well-formed markup, gives the same bytes for the same input, and refuses bad
// input with an error naming the chart. Leaves out how the charts look (checked by eye on screenshots).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { barChart, heatmaps, lineChart, type HeatmapsSpec, type LineChartSpec } from '../../src/experiment/charts.js';

/** Every tag closes in the order it opened: what an XML parser would first complain about. */
function assertBalancedTags(svg: string): void {
  assert.ok(svg.startsWith('<svg '), svg.slice(0, 80));
  const open: string[] = [];
  for (const [tag, closing, name, selfClosing] of svg.matchAll(/<(\/?)([a-zA-Z][\w:-]*)(?:\s[^<>]*?)?(\/?)>/g)) {
    if (selfClosing) continue;
    if (!closing) open.push(name!);
    else assert.equal(open.pop(), name, `${tag} closes the wrong element`);
  }
  assert.deepEqual(open, [], 'unclosed elements');
  assert.doesNotMatch(svg.replace(/<[^<>]*>/g, ''), /[<>]/, 'a bare < or > in text');
}

/** Items of vega mark groups whose class contains `markClass`, e.g. 'mark-rect role-mark child_marks'. */
function countMarkItems(svg: string, markClass: string, element: string): number {
  const groups = [...svg.matchAll(new RegExp(`<g class="${markClass}[^"]*"[^>]*>(.*?)</g>`, 'g'))];
  return groups.reduce((n, [, inner]) => n + (inner!.match(new RegExp(`<${element}[ />]`, 'g'))?.length ?? 0), 0);
}

const count = (svg: string, text: string) => svg.split(text).length - 1;
const textsOf = (svg: string) => [...svg.matchAll(/<text[^>]*>([^<]*)<\/text>/g)].map(([, t]) => t);

const lossCurves: LineChartSpec = {
  title: 'val loss',
  xTitle: 'step',
  yTitle: 'loss (nats)',
  series: [
    { name: 'aux-free', points: [[0, 5], [10, 4], [20, NaN], [30, 3.5], [40, Infinity]] },
    { name: 'aux-loss & <bias>', points: [[0, 5.2], [10, 4.4], [20, 4.1]] },
    { name: 'diverged', points: [[0, NaN], [10, -Infinity]] },
  ],
};

const heatmapBase: HeatmapsSpec = {
  title: 'load',
  rowTitle: 'genre',
  colTitle: 'expert',
  colorTitle: 'load',
  rows: ['a', 'b'],
  cols: ['0', '1'],
  panels: [{ name: 'layer 1', values: [[1, 2], [3, 4]] }],
};

test('lineChart: one line per series with a finite point, every series in the legend, 640×360, no NaN drawn', async () => {
  const svg = await lineChart(lossCurves);
  assertBalancedTags(svg);
  assert.match(svg, /^<svg [^>]*width="640" height="360"/);
  assert.equal(count(svg, 'aria-roledescription="line mark"'), 2, 'the diverged series draws no line');
  const texts = textsOf(svg);
  for (const label of ['val loss', 'step', 'loss (nats)', 'aux-free', 'aux-loss &amp; &lt;bias&gt;', 'diverged']) {
    assert.ok(texts.includes(label), `no text "${label}" among ${JSON.stringify(texts)}`);
  }
  assert.doesNotMatch(svg, /NaN|Infinity/);
});

test('lineChart: a log axis drops points at or below zero, and yDomain fixes the axis ends', async () => {
  const svg = await lineChart({
    ...lossCurves,
    logY: true,
    yDomain: [1, 100],
    series: [{ name: 'a', points: [[0, 8], [10, 0], [20, 2]] }, { name: 'b', points: [[0, -1]] }],
  });
  assertBalancedTags(svg);
  assert.equal(count(svg, 'aria-roledescription="line mark"'), 1);
  assert.match(svg, /for a log scale with values from 1 to 100/);
});

test('heatmaps: one cell per finite value, every row, column and panel named, one shared colour legend', async () => {
  const rows = ['press: reportage', 'religion', 'fiction: romance'];
  const cols = ['0', '1', '2', '3'];
  const panel = (name: string, base: number) => ({ name, values: rows.map((_, r) => cols.map((_, c) => base + r + c / 4)) });
  const spec: HeatmapsSpec = {
    title: 'expert load per genre',
    rowTitle: 'genre',
    colTitle: 'expert',
    colorTitle: 'load / balanced',
    rows,
    cols,
    panels: [panel('layer 1', 0), panel('layer 2', 1), { name: 'layer 3', values: rows.map(() => [NaN, 1, 2, 3]) }],
    domain: [0, 4],
    midpoint: 1,
  };
  const svg = await heatmaps(spec);
  assertBalancedTags(svg);
  assert.equal(countMarkItems(svg, 'mark-rect role-mark', 'path'), 3 * rows.length * cols.length - rows.length);
  assert.equal(count(svg, '<linearGradient'), 1, 'one legend for the colour scale all panels share');
  const texts = textsOf(svg);
  for (const label of [...rows, ...cols, 'layer 1', 'layer 2', 'layer 3', 'load / balanced', 'genre', 'expert']) {
    assert.ok(texts.includes(label), `no text "${label}"`);
  }
});

test('barChart: one bar per finite value, an error bar where a spread is given, a slot for every name', async () => {
  const svg = await barChart({
    title: 'final val loss',
    yTitle: 'loss',
    bars: [
      { name: 'aux-free', value: 3.2145, error: 0.03 },
      { name: 'aux-loss', value: 3.25, error: NaN },
      { name: 'none', value: NaN, error: 0.1 },
      { name: 'dense', value: 3.4, error: 0 },
    ],
  });
  assertBalancedTags(svg);
  assert.equal(count(svg, 'aria-roledescription="bar"'), 3);
  assert.equal(countMarkItems(svg, 'mark-rule role-mark', 'line'), 2, 'error bars for aux-free and dense only');
  const texts = textsOf(svg);
  for (const label of ['aux-free', 'aux-loss', 'none', 'dense', '3.215', '3.25', '3.4', 'loss']) {
    assert.ok(texts.includes(label), `no text "${label}" among ${JSON.stringify(texts)}`);
  }
});

test('the same input gives the same bytes, whatever was drawn before', async () => {
  const first = await lineChart(lossCurves);
  await barChart({ title: 't', yTitle: 'y', bars: [{ name: 'a', value: 1 }] });
  await lineChart({ ...lossCurves, title: 'another chart' });
  assert.equal(await lineChart(lossCurves), first);
});

test('charts drawn on one page get distinct ids', async () => {
  const ids = (svg: string) => [...svg.matchAll(/ id="([^"]+)"/g)].map(([, id]) => id);
  const a = ids(await lineChart(lossCurves));
  const b = ids(await lineChart({ ...lossCurves, title: 'val loss, seed 1' }));
  assert.ok(a.length > 0);
  assert.deepEqual(a.filter((id) => b.includes(id)), []);
});

test('degenerate but valid inputs draw without a warning from the chart library', async () => {
  const svgs = await Promise.all([
    lineChart({ ...lossCurves, series: [{ name: 'one point', points: [[5, 2]] }] }),
    lineChart({ ...lossCurves, series: Array.from({ length: 12 }, (_, i) => ({ name: `flat ${i}`, points: [[0, 1], [1, 1]] })) }),
    heatmaps({ ...heatmapBase, panels: [{ name: 'flat', values: [[2, 2], [2, NaN]] }] }),
    barChart({ title: 'one bar', yTitle: 'tokens/s', bars: [{ name: 'fp8', value: 1200 }] }),
    barChart({ title: 'below zero', yTitle: 'Δ loss', bars: [{ name: 'a', value: -0.02, error: 0.01 }, { name: 'b', value: 0 }] }),
  ]);
  for (const svg of svgs) assertBalancedTags(svg);
});


const badInputs: { name: string; draw: () => Promise<string>; error: RegExp }[] = [
  { name: 'no series', draw: () => lineChart({ ...lossCurves, series: [] }), error: /^lineChart "val loss": series is empty/ },
  {
    name: 'a series with no points',
    draw: () => lineChart({ ...lossCurves, series: [{ name: 'a', points: [[0, 1]] }, { name: 'b', points: [] }] }),
    error: /^lineChart "val loss": series "b" has no points$/,
  },
  {
    name: 'nothing finite',
    draw: () => lineChart({ ...lossCurves, series: [{ name: 'a', points: [[0, NaN]] }] }),
    error: /^lineChart "val loss": no series has a finite point$/,
  },
  {
    name: 'a repeated series name',
    draw: () => lineChart({ ...lossCurves, series: [lossCurves.series[0]!, lossCurves.series[0]!] }),
    error: /series name "aux-free" appears twice/,
  },
  {
    name: 'a point that is not a pair',
    draw: () => lineChart({ ...lossCurves, series: [{ name: 'a', points: [[0, 1], [1] as unknown as [number, number]] }] }),
    error: /point 1 of series "a" must be an \[x, y\] pair/,
  },
  {
    name: 'a log axis from zero',
    draw: () => lineChart({ ...lossCurves, logY: true, yDomain: [0, 10] }),
    error: /yDomain \[0, 10\] must be two finite numbers 0 < lo < hi/,
  },
  { name: 'no title', draw: () => lineChart({ ...lossCurves, title: ' ' }), error: /^lineChart: title must be a non-empty string$/ },
  { name: 'no panels', draw: () => heatmaps({ ...heatmapBase, panels: [] }), error: /^heatmaps "load": panels is empty/ },
  {
    name: 'a panel missing a row',
    draw: () => heatmaps({ ...heatmapBase, panels: [{ name: 'layer 1', values: [[1, 2]] }] }),
    error: /^heatmaps "load": panel "layer 1" must have 2 rows of values/,
  },
  {
    name: 'a row missing a column',
    draw: () => heatmaps({ ...heatmapBase, panels: [{ name: 'layer 1', values: [[1, 2], [3]] }] }),
    error: /panel "layer 1", row "b" must be 2 numbers/,
  },
  {
    name: 'a reversed colour domain',
    draw: () => heatmaps({ ...heatmapBase, domain: [4, 0] }),
    error: /^heatmaps "load": domain \[4, 0\] must be two finite numbers lo < hi$/,
  },
  { name: 'no bars', draw: () => barChart({ title: 'b', yTitle: 'y', bars: [] }), error: /^barChart "b": bars is empty/ },
  {
    name: 'a negative spread',
    draw: () => barChart({ title: 'b', yTitle: 'y', bars: [{ name: 'x', value: 1, error: -0.1 }] }),
    error: /^barChart "b": bar "x" error -0.1 must be a number ≥ 0/,
  },
];

for (const { name, draw, error } of badInputs) {
  test(`refused with an error naming the chart: ${name}`, async () => {
    await assert.rejects(draw(), { message: error });
  });
}
