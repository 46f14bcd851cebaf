// Checks shared by the chart functions: each failure is one line naming the chart (`lineChart "val loss"`) and the
// part of its input that is wrong. Non-finite numbers in the data are not failures — a diverged run is a result to
// show — so they are left to each chart to drop; only the chart's own settings must be finite.

export function requireText(chart: string, what: string, value: unknown): string {
  if (typeof value !== 'string' || value.trim() === '') throw new Error(`${chart}: ${what} must be a non-empty string`);
  return value;
}

/** Names that label lines, cells or bars; a repeated one would silently merge two of them into one. */
export function requireUniqueNames(chart: string, what: string, names: readonly unknown[]): string[] {
  const seen = new Set<string>();
  return names.map((name, i) => {
    const text = requireText(chart, `${what} ${i}'s name`, name);
    if (seen.has(text)) throw new Error(`${chart}: ${what} name "${text}" appears twice`);
    seen.add(text);
    return text;
  });
}

export function requireNonEmptyArray<T>(chart: string, what: string, value: readonly T[] | undefined): readonly T[] {
  if (!Array.isArray(value)) throw new Error(`${chart}: ${what} must be an array`);
  if (value.length === 0) throw new Error(`${chart}: ${what} is empty, so there is nothing to draw`);
  return value;
}

/** An explicit axis or colour range: finite, increasing, and above zero on a log axis. */
export function requireDomain(chart: string, what: string, domain: readonly number[], positive = false): [number, number] {
  const [lo, hi] = domain;
  const ok = domain.length === 2 && Number.isFinite(lo) && Number.isFinite(hi) && lo < hi && (!positive || lo > 0);
  if (!ok) {
    const rule = positive ? 'two finite numbers 0 < lo < hi (the axis is logarithmic)' : 'two finite numbers lo < hi';
    throw new Error(`${chart}: ${what} [${domain.join(', ')}] must be ${rule}`);
  }
  return [lo, hi];
}

export function chartName(kind: string, title: unknown): string {
  return `${kind} ${JSON.stringify(requireText(kind, 'title', title))}`;
}
