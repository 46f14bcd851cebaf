// Training documents from disk: the Brown corpus by default, or a text file, a folder of .txt/.md files, or a
// .jsonl file with a "text" field per line. Binary and invalid UTF-8 files are skipped with a warning.
// Leaves out: tokenization, splitting and batching (data.ts, data-batcher.ts); any streaming of huge corpora.

import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { loadBrown } from './corpus-brown.js';
import { parseJson } from '../util/json.js';

export interface LoadOptions {
  /** Called once per skipped file, with a message naming it. */
  onWarning?: (msg: string) => void;
}

export interface LoadedDocuments {
  /** Non-empty documents, in a deterministic order. */
  documents: string[];
  /** What was read, for logs. */
  source: string;
}

/** Extensions read from a folder. */
const TEXT_EXTENSIONS = ['.txt', '.md'];

/**
 * No path: the Brown corpus. A path: a .jsonl file (one {"text": string} per line, one document each), another
 * file (one document), or a folder (every .txt/.md file below it, sorted by relative path, one document each).
 * Documents that are empty or only whitespace are dropped; if none is left the result is an error.
 */
export function loadDocuments(path?: string, opts: LoadOptions = {}): LoadedDocuments {
  if (path === undefined) return loadBrown();
  const warn = opts.onWarning ?? (() => {});
  let isDir: boolean;
  try {
    isDir = statSync(path).isDirectory();
  } catch (e) {
    throw new Error(`${path}: cannot read training data (${(e as Error).message})`);
  }
  let documents: string[];
  let skipped = 0;
  const read = (file: string): string | null => {
    const r = readText(file);
    if (typeof r === 'string') return r;
    warn(`${file}: skipped, ${r.why}`);
    skipped++;
    return null;
  };
  if (isDir) {
    const files = listTextFiles(path);
    if (files.length === 0) throw new Error(`${path}: no ${TEXT_EXTENSIONS.join(' or ')} files in this folder`);
    documents = files.map(read).filter((t): t is string => t !== null);
  } else if (path.endsWith('.jsonl')) {
    const text = read(path);
    documents = text === null ? [] : parseJsonl(text, path);
  } else {
    const text = read(path);
    documents = text === null ? [] : [text];
  }
  documents = documents.filter((d) => d.trim().length > 0);
  if (documents.length === 0) {
    const why = skipped > 0 ? `${skipped} file(s) skipped as binary or invalid UTF-8, the rest empty` : 'every document is empty';
    throw new Error(`${path}: no usable training documents (${why})`);
  }
  return { documents, source: path };
}

/** A file's text, or why it cannot be used. NUL bytes mark binary files; TextDecoder(fatal) checks UTF-8. */
export function readText(file: string): string | { why: string } {
  const bytes = readFileSync(file);
  if (bytes.includes(0)) return { why: 'it looks binary (contains NUL bytes)' };
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    return { why: 'it is not valid UTF-8' };
  }
}

/** Every .txt/.md file below `dir`, sorted by path relative to it (hidden files and folders skipped). */
function listTextFiles(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const entry of readdirSync(d, { withFileTypes: true })) {
      if (entry.name.startsWith('.')) continue;
      const p = join(d, entry.name);
      if (entry.isDirectory()) walk(p);
      else if (entry.isFile() && TEXT_EXTENSIONS.some((ext) => entry.name.endsWith(ext))) out.push(p);
    }
  };
  walk(dir);
  return out.sort((a, b) => {
    const ra = relative(dir, a);
    const rb = relative(dir, b);
    return ra < rb ? -1 : ra > rb ? 1 : 0;
  });
}

/** The "text" field of each non-blank line; errors name the file and the 1-based line. */
function parseJsonl(text: string, file: string): string[] {
  const docs: string[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.trim();
    if (line === '') continue;
    const obj = parseJson(line, `${file}:${i + 1}: not valid JSON`); // one line even if V8 quotes a "\r" of it
    const t = (obj as { text?: unknown } | null)?.text;
    if (typeof obj !== 'object' || obj === null || Array.isArray(obj) || typeof t !== 'string') {
      throw new Error(`${file}:${i + 1}: expected a JSON object with a string "text" field`);
    }
    docs.push(t);
  }
  return docs;
}
