// Compare view of the training dashboard: lists the runs (/api/runs), polls each one's metrics.jsonl every 2 s
// (/api/runs/:i/metrics, from where it left off) and overlays their curves on one set of uPlot charts, one colour
// per run, against the step or the elapsed time. Leaves out: the single run's heatmaps and header stats
// (dashboard.js), anything that changes a run.

import { createKeyedFetch } from '/static/api-key.js';
import { POLL_MS, PLOT_HEIGHT, STEP_INCRS, num, percent, fmtPercent, fmtNum, fmtSci, fmtDuration, lastFinite, mean,
  appendRecords, runState, readTheme, fitAxis, axisStyle } from '/static/chart-kit.js';

/** One chart per metric; `sparse` metrics exist at evaluation steps only; `optional` charts show once a run has one. */
const CHARTS = [
  { id: 'loss', value: (r) => r.loss },
  { id: 'val-bpb', value: (r) => r.valBpb, sparse: true },
  { id: 'val-loss', value: (r) => r.valLoss, sparse: true },
  { id: 'throughput', value: (r) => r.tokensPerSec },
  { id: 'maxvio', value: (r) => (Array.isArray(r.maxVio) ? mean(r.maxVio.map(num)) : null) },
  { id: 'lr', value: (r) => r.lr, fmt: fmtSci },
  { id: 'mtp-agree', value: (r) => percent(r.valMtpAgreement), sparse: true, optional: true, fmt: fmtPercent },
];

/** Tick spacings in seconds that read as round durations (10s, 5m, 2h). */
const TIME_INCRS = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 3 * 3600, 6 * 3600, 12 * 3600, 86400, 2 * 86400, 7 * 86400];

/** The x axes: the step, or seconds since the run started (equal-time comparisons: a faster arm gets further). */
const X_AXES = {
  step: { label: 'step', value: (r) => r.step, fmt: (v) => String(v), incrs: STEP_INCRS },
  time: { label: 'elapsed', value: (r) => r.elapsedSec, fmt: fmtDuration, incrs: TIME_INCRS },
};

// Tableau 10: distinct on light and dark backgrounds; more runs than colours take evenly spaced hues instead.
const PALETTE = ['#4e79a7', '#f28e2b', '#e15759', '#76b7b2', '#59a14f', '#edc948', '#b07aa1', '#ff9da7', '#9c755f', '#bab0ac'];

function runColor(theme, i, n) { return n <= PALETTE.length ? PALETTE[i] : theme.layer(i, n); }

// ---- chart data ----------------------------------------------------------------------------------------------

/** [xs, ys] of one run for one chart: x strictly increasing (a resumed clock could step back), sparse metrics' gaps dropped. */
function runTable(records, chart, x) {
  const xs = [], ys = [];
  for (const r of records) {
    const xv = num(x.value(r)), yv = num(chart.value(r));
    if (xv === null || (xs.length && xv <= xs[xs.length - 1]) || (chart.sparse && yv === null)) continue;
    xs.push(xv);
    ys.push(yv);
  }
  return [xs, ys];
}

/**
 * All runs on one x: uPlot.join leaves `undefined` where a run has no point at another run's x (drawn across) and
 * keeps a run's own nulls (non-finite steps) as gaps.
 */
function chartData(view, chart) {
  const tables = view.runs.map((run) => runTable(run.records, chart, X_AXES[view.x]));
  return { data: uPlot.join(tables), points: tables.map((t) => t[1].filter((v) => v !== null).length) };
}

// ---- charts --------------------------------------------------------------------------------------------------

function plotOptions(view, chart, width) {
  const axis = axisStyle(view.theme), x = X_AXES[view.x], fmt = chart.fmt ?? fmtNum;
  return {
    width, height: PLOT_HEIGHT,
    axes: [{ ...axis, incrs: x.incrs, values: (u, ticks) => ticks.map(x.fmt) },
      { ...axis, size: fitAxis, values: (u, ticks) => ticks.map((v) => (chart.fmt ?? ((t) => fmtNum(t, 3)))(v)) }],
    scales: { x: { time: false } },
    cursor: { sync: { key: 'qiusuo-compare' }, points: { size: 6 } },
    series: [{ label: x.label, value: (u, v) => (v === null || v === undefined ? '–' : x.fmt(v)) },
      ...view.runs.map((run) => ({
        label: run.label, stroke: run.color, width: 1.5,
        points: chart.sparse ? { show: true, size: 6, fill: run.color } : { show: false },
        value: (u, v) => fmt(v ?? null),
      }))],
    hooks: { setScale: [(u, key) => key === 'x' && syncZoom(view, u)] },
  };
}

