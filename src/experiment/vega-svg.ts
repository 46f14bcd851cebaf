// Renders a Vega-Lite spec to an SVG string in Node: vega-lite compiles it, vega's headless View (renderer 'none')
// draws it with `toSVG()`. No canvas: text widths come from vega's built-in estimate, so the output depends on nothing
// installed on the machine. Data must be inline — the View's loader refuses every file and URL.
import { createHash } from 'node:crypto';
import type { TopLevelSpec } from 'vega-lite';
import type { Loader } from 'vega';

/**
 * The SVG of `spec`; `chart` names the chart in errors (`lineChart "val loss"`). Warnings from vega-lite or vega are
 * errors here: the specs are built by code, so a warning means a bug in that code, not in the caller's data.
 * vega and vega-lite are imported on the first call, so commands that draw nothing never load them.
 */
export async function renderVegaLiteSvg(chart: string, spec: TopLevelSpec): Promise<string> {
  const [vegaLite, vega] = await Promise.all([import('vega-lite'), import('vega')]);
  const problems: string[] = [];
  const logger = vega.logger(vega.Warn, undefined, (_method, _level, args) => {
    problems.push(args.map(String).join(' '));
  });
  const compiled = vegaLite.compile(spec, { logger }).spec;
  const view = new vega.View(vega.parse(compiled), { renderer: 'none', loader: refusingLoader(chart), logger });
  let svg: string;
  try {
    svg = await view.toSVG();
  } finally {
    view.finalize();
  }
  if (problems.length > 0) throw new Error(`${chart}: the chart library reported: ${problems.join('; ')}`);
  return withStableIds(svg, createHash('sha256').update(JSON.stringify(spec)).digest('hex').slice(0, 8));
}

/**
 * vega numbers clip paths and gradients from process-wide counters (clip1, gradient_0, …), so the same chart drawn
 * twice would differ in its ids. Renumbered in order of appearance under a prefix taken from the spec, two charts
 * inlined in one page still get distinct ids.
 */
function withStableIds(svg: string, prefix: string): string {
  const renamed = new Map<string, string>();
  for (const [, id] of svg.matchAll(/ id="((?:clip|gradient_)\d+)"/g)) {
    if (!renamed.has(id)) renamed.set(id, `c${prefix}-${renamed.size}`);
  }
  return svg.replace(/( id="|url\(#)((?:clip|gradient_)\d+)(?=[")])/g, (whole, lead: string, id: string) => {
    const to = renamed.get(id);
    return to === undefined ? whole : lead + to;
  });
}

function refusingLoader(chart: string): Loader {
  const refuse = async (uri: unknown): Promise<never> => {
    throw new Error(`${chart}: charts draw inline data only, yet the spec asked to load ${String(uri)}`);
  };
  return { load: refuse, sanitize: refuse, http: refuse, file: refuse } as Loader;
}
