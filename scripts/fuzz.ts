// `npm run fuzz`: runs every test/**/*.fuzz.test.ts with 100,000 cases per property under a time budget per property,
// from a fresh random seed (printed first, so a failure can be replayed with --seed), and writes the cases run per
// property to bench/results/fuzz.json for BENCHMARKS.md. Exits non-zero if any property or test file failed.
// Leaves out: building (package.json's prefuzz does it) and the suite's fixed-seed sample (npm test runs that).
//
//   node --import tsx scripts/fuzz.ts [--seconds 600] [--seed N] [--runs 100000] [--jobs N] [files...]

import { spawn } from 'node:child_process';
import { randomInt } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

interface Row { parser: string; cases: number; failures: number; seed: number; seconds: number; interrupted: boolean }

function option(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  if (i < 0) return fallback;
  const v = Number(process.argv[i + 1]);
  if (!Number.isSafeInteger(v) || v < 0) throw new Error(`--${name} must be a non-negative integer, got ${process.argv[i + 1]}`);
  return v;
}

function findFuzzFiles(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1)).flatMap((e) => {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) return findFuzzFiles(p);
    return e.name.endsWith('.fuzz.test.ts') ? [p] : [];
  });
}

const seconds = option('seconds', 600);
const seed = option('seed', randomInt(2 ** 31));
const runs = option('runs', 100_000);
const jobs = Math.max(1, option('jobs', os.availableParallelism()));
const named = process.argv.slice(2).filter((a) => a.endsWith('.fuzz.test.ts'));
const files = named.length > 0 ? named : findFuzzFiles('test');
console.log(`fuzz: seed ${seed}, ${runs} cases or ${seconds} s per property, ${files.length} files, ${jobs} at a time`);

const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'qiusuo-fuzz-run-'));
const started = Date.now();

/** Runs one fuzz file in its own process; its properties append their rows to `out`. Resolves with the exit code. */
function runFile(file: string, out: string): Promise<{ code: number; output: string }> {
  // One property may use its whole budget and then shrink a failure: the per-test limit leaves it ten minutes more.
  const args = ['--import', 'tsx', '--test', `--test-timeout=${(seconds + 600) * 1000}`, '--test-force-exit', file];
  const env = { ...process.env, QIUSUO_FUZZ_RUNS: String(runs), QIUSUO_FUZZ_SECONDS: String(seconds), QIUSUO_FUZZ_SEED: String(seed), QIUSUO_FUZZ_OUT: out };
  return new Promise((resolve) => {
    const child = spawn(process.execPath, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (d) => { output += d; });
    child.stderr.on('data', (d) => { output += d; });
    child.on('close', (code) => resolve({ code: code ?? 1, output }));
  });
}

const rows: Row[] = [];
let failedFiles = 0;
const queue = files.map((file, i) => ({ file, out: path.join(scratch, `${i}.jsonl`) }));
await Promise.all(Array.from({ length: Math.min(jobs, queue.length) }, async () => {
  for (let job = queue.shift(); job !== undefined; job = queue.shift()) {
    const { code, output } = await runFile(job.file, job.out);
    const got: Row[] = fs.existsSync(job.out) ? fs.readFileSync(job.out, 'utf8').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l)) : [];
    rows.push(...got);
    for (const r of got) console.log(`  ${r.failures ? 'FAIL' : 'ok  '} ${r.parser}: ${r.cases} cases in ${r.seconds.toFixed(1)} s`);
    if (code !== 0) {
      failedFiles++;
      console.log(`${job.file} exited with code ${code}; its output ends:\n${output.slice(-6000)}`);
    }
  }
}));
fs.rmSync(scratch, { recursive: true, force: true });

const failures = rows.reduce((n, r) => n + r.failures, 0);
const result = {
  machine: os.cpus()[0]?.model ?? 'unknown', cores: os.cpus().length, node: process.version, date: new Date().toISOString(),
  seed, runsTarget: runs, secondsPerProperty: seconds, wallSeconds: (Date.now() - started) / 1000,
  results: rows.sort((a, b) => (a.parser < b.parser ? -1 : 1)).map((r) => ({ parser: r.parser, cases: r.cases, failures: r.failures, seconds: r.seconds, interrupted: r.interrupted })),
};
if (named.length === 0) { // a run of some files only would leave the others out of BENCHMARKS.md
  fs.mkdirSync('bench/results', { recursive: true });
  fs.writeFileSync('bench/results/fuzz.json.tmp', JSON.stringify(result, null, 2) + '\n');
  fs.renameSync('bench/results/fuzz.json.tmp', 'bench/results/fuzz.json');
}
console.log(`fuzz: ${rows.length} properties, ${rows.reduce((n, r) => n + r.cases, 0)} cases, ${failures} failed properties, ${failedFiles} failed files, `
  + `${result.wallSeconds.toFixed(0)} s; seed ${seed}${named.length === 0 ? '; wrote bench/results/fuzz.json' : ''}`);
process.exit(failures > 0 || failedFiles > 0 ? 1 : 0);
