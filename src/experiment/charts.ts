// The SVG charts of experiment reports: loss curves (lineChart), expert load per genre (heatmaps), and one number per
// arm (barChart). Each builds a Vega-Lite spec from a small typed input and renders it headless (vega-svg.ts).
// Same input, same SVG bytes. Non-finite numbers are dropped, never drawn and never an error: a run that diverged
// still keeps its legend entry or axis slot, so the reader sees that it was there.
import type { TopLevelSpec } from 'vega-lite';
import { chartName, requireDomain, requireNonEmptyArray, requireText, requireUniqueNames } from './chart-inputs.js';
import { renderVegaLiteSvg } from './vega-svg.js';

/** Size of the whole SVG (legend and titles included) for lineChart and barChart. */
const CHART_WIDTH = 640;
const CHART_HEIGHT = 360;
/** Curves with at most this many points per series (evaluation curves) get a marker per point; denser training
 *  curves would drown in them. */
const MARKERS_UP_TO_POINTS = 30;
/** Heatmap cells: a panel is about this wide, whatever the number of experts, within these cell widths. */
const HEATMAP_PANEL_WIDTH = 360;
const HEATMAP_CELL_WIDTH: readonly [number, number] = [6, 28];
const HEATMAP_CELL_HEIGHT = 14;
/** Heatmap panels wrap into rows no wider than this. */
const HEATMAP_ROW_WIDTH = 1100;

/** The size and title every line and bar chart shares: CHART_WIDTH × CHART_HEIGHT, legend and axes included. */
function frame(title: string) {
  return { title, width: CHART_WIDTH, height: CHART_HEIGHT, autosize: { type: 'fit' as const, contains: 'padding' as const } };
}

export interface LineSeries {
  name: string;
  /** [x, y] pairs, e.g. [step, val loss]; drawn in x order. */
  points: readonly (readonly [number, number])[];
}

export interface LineChartSpec {
  title: string;
  xTitle: string;
  yTitle: string;
  series: readonly LineSeries[];
  /** A logarithmic y axis; points with y ≤ 0 cannot sit on it and are dropped like non-finite ones. */
  logY?: boolean;
  /** Fixed y range; parts of lines outside it are clipped. Default: fitted to the data. */
  yDomain?: readonly [number, number];
}

/**
 * One line per series with a legend, 640×360. A series whose points are all non-finite keeps its legend entry and
 * draws nothing; a series with no points at all, or a chart with nothing drawable, is an error.
 */
export async function lineChart(spec: LineChartSpec): Promise<string> {
  const chart = chartName('lineChart', spec.title);
  const series = requireNonEmptyArray(chart, 'series', spec.series);
  const names = requireUniqueNames(chart, 'series', series.map((s) => s?.name));
  const logY = spec.logY ?? false;
  const yDomain = spec.yDomain === undefined ? undefined : requireDomain(chart, 'yDomain', spec.yDomain, logY);
  const rows: { series: string; x: number; y: number }[] = [];
  series.forEach(({ points }, i) => {
    if (!Array.isArray(points) || points.length === 0) throw new Error(`${chart}: series "${names[i]}" has no points`);
    points.forEach((point, j) => {
      if (!Array.isArray(point) || point.length !== 2 || point.some((v) => typeof v !== 'number')) {
        throw new Error(`${chart}: point ${j} of series "${names[i]}" must be an [x, y] pair of numbers`);
      }
      const [x, y] = point;
      if (Number.isFinite(x) && Number.isFinite(y) && (!logY || y > 0)) rows.push({ series: names[i], x, y });
    });
  });
  if (rows.length === 0) {
    throw new Error(`${chart}: no series has a finite point${logY ? ' above zero (the y axis is logarithmic)' : ''}`);
  }
  const longest = Math.max(...series.map((s) => s.points.length));
  const vl: TopLevelSpec = {
    ...frame(spec.title),
    data: { values: rows },
    mark: { type: 'line', clip: true, point: longest <= MARKERS_UP_TO_POINTS },
    encoding: {
      x: { field: 'x', type: 'quantitative', title: requireText(chart, 'xTitle', spec.xTitle), scale: { zero: false } },
      y: {
        field: 'y',
        type: 'quantitative',
        title: requireText(chart, 'yTitle', spec.yTitle),
        scale: { ...(logY ? { type: 'log' } : { zero: false }), ...(yDomain && { domain: yDomain }) },
      },
      color: {
        field: 'series',
        type: 'nominal',
        title: null,
        // Listing every name keeps a series that drew nothing in the legend, and the colours in the caller's order.
        scale: { domain: names, scheme: names.length <= 10 ? 'tableau10' : 'tableau20' },
        legend: { labelLimit: 240 },
      },
    },
  };
  return renderVegaLiteSvg(chart, vl);
}

