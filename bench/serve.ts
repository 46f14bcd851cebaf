// Serving load benchmark: `qiusuo serve` on a random `small` checkpoint in its own process, streaming clients on
// loopback in this one. One client alone, then 16 at once: every request must finish (no request lost), and the
// aggregate generated tokens/s with 16 clients is compared with one client (target ≥ 3×).
// Aggregate = completion tokens of all requests ÷ wall time from the first request sent to the last [DONE]
// (prefill included, so batching gets no free credit). Writes bench/results/serve.json.

import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { spawn } from 'node:child_process';
import { initCheckpoint } from '../src/model/init.js';

const NEW_TOKENS = 128;
const CLIENTS = [1, 4, 16];
const REPEATS = 3;

interface Run { clients: number; requests: number; completionTokens: number; wallSec: number; tokS: number; meanTtftMs: number; lost: number }

export interface ServeProcess { base: string; pid: number; stop: () => Promise<number | null> }

/** Starts `qiusuo serve --model dir ...args` and resolves with its address once it prints it; stop() resolves with its exit code (null if killed). */
export function startServer(dir: string, args: string[]): Promise<ServeProcess> {
  const child = spawn(process.execPath, ['bin/qiusuo.js', 'serve', '--model', dir, '--port', '0', '--quiet', ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  return new Promise((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (d) => {
      out += d;
      const m = /on (http:\/\/127\.0\.0\.1:\d+)/.exec(out);
      if (m) {
        resolve({ base: m[1], pid: child.pid!, stop: async () => {
          child.kill('SIGTERM');
          const kill = setTimeout(() => child.kill('SIGKILL'), 30_000);   // a server that hangs does not hang the benchmark
          const code = await exited;
          clearTimeout(kill);
          return code;
        } });
      }
    });
    void exited.then(() => reject(new Error(`serve exited: ${out}`)));
  });
}

/** One streaming chat request; resolves with its completion tokens and time to first token, or null if lost. */
async function client(base: string, i: number): Promise<{ tokens: number; ttftMs: number } | null> {
  const t0 = performance.now();
  const r = await fetch(`${base}/v1/chat/completions`, {
    method: 'POST',
    body: JSON.stringify({ model: 'small', messages: [{ role: 'user', content: `Question number ${i}: what comes next?` }], max_tokens: NEW_TOKENS,
      temperature: 0.8, seed: i, stream: true, stream_options: { include_usage: true } }),
  });
  if (r.status !== 200) return null;
  let ttft = -1, usage: { completion_tokens: number } | null = null, done = false, buf = '';
  const decoder = new TextDecoder();
  for await (const bytes of r.body as unknown as AsyncIterable<Uint8Array>) {
    buf += decoder.decode(bytes, { stream: true });
    let cut: number;
    while ((cut = buf.indexOf('\n\n')) >= 0) {
      const data = buf.slice(6, cut);
      buf = buf.slice(cut + 2);
      if (data === '[DONE]') { done = true; continue; }
      const c = JSON.parse(data);
      if (ttft < 0 && c.choices?.[0]?.delta?.content) ttft = performance.now() - t0;
      if (c.usage) usage = c.usage;
    }
  }
  return done && usage ? { tokens: usage.completion_tokens, ttftMs: ttft } : null;
}

async function load(base: string, clients: number, offset: number): Promise<Run> {
  const t0 = performance.now();
  const rs = await Promise.all(Array.from({ length: clients }, (_, k) => client(base, offset + k)));
  const wallSec = (performance.now() - t0) / 1000;
  const ok = rs.filter((r): r is { tokens: number; ttftMs: number } => r !== null);
  const completionTokens = ok.reduce((a, r) => a + r.tokens, 0);
  return {
    clients, requests: clients, completionTokens, wallSec, tokS: completionTokens / wallSec,
    meanTtftMs: ok.reduce((a, r) => a + r.ttftMs, 0) / Math.max(ok.length, 1), lost: clients - ok.length,
  };
}

export async function runServeBench(): Promise<Run[]> {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'qiusuo-bench-serve-'));
  const dir = path.join(tmp, 'small');
  initCheckpoint({ preset: 'small', out: dir, dtype: 'f32', seed: 0 });
  const server = await startServer(dir, ['--max-batch', String(Math.max(...CLIENTS)), '--context', '512']);
  const runs: Run[] = [];
  try {
    await load(server.base, 2, 1000);   // warm-up: JIT, workers
    for (const clients of CLIENTS) {
      for (let rep = 0; rep < REPEATS; rep++) {
        const r = await load(server.base, clients, rep * 100 + clients);
        runs.push(r);
        console.log(`${String(clients).padStart(2)} clients: ${r.completionTokens} tokens in ${r.wallSec.toFixed(2)} s = ${r.tokS.toFixed(1)} tok/s, `
          + `mean time to first token ${r.meanTtftMs.toFixed(0)} ms, lost ${r.lost}`);
      }
    }
  } finally {
    await server.stop();
    fs.rmSync(tmp, { recursive: true, force: true });
  }
  return runs;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const runs = await runServeBench();
  const best = (n: number) => Math.max(...runs.filter((r) => r.clients === n).map((r) => r.tokS));
  const speedup = best(16) / best(1);
  console.log(`16 clients / 1 client: ${speedup.toFixed(2)}× (target ≥ 3×); lost requests: ${runs.reduce((a, r) => a + r.lost, 0)}`);
  fs.mkdirSync('bench/results', { recursive: true });
  fs.writeFileSync('bench/results/serve.json', JSON.stringify({
    machine: os.cpus()[0]?.model, cores: os.cpus().length, node: process.version, date: new Date().toISOString(),
    preset: 'small', newTokens: NEW_TOKENS, speedup16: speedup, runs,
  }, null, 2) + '\n');
}
