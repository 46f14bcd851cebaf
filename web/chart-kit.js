// What the training dashboard (dashboard.js) and its compare view (compare.js) share: number formatting, the
// metrics log held in step order, a run's live state, the theme's colours and uPlot's axis sizing.
// Leaves out: anything that draws or fetches.

export const POLL_MS = 2000;
export const PLOT_HEIGHT = 230;
export const RATE_WINDOW = 20;       // steps averaged for tokens/s, MFU and the time remaining
const MIN_LIVE_MS = 30_000;          // "live" while a step arrived within max(this, 3 step times)
export const STEP_INCRS = [1, 2, 5].flatMap((m) => [0, 1, 2, 3, 4, 5, 6, 7].map((p) => m * 10 ** p)).sort((a, b) => a - b);

// ---- numbers -------------------------------------------------------------------------------------------------

/** A finite number or null: JSON turns NaN into null, and skipped steps carry them. */
export function num(v) { return typeof v === 'number' && Number.isFinite(v) ? v : null; }
export function percent(v) { return num(v) === null ? null : v * 100; }
export function fmtPercent(v) { return v === null ? '–' : `${fmtNum(v, 3)}%`; }

/** Short human number: 1392, 12.5k, 0.0015, 3e-4; '–' for missing. */
export function fmtNum(v, digits = 4) {
  if (v === null || v === undefined) return '–';
  const a = Math.abs(v);
  if (a === 0) return '0';
  if (a >= 1e6) return `${+(v / 1e6).toPrecision(3)}M`;
  if (a >= 1e4) return `${+(v / 1e3).toPrecision(3)}k`;
  if (a < 1e-3) return fmtSci(v, digits);
  return String(+v.toPrecision(digits));
}
export function fmtSci(v, digits = 3) {
  if (v === null || v === undefined) return '–';
  return v === 0 ? '0' : v.toExponential(Math.max(0, digits - 1)).replace(/\.?0+e/, 'e');
}
export function fmtDuration(sec) {
  if (num(sec) === null) return '–';
  const s = Math.round(sec), pad = (x) => String(x).padStart(2, '0');
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m ${pad(s % 60)}s`;
  return `${Math.floor(s / 3600)}h ${pad(Math.floor(s / 60) % 60)}m`;
}
export function lastFinite(records, get) {
  for (let i = records.length - 1; i >= 0; i--) { const v = num(get(records[i])); if (v !== null) return v; }
  return null;
}
export function mean(values) {
  const xs = values.filter((v) => v !== null);
  return xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : null;
}

// ---- the log -------------------------------------------------------------------------------------------------

/**
 * Appends records in step order. A resumed run logs again from its checkpoint's step, so a record whose step is
 * not past the last one replaces that part of the history: [1,2,3,4] + [3,4,5] gives [1,2,3,4,5], the new 3 and 4.
 */
export function appendRecords(records, incoming) {
  for (const r of incoming) {
    if (!r || num(r.step) === null) continue;
    while (records.length && records[records.length - 1].step >= r.step) records.pop();
    records.push(r);
  }
}

export function secondsPerStep(recent) {
  const a = recent[0], b = recent[recent.length - 1];
  if (!a || a === b || num(a.elapsedSec) === null || num(b.elapsedSec) === null) return null;
  const dt = (b.elapsedSec - a.elapsedSec) / (b.step - a.step);
  return dt > 0 ? dt : null;
}

/** 'waiting' (no step yet), 'done', 'live' (a step arrived lately, for its pace) or 'idle'. */
export function runState(records, arrivedAt) {
  const last = records[records.length - 1];
  if (!last) return 'waiting';
  if (last.step >= last.totalSteps) return 'done';
  const liveFor = Math.max(MIN_LIVE_MS, 3000 * (secondsPerStep(records.slice(-RATE_WINDOW)) ?? 0));
  return arrivedAt !== null && Date.now() - arrivedAt < liveFor ? 'live' : 'idle';
}

// ---- theme and axes ------------------------------------------------------------------------------------------

export function readTheme() {
  const css = getComputedStyle(document.documentElement), v = (name) => css.getPropertyValue(name).trim();
  const ls = v('--layer-s'), ll = v('--layer-l');
  return {
    color: v, axis: v('--axis'), grid: v('--grid'), missing: v('--missing'), font: `11px ${v('--font')}`,
    layer: (k, n) => `hsl(${Math.round((205 + (330 * k) / Math.max(1, n)) % 360)} ${ls} ${ll})`,
  };
}

/** Y axis width that fits its longest tick label (uPlot's autosize recipe). */
export function fitAxis(u, values, axisIdx, cycleNum) {
  const axis = u.axes[axisIdx];
  if (cycleNum > 1) return axis._size;
  const longest = (values ?? []).reduce((acc, s) => (s.length > acc.length ? s : acc), '');
  u.ctx.font = axis.font[0];
  return Math.ceil(axis.ticks.size + axis.gap + (longest ? u.ctx.measureText(longest).width / devicePixelRatio : 0));
}

/** The axis look both pages use, from the theme. */
export function axisStyle(theme) {
  return { stroke: theme.axis, font: theme.font, grid: { stroke: theme.grid, width: 1 }, ticks: { stroke: theme.grid, width: 1, size: 4 } };
}