export interface HeatmapPanel {
  name: string;
  /** values[row][col], one number per row name and column name of the chart. */
  values: readonly (readonly number[])[];
}

export interface HeatmapsSpec {
  title: string;
  rowTitle: string;
  colTitle: string;
  rows: readonly string[];
  cols: readonly string[];
  panels: readonly HeatmapPanel[];
  colorTitle: string;
  /** Fixed colour range, values outside take its end colours. Default: fitted to all panels together. */
  domain?: readonly [number, number];
  /** A value that means "neutral" (1 for load / balanced load): the colours then diverge from white there. */
  midpoint?: number;
}

/**
 * One heatmap per panel, wrapped into rows, with one colour scale shared by all panels and one legend. Non-finite
 * cells stay blank.
 */
export async function heatmaps(spec: HeatmapsSpec): Promise<string> {
  const chart = chartName('heatmaps', spec.title);
  const rows = requireUniqueNames(chart, 'row', requireNonEmptyArray(chart, 'rows', spec.rows));
  const cols = requireUniqueNames(chart, 'column', requireNonEmptyArray(chart, 'cols', spec.cols));
  const panels = requireNonEmptyArray(chart, 'panels', spec.panels);
  const panelNames = requireUniqueNames(chart, 'panel', panels.map((p) => p?.name));
  const domain = spec.domain === undefined ? undefined : requireDomain(chart, 'domain', spec.domain);
  if (spec.midpoint !== undefined && !Number.isFinite(spec.midpoint)) {
    throw new Error(`${chart}: midpoint ${spec.midpoint} must be a finite number`);
  }
  const cells: { panel: string; row: string; col: string; value: number }[] = [];
  panels.forEach(({ values }, p) => {
    const where = `panel "${panelNames[p]}"`;
    if (!Array.isArray(values) || values.length !== rows.length) {
      throw new Error(`${chart}: ${where} must have ${rows.length} rows of values (one per row name)`);
    }
    values.forEach((line, r) => {
      if (!Array.isArray(line) || line.length !== cols.length || line.some((v) => typeof v !== 'number')) {
        throw new Error(`${chart}: ${where}, row "${rows[r]}" must be ${cols.length} numbers (one per column)`);
      }
      line.forEach((value, c) => {
        if (Number.isFinite(value)) cells.push({ panel: panelNames[p], row: rows[r], col: cols[c], value });
      });
    });
  });
  if (cells.length === 0) throw new Error(`${chart}: every value is non-finite, so there is nothing to draw`);
  const [minCell, maxCell] = HEATMAP_CELL_WIDTH;
  const cellWidth = Math.min(maxCell, Math.max(minCell, Math.floor(HEATMAP_PANEL_WIDTH / cols.length)));
  // Only the first panel of a row carries the row names; the estimate keeps the wrapped rows inside the width.
  const panelWidth = cellWidth * cols.length + 40;
  const vl: TopLevelSpec = {
    title: spec.title,
    data: { values: cells },
    columns: Math.max(1, Math.min(panels.length, Math.floor(HEATMAP_ROW_WIDTH / panelWidth))),
    facet: { field: 'panel', type: 'nominal', sort: panelNames, title: null, header: { labelFontSize: 12 } },
    spec: {
      width: { step: cellWidth },
      height: { step: HEATMAP_CELL_HEIGHT },
      // Thousands of cells: the per-cell accessibility labels would triple the file and say nothing a reader can use.
      mark: { type: 'rect', aria: false },
      encoding: {
        x: {
          field: 'col',
          type: 'ordinal',
          sort: cols,
          scale: { domain: cols },
          title: requireText(chart, 'colTitle', spec.colTitle),
          axis: { labelAngle: 0, labelOverlap: 'parity' },
        },
        y: {
          field: 'row',
          type: 'ordinal',
          sort: rows,
          scale: { domain: rows },
          title: requireText(chart, 'rowTitle', spec.rowTitle),
          axis: { labelLimit: 240 },
        },
        color: {
          field: 'value',
          type: 'quantitative',
          title: requireText(chart, 'colorTitle', spec.colorTitle),
          scale: {
            ...(domain && { domain, clamp: true }),
            ...(spec.midpoint === undefined ? { scheme: 'viridis' } : { scheme: 'blueorange', domainMid: spec.midpoint }),
          },
        },
      },
    },
    resolve: { scale: { color: 'shared' } },
  };
  return renderVegaLiteSvg(chart, vl);
}

