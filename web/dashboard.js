// Training dashboard: polls /api/run every 2 s for new metrics.jsonl records and draws them live: the optimisation
// charts and per-layer MaxVio with uPlot, each MoE layer's expert load as a canvas heatmap (step × expert).
// Leaves out: controlling the run, persisting anything (the page holds the log in memory), any build step.
// Requests go through createKeyedFetch, which asks for the server's API key when it wants one.

import { createKeyedFetch } from '/static/api-key.js';
import { POLL_MS, PLOT_HEIGHT, RATE_WINDOW, STEP_INCRS, num, percent, fmtPercent, fmtNum, fmtSci, fmtDuration, lastFinite, mean,
  appendRecords, secondsPerStep, runState, readTheme, fitAxis, axisStyle } from '/static/chart-kit.js';

// Heatmap colour for load × experts on [0, RAMP_MAX]; 1 is the balanced share (ColorBrewer RdBu, reversed).
const RAMP = ['#053061', '#2166ac', '#4393c3', '#92c5de', '#d1e5f0', '#f7f7f7',
  '#fddbc7', '#f4a582', '#d6604d', '#b2182b', '#67001f'];
const RAMP_MAX = 2;
const HEAT_MARGIN = { left: 30, right: 4, top: 2, bottom: 18 };   // CSS px around the cells, for the axes

/** Line charts, table-driven: a series reads one number from a record; `perLayer` makes one series per MoE layer. */
const LINE_CHARTS = [
  { id: 'loss', series: [
    { label: 'loss', color: '--c-loss', value: (r) => r.loss },
    { label: 'main CE', color: '--c-ce', value: (r) => r.ce },
    { label: 'MTP CE', color: '--c-mtp', value: (r) => r.mtpLoss },
    { label: 'val loss', color: '--c-val', value: (r) => r.valLoss, sparse: true },
  ] },
  { id: 'val-bpb', emptyText: 'no evaluation yet', series: [
    { label: 'val bpb', color: '--c-bpb', value: (r) => r.valBpb, sparse: true },
    { label: 'MTP agree', color: '--c-mtp', value: (r) => percent(r.valMtpAgreement), scale: '%', dash: [5, 4], sparse: true, fmt: fmtPercent },
  ] },
  { id: 'lr', tick: fmtSci, series: [{ label: 'lr', color: '--c-lr', value: (r) => r.lr, fmt: fmtSci }] },
  { id: 'throughput', series: [
    { label: 'tokens/s', color: '--c-tps', value: (r) => r.tokensPerSec },
    { label: 'MFU', color: '--c-mfu', value: (r) => percent(r.mfu), scale: '%', dash: [5, 4], fmt: fmtPercent },
  ] },
  { id: 'grad-norm', series: [{ label: 'grad norm', color: '--c-grad', value: (r) => r.gradNorm }] },
  { id: 'maxvio', perLayer: (k) => ({ label: `layer ${k}`, value: (r) => r.maxVio?.[k] }) },
];

// ---- the log -------------------------------------------------------------------------------------------------

/** Layers and experts per layer seen anywhere in the log (the last layer may be the MTP module's). */
function moeShape(records) {
  const experts = [];
  for (const r of records) {
    const loads = Array.isArray(r.expertLoads) ? r.expertLoads : [];
    const layers = Math.max(loads.length, Array.isArray(r.maxVio) ? r.maxVio.length : 0);
    for (let k = 0; k < layers; k++) experts[k] = Math.max(experts[k] ?? 0, loads[k]?.length ?? 0);
  }
  return experts;
}

// ---- theme ---------------------------------------------------------------------------------------------------

/** '#rrggbb' as one opaque RGBA pixel, in the byte order of the platform's ImageData (little-endian: ABGR). */
function pixel(hex) {
  const [r, g, b] = [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16) || 0);
  return ((255 << 24) | (b << 16) | (g << 8) | r) >>> 0;
}

/** 256 pixels over [0, RAMP_MAX], interpolated between the RAMP stops. */
function buildLut() {
  const stops = RAMP.map((h) => [1, 3, 5].map((i) => parseInt(h.slice(i, i + 2), 16)));
  const lut = new Uint32Array(256);
  for (let i = 0; i < 256; i++) {
    const t = (i / 255) * (stops.length - 1), j = Math.min(stops.length - 2, Math.floor(t)), f = t - j;
    const [r, g, b] = [0, 1, 2].map((ch) => Math.round(stops[j][ch] + (stops[j + 1][ch] - stops[j][ch]) * f));
    lut[i] = ((255 << 24) | (b << 16) | (g << 8) | r) >>> 0;
  }
  return lut;
}

