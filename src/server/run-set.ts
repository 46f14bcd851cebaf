// Which training runs a dashboard shows: the --run folders (labelled by their names), or the runs of an experiment
// suite (its suite.json, as `qiusuo experiment` writes it: arm, seed, label and a folder relative to the suite).
// Everything is checked up front with an error naming the option or the file and field; the logs are run-log.ts's.

import * as fs from 'node:fs';
import * as path from 'node:path';
import { checkRunDir } from './run-log.js';

export interface ShownRun {
  label: string;              // the legend's name for the run
  dir: string;                // the training run folder (holding metrics.jsonl once the run logs its first step)
  arm?: string;               // an experiment's arm and seed, when the run is one of a suite's
  seed?: number;
}

export interface RunSet {
  experiment: string | null;  // the suite's name, when the runs come from suite.json
  runs: ShownRun[];
}

export const SUITE_FILE = 'suite.json';

/** One run or several to compare; a folder given twice is an error, and names that repeat label by the path given. */
export function runSetFromDirs(dirs: string[]): RunSet {
  const seen = new Map<string, string>();
  for (const dir of dirs) {
    checkRunDir(dir);
    const real = fs.realpathSync(dir);
    const earlier = seen.get(real);
    if (earlier !== undefined) throw new Error(`--run ${dir}: the same folder as --run ${earlier}; give each run once`);
    seen.set(real, dir);
  }
  const name = (dir: string): string => path.basename(path.resolve(dir));
  const names = dirs.map(name);
  const label = (dir: string, i: number): string => (names.indexOf(names[i]) === names.lastIndexOf(names[i]) ? names[i] : dir);
  return { experiment: null, runs: dirs.map((dir, i) => ({ label: label(dir, i), dir })) };
}

/**
 * The runs of the experiment in `suiteDir`. A run's folder may not exist yet (the suite has not reached that arm):
 * the dashboard shows it as waiting; a path that exists but is not a folder is an error.
 */
export function runSetFromSuite(suiteDir: string): RunSet {
  const file = path.join(suiteDir, SUITE_FILE);
  let text: string;
  try { text = fs.readFileSync(file, 'utf8'); } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code !== 'ENOENT' && code !== 'ENOTDIR') throw new Error(`--experiment ${suiteDir}: ${file} cannot be read (${code})`);
    throw new Error(`--experiment ${suiteDir}: no ${SUITE_FILE} there (give the folder of one experiment${suitesBelow(suiteDir)})`);
  }
  let suite: unknown;
  try { suite = JSON.parse(text); } catch (e) { throw new Error(`${file}: not valid JSON (${(e as Error).message})`); }
  if (!isObject(suite)) throw new Error(`${file}: must hold a JSON object {"experiment": …, "runs": [...]}`);
  const experiment = nonEmptyString(suite.experiment, file, 'experiment');
  if (!Array.isArray(suite.runs) || suite.runs.length === 0) throw new Error(`${file}: "runs" must be a non-empty array of runs`);
  const labels = new Map<string, number>();
  const runs = suite.runs.map((r: unknown, i: number): ShownRun => {
    const at = `runs[${i}]`;
    if (!isObject(r)) throw new Error(`${file}: ${at} must be an object {"arm", "seed", "label", "dir"}`);
    const arm = nonEmptyString(r.arm, file, `${at}.arm`);
    if (typeof r.seed !== 'number' || !Number.isSafeInteger(r.seed) || r.seed < 0) {
      throw new Error(`${file}: ${at}.seed must be a non-negative integer, got ${JSON.stringify(r.seed) ?? 'nothing'}`);
    }
    const label = nonEmptyString(r.label, file, `${at}.label`);
    const first = labels.get(label);
    if (first !== undefined) throw new Error(`${file}: ${at}.label ${JSON.stringify(label)} repeats runs[${first}].label (the legend tells runs apart by it)`);
    labels.set(label, i);
    const dir = path.resolve(suiteDir, nonEmptyString(r.dir, file, `${at}.dir`));
    if (fs.existsSync(dir) && !fs.statSync(dir).isDirectory()) throw new Error(`${file}: ${at}.dir ${JSON.stringify(r.dir)} (${dir}) is not a folder`);
    return { label, dir, arm, seed: r.seed };
  });
  return { experiment, runs };
}

/** A hint for a folder that holds experiments rather than being one: ", e.g. out/balance". */
function suitesBelow(dir: string): string {
  let names: string[];
  try { names = fs.readdirSync(dir); } catch { return ''; }
  const suites = names.filter((n) => fs.existsSync(path.join(dir, n, SUITE_FILE))).sort();
  return suites.length ? `; ${suites.map((n) => path.join(dir, n)).join(', ')} ${suites.length > 1 ? 'are' : 'is'} one` : '';
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function nonEmptyString(v: unknown, file: string, field: string): string {
  if (typeof v !== 'string' || v.trim() === '') throw new Error(`${file}: ${field} must be a non-empty string, got ${JSON.stringify(v) ?? 'nothing'}`);
  return v;
}