/** One layer of a layered Vega-Lite spec (vega-lite exports the top-level type only). */
type LayerOf<Spec> = Spec extends { layer: readonly (infer L)[] } ? L : never;

export interface Bar {
  name: string;
  value: number;
  /** The spread over seeds, drawn as value ± error; non-finite means no error bar. */
  error?: number;
}

export interface BarChartSpec {
  title: string;
  yTitle: string;
  bars: readonly Bar[];
}

/**
 * One bar per entry in the given order, labelled with its value, 640×360. A non-finite value leaves its slot on the
 * axis empty.
 */
export async function barChart(spec: BarChartSpec): Promise<string> {
  const chart = chartName('barChart', spec.title);
  const bars = requireNonEmptyArray(chart, 'bars', spec.bars);
  const names = requireUniqueNames(chart, 'bar', bars.map((b) => b?.name));
  bars.forEach(({ value, error }, i) => {
    if (typeof value !== 'number') throw new Error(`${chart}: bar "${names[i]}" value must be a number`);
    if (error !== undefined && (typeof error !== 'number' || error < 0)) {
      throw new Error(`${chart}: bar "${names[i]}" error ${error} must be a number ≥ 0 (the spread over seeds)`);
    }
  });
  const drawn = bars.flatMap(({ value, error }, i) => {
    if (!Number.isFinite(value)) return [];
    const spread = error !== undefined && Number.isFinite(error) ? error : undefined;
    // The label sits above the bar and its error bar, or above the zero line for a negative bar.
    const labelAt = Math.max(0, value + (spread ?? 0));
    const errorBar = spread === undefined ? {} : { lo: value - spread, hi: value + spread };
    return [{ name: names[i], value, labelAt, ...errorBar }];
  });
  if (drawn.length === 0) throw new Error(`${chart}: every bar value is non-finite, so there is nothing to draw`);
  const yTitle = requireText(chart, 'yTitle', spec.yTitle);
  const x = {
    field: 'name',
    type: 'nominal',
    sort: names,
    scale: { domain: names }, // a bar with no value keeps its slot
    title: null,
    axis: { labelAngle: 0 },
  } as const;
  // Without a single spread the error-bar layer would have no data, and vega warns about its empty extent.
  const errorBars: LayerOf<TopLevelSpec>[] = drawn.some((bar) => bar.lo !== undefined)
    ? [
        {
          transform: [{ filter: 'isValid(datum.lo)' }],
          mark: { type: 'errorbar', ticks: true, color: 'black' },
          encoding: { y: { field: 'lo', type: 'quantitative', title: yTitle }, y2: { field: 'hi' } },
        },
      ]
    : [];
  const vl: TopLevelSpec = {
    ...frame(spec.title),
    data: { values: drawn },
    encoding: { x },
    layer: [
      { mark: 'bar', encoding: { y: { field: 'value', type: 'quantitative', title: yTitle } } },
      ...errorBars,
      {
        mark: { type: 'text', baseline: 'bottom', dy: -3 },
        encoding: {
          y: { field: 'labelAt', type: 'quantitative', title: yTitle },
          text: { field: 'value', type: 'quantitative', format: '.4~r' },
        },
      },
    ],
  };
  return renderVegaLiteSvg(chart, vl);
}