// ---- line charts ---------------------------------------------------------------------------------------------

function seriesFor(spec, layers, theme) {
  if (!spec.perLayer) return spec.series.map((s) => ({ ...s, stroke: theme.color(s.color) }));
  return Array.from({ length: layers }, (_, k) => ({ ...spec.perLayer(k), stroke: theme.layer(k, layers) }));
}

function plotOptions(dash, spec, series, width) {
  const axis = axisStyle(dash.theme);
  const tick = spec.tick ?? ((v) => fmtNum(v, 3));
  const axes = [{ ...axis, incrs: STEP_INCRS, values: (u, ticks) => ticks.map((v) => String(v)) },
    { ...axis, size: fitAxis, values: (u, ticks) => ticks.map(tick) }];
  const pct = series.find((s) => s.scale === '%');
  if (pct) axes.push({ ...axis, scale: '%', side: 1, size: fitAxis, grid: { show: false }, values: (u, t) => t.map(pct.fmt) });
  return {
    width, height: PLOT_HEIGHT, axes,
    scales: { x: { time: false } },
    cursor: { sync: { key: 'qiusuo-steps' }, points: { size: 6 } },
    series: [{ label: 'step', value: (u, v) => (v === null ? '–' : String(v)) },
      ...series.map((s) => ({
        label: s.label, scale: s.scale ?? 'y', stroke: s.stroke, width: 1.5, dash: s.dash, spanGaps: !!s.sparse,
        points: s.sparse ? { show: true, size: 6, fill: s.stroke } : { show: false },
        value: (u, v) => (s.fmt ?? fmtNum)(v),
      }))],
    hooks: { setScale: [(u, key) => key === 'x' && syncZoom(dash, u)] },
  };
}

/** Zooming one chart (drag; double-click resets) zooms all of them to the same steps. */
function syncZoom(dash, source) {
  if (dash.syncing) return;
  dash.syncing = true;
  const { min, max } = source.scales.x;
  for (const c of dash.charts.values()) if (c.u && c.u !== source) c.u.setScale('x', { min, max });
  dash.syncing = false;
}

function chartData(records, series) {
  return [records.map((r) => r.step), ...series.map((s) => records.map((r) => num(s.value(r))))];
}

/** Creates the chart on first use and again when its series change (the layer count is known only from data). */
function renderChart(dash, chart, layers) {
  const series = seriesFor(chart.spec, layers, dash.theme);
  const data = chartData(dash.records, series);
  const key = series.map((s) => s.label).join('|');
  const empty = data.slice(1).every((col) => col.every((v) => v === null));
  if (!empty) delete chart.el.dataset.empty;
  else chart.el.dataset.empty = dash.records.length ? chart.spec.emptyText ?? 'no values yet' : 'waiting for the first step…';
  if (!chart.u || chart.key !== key) {
    chart.u?.destroy();
    chart.key = key;
    chart.u = new uPlot(plotOptions(dash, chart.spec, series, chart.el.clientWidth), data, chart.el);
    return;
  }
  const u = chart.u, xs = u.data[0];
  const zoomed = xs.length > 1 && (u.scales.x.min > xs[0] || u.scales.x.max < xs[xs.length - 1]);
  u.setData(data, !zoomed);
}

// ---- heatmaps ------------------------------------------------------------------------------------------------

/**
 * Mean of load × E for each (expert, column), row-major by expert; column c covers records [start[c], start[c+1]).
 * NaN where no step in the column has a finite load.
 */
function binLoads(records, k, E, cols) {
  const n = records.length, sum = new Float32Array(E * cols), count = new Uint32Array(E * cols);
  const start = new Int32Array(cols + 1);
  for (let c = 0; c <= cols; c++) start[c] = Math.floor((c * n) / cols);
  for (let c = 0; c < cols; c++) {
    for (let i = start[c]; i < start[c + 1]; i++) {
      const loads = records[i].expertLoads?.[k];
      if (!Array.isArray(loads)) continue;
      for (let e = 0; e < E; e++) {
        const v = loads[e];
        if (typeof v === 'number' && Number.isFinite(v)) { sum[e * cols + c] += v * E; count[e * cols + c]++; }
      }
    }
  }
  for (let j = 0; j < sum.length; j++) sum[j] = count[j] ? sum[j] / count[j] : NaN;
  const steps = (c) => [records[start[c]].step, records[start[c + 1] - 1].step, start[c + 1] - start[c]];
  return { E, cols, values: sum, steps };
}

