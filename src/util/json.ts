// JSON helpers for reading user files: parsing with a one-line error that names the file, and a short, safe
// rendering of any parsed value for error messages (bounded in length and depth, so a deeply nested or huge value
// cannot overflow the stack or flood the message). Leaves out: schema validation, which each reader does itself.

const PREVIEW_CHARS = 80;
const PREVIEW_DEPTH = 3;

/**
 * JSON.parse(text), or an error "`failure` (why)" on one line: V8's reason quotes the text around the fault,
 * line breaks too. Example: parseJson('{\n x', 'config.json: invalid JSON') throws one line starting so.
 */
export function parseJson(text: string, failure: string): unknown {
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new Error(`${failure} (${oneLine((e as Error).message)})`);
  }
}

/** A message with its line breaks written as \n, so it stays one line. */
export function oneLine(message: string): string {
  return message.replace(/\r\n|[\r\n\u2028\u2029]/g, '\\n');
}

/**
 * `v` as JSON for an error message: nesting below depth 3 shown as [...] / {...}, the whole cut to 80 characters
 * with "…". Example: preview([[[[1]]]]) -> "[[[[...]]]]"; preview("a\nb") -> "\"a\\nb\"".
 */
export function preview(v: unknown): string {
  const s = render(v, 0);
  return s.length > PREVIEW_CHARS ? `${s.slice(0, PREVIEW_CHARS)}…` : s;
}

function render(v: unknown, depth: number): string {
  if (typeof v === 'string') return JSON.stringify(v.length > PREVIEW_CHARS ? v.slice(0, PREVIEW_CHARS) : v);
  if (typeof v === 'number' || typeof v === 'boolean' || v === null) return String(v);
  if (v === undefined) return 'undefined';
  if (Array.isArray(v)) {
    if (depth >= PREVIEW_DEPTH) return v.length ? '[...]' : '[]';
    return `[${v.slice(0, 8).map((x) => render(x, depth + 1)).join(',')}${v.length > 8 ? ',...' : ''}]`;
  }
  if (typeof v === 'object') {
    const keys = Object.keys(v);
    if (depth >= PREVIEW_DEPTH) return keys.length ? '{...}' : '{}';
    const shown = keys.slice(0, 8).map((k) => `${JSON.stringify(k.slice(0, PREVIEW_CHARS))}:${render((v as Record<string, unknown>)[k], depth + 1)}`);
    return `{${shown.join(',')}${keys.length > 8 ? ',...' : ''}}`;
  }
  return typeof v;
}
