// Starting `qiusuo serve` / `qiusuo dashboard` as a separate process on a free loopback port, for the tests that
// need the real command (signals, exit codes). Not a test file itself.

import { spawn, type ChildProcess } from 'node:child_process';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

export const BIN = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'bin', 'qiusuo.js');

export interface ServerProcess { child: ChildProcess; base: string; stderr: () => string; exit: Promise<number | null> }

/** Runs `qiusuo ...args` (which must include --port 0) and resolves with http://ADDRESS:PORT once it prints it. */
export function startServer(args: string[], env: NodeJS.ProcessEnv = {}): Promise<ServerProcess> {
  const child = spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, QIUSUO_API_KEY: undefined, ...env } });
  let out = '', err = '';
  child.stderr!.on('data', (d) => { err += d; });
  const exit = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => { child.kill('SIGKILL'); reject(new Error(`qiusuo ${args[0]} did not start: ${out}${err}`)); }, 60_000);
    child.stdout!.on('data', (d) => {
      out += d;
      const m = /on (http:\/\/[\d.]+:\d+)/.exec(out);
      if (m) { clearTimeout(timer); resolve({ child, base: m[1], stderr: () => err, exit }); }
    });
    void exit.then((code) => { clearTimeout(timer); reject(new Error(`qiusuo ${args[0]} exited with ${code}: ${err}`)); });
  });
}