function heatHeight(E) { return Math.round(Math.min(224, Math.max(104, E * 3.5))) + HEAT_MARGIN.top + HEAT_MARGIN.bottom; }

/** 1, 2, 5 × 10^k: the smallest such step ≥ raw. */
function niceStep(raw) {
  const p = 10 ** Math.floor(Math.log10(Math.max(raw, 1e-9)));
  return [1, 2, 5, 10].map((m) => m * p).find((s) => s >= raw);
}

function drawHeatmap(dash, h, k, E) {
  const { records, theme } = dash, n = records.length, canvas = h.canvas;
  const dpr = window.devicePixelRatio || 1, cssW = canvas.clientWidth, cssH = heatHeight(E);
  canvas.style.height = `${cssH}px`;
  canvas.width = Math.max(1, Math.round(cssW * dpr));
  canvas.height = Math.round(cssH * dpr);
  const ctx = canvas.getContext('2d');
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  const plot = { x: HEAT_MARGIN.left, y: HEAT_MARGIN.top,
    w: Math.max(1, cssW - HEAT_MARGIN.left - HEAT_MARGIN.right), h: cssH - HEAT_MARGIN.top - HEAT_MARGIN.bottom };
  h.plot = plot;
  h.bins = null;
  if (!n || !E) return;

  const cols = Math.max(1, Math.min(n, Math.floor(plot.w * dpr)));
  const bins = binLoads(records, k, E, cols);
  const img = new ImageData(cols, E), px = new Uint32Array(img.data.buffer), lut = dash.lut, missing = pixel(theme.missing);
  for (let j = 0; j < px.length; j++) {
    const v = bins.values[j];
    px[j] = Number.isNaN(v) ? missing : lut[Math.min(255, Math.max(0, Math.round((v / RAMP_MAX) * 255)))];
  }
  const cells = new OffscreenCanvas(cols, E);
  cells.getContext('2d').putImageData(img, 0, 0);
  ctx.imageSmoothingEnabled = false;
  ctx.drawImage(cells, plot.x, plot.y, plot.w, plot.h);
  ctx.strokeStyle = theme.grid;
  ctx.strokeRect(plot.x - 0.5, plot.y - 0.5, plot.w + 1, plot.h + 1);
  h.bins = bins;

  ctx.fillStyle = theme.axis;
  ctx.font = theme.font;
  // experts: every `every`-th row, at least 12 px apart
  const rowH = plot.h / E, every = niceStep(12 / rowH);
  ctx.textAlign = 'right';
  ctx.textBaseline = 'middle';
  for (let e = 0; e < E; e += Math.max(1, Math.round(every))) ctx.fillText(String(e), plot.x - 5, plot.y + (e + 0.5) * rowH);
  // steps: ticks at round step numbers, at least 70 px apart, placed at their record's column
  const first = records[0].step, last = records[n - 1].step, inc = Math.max(1, niceStep(((last - first) * 70) / plot.w));
  ctx.textBaseline = 'top';
  ctx.textAlign = 'center';
  let i = 0;
  for (let s = Math.ceil(first / inc) * inc; s <= last; s += inc) {
    while (i < n - 1 && records[i].step < s) i++;
    const x = plot.x + ((i + 0.5) / n) * plot.w;
    ctx.fillRect(Math.round(x * dpr) / dpr, plot.y + plot.h, 1 / dpr, 3);
    const w = ctx.measureText(String(s)).width;
    ctx.fillText(String(s), Math.min(Math.max(x, plot.x + w / 2), plot.x + plot.w - w / 2), plot.y + plot.h + 4);
  }
}

