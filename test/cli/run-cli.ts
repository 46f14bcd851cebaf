// Runs the qiusuo command as a user does (`node bin/qiusuo.js`, from dist/, which `npm test` builds first).

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

const BIN = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'bin', 'qiusuo.js');

export interface Result { code: number | null; stdout: string; stderr: string }

/**
 * Runs the CLI. `input` lines are written to stdin one at a time, each after stdout matches its `after`
 * pattern (stdin stays open unless `end`), so the process must leave by itself.
 */
export function qiusuo(args: string[], o: { input?: { line: string; after?: RegExp }[]; end?: boolean; timeoutMs?: number } = {}): Promise<Result> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '', stderr = '';
    const pending = [...(o.input ?? [])];
    const feed = () => {
      while (pending.length > 0 && (!pending[0].after || pending[0].after.test(stdout))) child.stdin.write(pending.shift()!.line);
      if (pending.length === 0 && o.end !== false) child.stdin.end();
    };
    const timer = setTimeout(() => { child.kill(); reject(new Error(`qiusuo ${args.join(' ')}: timed out; stdout ${JSON.stringify(stdout)}`)); }, o.timeoutMs ?? 20_000);
    child.stdout.setEncoding('utf8').on('data', (d: string) => { stdout += d; feed(); });
    child.stderr.setEncoding('utf8').on('data', (d: string) => { stderr += d; });
    child.on('error', reject);
    child.on('close', (code) => { clearTimeout(timer); resolve({ code, stdout, stderr }); });
    feed();
  });
}

/** Exit code 1 and exactly one stderr line "qiusuo: error: …" matching `message`, with no stack trace. */
export function assertCliError(r: Result, message: RegExp, what: string): void {
  assert.equal(r.code, 1, `${what}: exit code (stderr ${JSON.stringify(r.stderr)})`);
  assert.equal(r.stdout, '', `${what}: nothing on stdout`);
  const lines = r.stderr.split('\n');
  assert.equal(lines.at(-1), '', `${what}: stderr ends with a newline`);
  assert.equal(lines.length, 2, `${what}: one stderr line, got ${JSON.stringify(r.stderr)}`);
  assert.ok(lines[0].startsWith('qiusuo: error: '), `${what}: ${lines[0]}`);
  assert.doesNotMatch(r.stderr, /\n\s+at /, `${what}: no stack trace`);
  assert.match(lines[0], message, what);
}