/** Zooming one chart (drag; double-click resets) zooms all of them to the same x range. */
function syncZoom(view, source) {
  if (view.syncing) return;
  view.syncing = true;
  const { min, max } = source.scales.x;
  for (const c of view.charts) if (c.u && c.u !== source) c.u.setScale('x', { min, max });
  view.syncing = false;
}

/** Creates the chart on first use and again when the runs, their colours or the x axis change. */
function renderChart(view, chart) {
  const { data, points } = chartData(view, chart);
  const plot = chart.el.querySelector('.plot'), total = points.reduce((a, b) => a + b, 0);
  plot.dataset.points = points.join(',');
  if (chart.optional) chart.el.hidden = total === 0;
  if (chart.el.hidden) return;   // drawn once it has data, at the width it then has
  if (total > 0) delete plot.dataset.empty;
  else plot.dataset.empty = view.runs.some((r) => r.records.length) ? (chart.sparse ? 'no evaluation yet' : 'no values yet') : 'waiting for the first step…';
  const key = [view.x, ...view.runs.map((r) => `${r.label}:${r.color}`)].join('|');
  if (!chart.u || chart.key !== key) {
    chart.u?.destroy();
    chart.key = key;
    chart.u = new uPlot(plotOptions(view, chart, plot.clientWidth), data, plot);
    return;
  }
  const u = chart.u, xs = u.data[0];
  const zoomed = xs.length > 1 && (u.scales.x.min > xs[0] || u.scales.x.max < xs[xs.length - 1]);
  u.setData(data, !zoomed);
}

// ---- legend, status ------------------------------------------------------------------------------------------

function renderLegend(view) {
  const list = view.el.runs;
  if (list.children.length !== view.runs.length) {
    list.replaceChildren(...view.runs.map((run) => {
      const li = document.createElement('li');
      li.innerHTML = '<i class="swatch"></i><b></b><span></span>';
      li.querySelector('b').textContent = run.label;   // a label is data from suite.json, never markup
      li.title = run.run;
      return li;
    }));
  }
  view.runs.forEach((run, i) => {
    const li = list.children[i], last = run.records[run.records.length - 1];
    li.dataset.state = run.error ? 'error' : runState(run.records, run.arrivedAt);
    li.querySelector('.swatch').style.background = run.color;
    const bpb = lastFinite(run.records, (r) => r.valBpb);
    li.querySelector('span').textContent = run.error ? run.error
      : !last ? 'waiting for metrics.jsonl'
      : `${li.dataset.state} · step ${last.step}/${last.totalSteps}${bpb === null ? '' : ` · val bpb ${fmtNum(bpb)}`}`;
  });
}

/** The page's state: error, connecting, live while any run is, done once all are, else waiting or idle. */
function renderStatus(view) {
  const { el } = view, states = view.runs?.map((r) => (r.error ? 'error' : runState(r.records, r.arrivedAt))) ?? [];
  const count = (s) => states.filter((x) => x === s).length;
  const state = view.error ? 'error' : !view.runs ? 'connecting' : count('live') ? 'live'
    : count('done') === states.length ? 'done' : count('waiting') === states.length ? 'waiting' : 'idle';
  el.live.dataset.state = state;
  el.live.querySelector('b').textContent = state;
  el.status.classList.toggle('error', !!view.error);
  const time = new Date().toLocaleTimeString();
  el.status.textContent = view.error ? `${view.error} — retrying every ${POLL_MS / 1000} s (last try ${time})`
    : !view.runs ? 'connecting…'
    : `${states.length} runs · ${count('done')} done · ${count('live')} live · ${count('waiting')} waiting · checked ${time}`;
}

function render(view) {
  view.syncing = true;   // every chart gets the same x; only a user's zoom needs passing on
  for (const chart of view.charts) renderChart(view, chart);
  view.syncing = false;
  renderLegend(view);
  document.body.dataset.x = view.x;
  document.body.dataset.steps = view.runs.map((r) => r.records.length).join(',');
}

// ---- polling -------------------------------------------------------------------------------------------------