function heatTooltip(dash, h, k, ev) {
  const tip = dash.tooltip, rect = h.canvas.getBoundingClientRect(), { plot, bins } = h;
  const x = ev.clientX - rect.left - plot.x, y = ev.clientY - rect.top - plot.y;
  if (!bins || x < 0 || y < 0 || x >= plot.w || y >= plot.h) { tip.hidden = true; return; }
  const c = Math.floor((x / plot.w) * bins.cols), e = Math.floor((y / plot.h) * bins.E);
  const v = bins.values[e * bins.cols + c], [from, to, count] = bins.steps(c);
  // Numbers only go into this markup (a metrics file is data, not HTML).
  const steps = count > 1 ? `steps ${Number(from)}–${Number(to)} <span>(mean of ${Number(count)})</span>` : `step ${Number(from)}`;
  const load = Number.isNaN(v) ? 'no data' : `${v.toFixed(2)}× balanced · ${((v / bins.E) * 100).toFixed(2)}% of slots`;
  tip.innerHTML = `<b>layer ${k} · expert ${e}</b><br>${steps}<br>${load}`;
  tip.hidden = false;
  const left = ev.clientX + 14 + tip.offsetWidth > window.innerWidth ? ev.clientX - 14 - tip.offsetWidth : ev.clientX + 14;
  tip.style.left = `${left}px`;
  tip.style.top = `${ev.clientY + 14}px`;
}

/** One card per MoE layer, created as layers appear and removed after a reset to a smaller model. */
function renderHeatmaps(dash, experts) {
  const grid = dash.el.heatmaps;
  while (dash.heatmaps.length > experts.length) dash.heatmaps.pop().card.remove();
  for (let k = dash.heatmaps.length; k < experts.length; k++) {
    const card = document.createElement('figure');
    card.className = 'heatmap-card';
    card.innerHTML = `<h4><b><i class="swatch"></i>layer ${k}</b><span></span></h4><canvas class="heatmap" data-layer="${k}"></canvas>`;
    const h = { card, canvas: card.querySelector('canvas'), label: card.querySelector('h4 span'),
      swatch: card.querySelector('.swatch'), plot: null, bins: null };
    h.canvas.addEventListener('mousemove', (ev) => heatTooltip(dash, h, k, ev));
    h.canvas.addEventListener('mouseleave', () => { dash.tooltip.hidden = true; });
    grid.append(card);
    dash.heatmaps.push(h);
  }
  dash.el.heatEmpty.hidden = dash.records.length > 0;
  dash.heatmaps.forEach((h, k) => {
    const vio = lastFinite(dash.records, (r) => r.maxVio?.[k]);
    h.label.textContent = `${experts[k]} experts · MaxVio ${fmtNum(vio, 3)}`;
    h.swatch.style.background = dash.theme.layer(k, experts.length);
    drawHeatmap(dash, h, k, experts[k]);
  });
}

// ---- header, status, render ----------------------------------------------------------------------------------

function renderHeader(dash) {
  const { records, el } = dash, last = records[records.length - 1], recent = records.slice(-RATE_WINDOW);
  const set = (node, text) => { if (node.textContent !== text) node.textContent = text; };
  set(el.run, dash.run ?? '–');
  set(el.step, last ? `${last.step} / ${last.totalSteps}` : '–');
  el.progress.style.width = last ? `${Math.min(100, (100 * last.step) / Math.max(1, last.totalSteps))}%` : '0';
  set(el.loss, fmtNum(lastFinite(records, (r) => r.loss)));
  set(el.bpb, fmtNum(lastFinite(records, (r) => r.valBpb)));
  set(el.tps, fmtNum(mean(recent.map((r) => num(r.tokensPerSec))), 4));
  const mfu = mean(recent.map((r) => percent(r.mfu)));
  set(el.mfu, mfu === null ? '–' : `${mfu.toFixed(1)}%`);
  set(el.elapsed, fmtDuration(last?.elapsedSec));
  const perStep = secondsPerStep(recent);
  set(el.eta, !last ? '–' : last.step >= last.totalSteps ? 'done' : fmtDuration(perStep && perStep * (last.totalSteps - last.step)));
  const skipped = records.filter((r) => r.skipped).length;
  el.skippedBox.hidden = skipped === 0;
  set(el.skipped, String(skipped));
}