async function getJson(view, url) {
  const res = await view.request(url, { cache: 'no-store' });
  const body = await res.json().catch(() => null);
  if (!res.ok) throw new Error(body?.error?.message ?? `HTTP ${res.status} ${res.statusText}`);
  if (!body) throw new Error(`malformed reply from ${url.split('?')[0]}`);
  return body;
}

async function listRuns(view) {
  const body = await getJson(view, '/api/runs');
  if (!Array.isArray(body.runs)) throw new Error('malformed /api/runs reply');
  view.el.experiment.hidden = !body.experiment;
  view.el.experiment.textContent = body.experiment ?? '';
  document.title = `qiusuo · ${body.experiment ?? 'compare'}`;
  view.runs = body.runs.map((r, i) => ({ index: r.index, label: String(r.label), run: String(r.run), color: runColor(view.theme, i, body.runs.length),
    next: 0, records: [], arrivedAt: null, error: null }));
  document.body.dataset.runs = String(view.runs.length);
}

/** New records of one run; true when it should be asked again at once (a long log arrives in slices). */
async function pollRun(view, run) {
  try {
    const body = await getJson(view, `/api/runs/${run.index}/metrics?from=${run.next}`);
    if (!Array.isArray(body.records) || num(body.next) === null) throw new Error('malformed metrics reply');
    if (body.run !== run.run) { view.runs = null; return true; }   // the server now shows other runs: list them again
    run.error = null;
    if (body.reset) run.records = [];
    run.next = body.next;
    appendRecords(run.records, body.records);
    if (body.records.length) run.arrivedAt = Date.now();
    view.changed ||= body.records.length > 0 || body.reset;
    return body.more;
  } catch (err) {
    if (err instanceof TypeError) throw err;   // the server is unreachable: the page's error, not this run's
    run.error = err.message;
    return false;
  }
}

async function poll(view) {
  let again = POLL_MS;
  try {
    if (!view.runs) { await listRuns(view); view.changed = true; }
    const runs = view.runs;
    const more = await Promise.all(runs.map((run) => pollRun(view, run)));
    view.error = null;
    if (view.runs && view.changed) render(view);
    view.changed = false;
    if (more.some(Boolean)) again = 0;
  } catch (err) {
    view.error = err instanceof TypeError ? `cannot reach the server (${err.message})` : err.message;
  }
  if (view.runs) renderLegend(view);
  renderStatus(view);
  setTimeout(() => poll(view), again);
}

function main() {
  const $ = (id) => document.getElementById(id);
  const x = new URLSearchParams(location.search).get('x') === 'time' ? 'time' : 'step';
  const view = {
    runs: null, x, error: null, changed: false, syncing: false, request: createKeyedFetch(), theme: readTheme(),
    charts: CHARTS.map((spec) => ({ ...spec, el: document.querySelector(`[data-chart="${spec.id}"]`), u: null, key: '' })),
    el: { experiment: $('experiment'), live: $('live'), status: $('status'), runs: $('runs') },
  };
  document.querySelector(`input[name="x"][value="${x}"]`).checked = true;
  for (const input of document.querySelectorAll('input[name="x"]')) {
    input.addEventListener('change', () => {
      view.x = input.value;
      history.replaceState(null, '', view.x === 'time' ? '?x=time' : location.pathname);
      if (view.runs) render(view);
    });
  }

  // Widths follow the window; a change of height alone (content arriving) needs no redraw.
  const page = document.querySelector('main');
  let frame = 0, width = page.clientWidth;
  new ResizeObserver(() => {
    if (page.clientWidth === width) return;
    width = page.clientWidth;
    cancelAnimationFrame(frame);
    frame = requestAnimationFrame(() => {
      for (const c of view.charts) {
        const w = c.el.querySelector('.plot').clientWidth;
        if (c.u && c.u.width !== w) c.u.setSize({ width: w, height: PLOT_HEIGHT });
      }
    });
  }).observe(page);
  matchMedia('(prefers-color-scheme: dark)').addEventListener('change', () => {
    view.theme = readTheme();
    view.runs?.forEach((run, i, all) => { run.color = runColor(view.theme, i, all.length); });
    for (const c of view.charts) c.key = '';   // rebuilt with the new axis colours
    if (view.runs) render(view);
  });

  renderStatus(view);
  poll(view);
}

main();