function renderStatus(dash) {
  const { records, el } = dash;
  const state = dash.error ? 'error' : dash.run === null ? 'connecting' : runState(records, dash.arrivedAt);
  el.live.dataset.state = state;
  el.live.querySelector('b').textContent = state;
  el.status.classList.toggle('error', !!dash.error);
  const time = new Date().toLocaleTimeString();
  el.status.textContent = dash.error ? `${dash.error} — retrying every ${POLL_MS / 1000} s (last try ${time})`
    : !records.length ? 'waiting for the first step…'
    : `${records.length} steps · ${dash.experts.length} MoE layers · checked ${time}`;
}

function render(dash) {
  dash.experts = moeShape(dash.records);
  renderHeader(dash);
  dash.syncing = true;   // every chart gets the same steps; only a user's zoom needs passing on
  for (const chart of dash.charts.values()) renderChart(dash, chart, dash.experts.length);
  dash.syncing = false;
  renderHeatmaps(dash, dash.experts);
  document.body.dataset.steps = String(dash.records.length);
  document.body.dataset.run = dash.run ?? '';
}

// ---- polling -------------------------------------------------------------------------------------------------

async function poll(dash) {
  let again = POLL_MS;
  try {
    const res = await dash.request(`/api/run?from=${dash.next}`, { cache: 'no-store' });
    const body = await res.json().catch(() => null);
    if (!res.ok) throw new Error(body?.error?.message ?? `HTTP ${res.status} ${res.statusText}`);
    if (!body || !Array.isArray(body.records) || num(body.next) === null) throw new Error('malformed /api/run reply');
    dash.error = null;
    if (dash.run !== null && body.run !== dash.run && !body.reset) {
      // another run behind the same URL: its offsets mean nothing here, so start over from its first byte
      Object.assign(dash, { run: body.run, next: 0, records: [] });
      render(dash);
      again = 0;
    } else {
      const fresh = body.reset || dash.run === null;
      if (body.reset) dash.records = [];
      dash.run = body.run;
      dash.next = body.next;
      appendRecords(dash.records, body.records);
      if (body.records.length) dash.arrivedAt = Date.now();
      if (body.records.length || fresh) render(dash);
      if (body.more) again = 0;   // a long log arrives in slices: fetch the rest now
    }
  } catch (err) {
    dash.error = err instanceof TypeError ? `cannot reach the server (${err.message})` : err.message;
  }
  renderStatus(dash);
  setTimeout(() => poll(dash), again);
}

function main() {
  const $ = (id) => document.getElementById(id);
  const dash = {
    run: null, next: 0, records: [], experts: [], error: null, arrivedAt: null, syncing: false, request: createKeyedFetch(),
    theme: readTheme(), lut: buildLut(), charts: new Map(), heatmaps: [], tooltip: $('tooltip'),
    el: { run: $('run-name'), live: $('live'), status: $('status'), step: $('stat-step'), progress: $('stat-progress'),
      loss: $('stat-loss'), bpb: $('stat-bpb'), tps: $('stat-tps'), mfu: $('stat-mfu'), elapsed: $('stat-elapsed'),
      eta: $('stat-eta'), skipped: $('stat-skipped'), skippedBox: $('stat-skipped-box'),
      heatmaps: $('heatmaps'), heatEmpty: $('heat-empty') },
  };
  document.querySelector('.colorbar-ramp').style.background = `linear-gradient(to right, ${RAMP.join(', ')})`;
  for (const spec of LINE_CHARTS) {
    const el = document.querySelector(`[data-chart="${spec.id}"] .plot`);
    dash.charts.set(spec.id, { spec, el, u: null, key: '' });
  }

  // Widths follow the window; a change of height alone (content arriving) needs no redraw.
  const main = document.querySelector('main');
  let frame = 0, width = main.clientWidth;
  new ResizeObserver(() => {
    if (main.clientWidth === width) return;
    width = main.clientWidth;
    cancelAnimationFrame(frame);
    frame = requestAnimationFrame(() => {
      for (const c of dash.charts.values()) {
        if (c.u && c.u.width !== c.el.clientWidth) c.u.setSize({ width: c.el.clientWidth, height: PLOT_HEIGHT });
      }
      dash.heatmaps.forEach((h, k) => drawHeatmap(dash, h, k, dash.experts[k]));
    });
  }).observe(main);
  matchMedia('(prefers-color-scheme: dark)').addEventListener('change', () => {
    dash.theme = readTheme();
    for (const c of dash.charts.values()) c.key = '';   // rebuilt with the new colours
    render(dash);
  });

  render(dash);
  renderStatus(dash);
  poll(dash);
}

main();
