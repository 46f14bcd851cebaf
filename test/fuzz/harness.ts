// The one fuzz driver every `*.fuzz.test.ts` file uses: a fast-check property run with a fixed seed and a few
// hundred cases inside `npm test`, or with ≥100,000 cases and a time budget under `npm run fuzz` (scripts/fuzz.ts
// sets the QIUSUO_FUZZ_* variables below and collects what each run reports). Not a test file itself.
//
// The invariant every parser is held to: a case either passes or throws one clean, one-line Error that names the
// file, key or field; never an internal TypeError/ReferenceError, never a stack overflow, never a hang.

import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import fc from 'fast-check';

export { fc };

const env = process.env;
/** Cases per property: a fixed-seed sample in the suite, the whole budget under `npm run fuzz`. */
export const FUZZ_MODE = env.QIUSUO_FUZZ_RUNS !== undefined;
const RUNS = FUZZ_MODE ? Number(env.QIUSUO_FUZZ_RUNS) : 300;
const SECONDS = Number(env.QIUSUO_FUZZ_SECONDS ?? 0) || undefined;
const SEED = env.QIUSUO_FUZZ_SEED !== undefined ? Number(env.QIUSUO_FUZZ_SEED) : 20261205;
/** A single case slower than this fails as a hang (generous: CI is a loaded 2-core VM). */
export const CASE_LIMIT_MS = 5000;

export interface FuzzOptions {
  /** Cases in the suite's fixed-seed sample (default 300); `npm run fuzz` ignores it. */
  runs?: number;
}

/**
 * Runs `check` on generated inputs; `name` is the parser's label in BENCHMARKS.md ("safetensors header").
 * A case that throws fails the property, so `check` catches the errors it expects and asserts them with
 * `assertCleanError`. Each case is timed; one over CASE_LIMIT_MS fails as a hang.
 */
export async function fuzz<T>(name: string, arbitrary: fc.Arbitrary<T>, check: (input: T) => void | Promise<void>, o: FuzzOptions = {}): Promise<void> {
  const timed = async (input: T): Promise<void> => {
    const t0 = performance.now();
    let timer: NodeJS.Timeout | undefined;
    const hang = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${name}: a case ran over ${CASE_LIMIT_MS} ms (a hang)`)), CASE_LIMIT_MS);
    });
    try {
      await Promise.race([Promise.resolve().then(() => check(input)), hang]);
    } finally {
      clearTimeout(timer);
    }
    const ms = performance.now() - t0;
    if (ms > CASE_LIMIT_MS) throw new Error(`${name}: a case took ${ms.toFixed(0)} ms (over ${CASE_LIMIT_MS} ms)`);
  };
  const started = performance.now();
  const details = await fc.check(fc.asyncProperty(arbitrary, timed), {
    seed: SEED,
    numRuns: FUZZ_MODE ? RUNS : (o.runs ?? RUNS),
    interruptAfterTimeLimit: SECONDS !== undefined ? SECONDS * 1000 : undefined,
    markInterruptAsFailure: false,
    endOnFailure: true,
  });
  if (FUZZ_MODE && env.QIUSUO_FUZZ_OUT) {
    const row = { parser: name, cases: details.numRuns, failures: details.failed ? 1 : 0, seed: SEED, seconds: (performance.now() - started) / 1000, interrupted: details.interrupted };
    fs.appendFileSync(env.QIUSUO_FUZZ_OUT, JSON.stringify(row) + '\n');
  }
  if (details.failed) {
    const why = details.errorInstance instanceof Error ? details.errorInstance.message : String(details.errorInstance);
    assert.fail(`${name}: seed ${SEED}, path ${details.counterexamplePath}, counterexample ${fc.stringify(details.counterexample).slice(0, 2000)}\n${why}`);
  }
}

/**
 * The shape of a parser case: `parse()` either returns a value, which `accepted` checks against what the validator
 * promises, or throws a clean error naming `mustName` (assertCleanError).
 */
export function parsedOrRefused<T>(parse: () => T, mustName: string | RegExp, accepted: (parsed: T) => void): void {
  let parsed: T;
  try {
    parsed = parse();
  } catch (e) {
    assertCleanError(e, mustName);
    return;
  }
  accepted(parsed);
}

const INTERNAL = /Cannot read propert|Cannot set propert|is not a function|is not iterable|is not defined|Maximum call stack|Invalid array length|Invalid typed array length|\[object Object\]/;

/**
 * Asserts that `e` is what a user should see for bad input: an Error (not an internal TypeError/ReferenceError),
 * one non-empty line, that mentions `mustName` (the file path, key or field the input came from).
 */
export function assertCleanError(e: unknown, mustName: string | RegExp): asserts e is Error {
  if (!(e instanceof Error)) assert.fail(`threw a non-Error: ${String(e)}`);
  if (e instanceof TypeError || e instanceof ReferenceError) assert.fail(`internal ${e.constructor.name}: ${e.message}`);
  assert.ok(e.message.length > 0, 'empty error message');
  assert.ok(!e.message.includes('\n'), `error message spans several lines: ${JSON.stringify(e.message.slice(0, 300))}`);
  assert.ok(!INTERNAL.test(e.message), `error message leaks an internal failure: ${e.message.slice(0, 300)}`);
  const named = typeof mustName === 'string' ? e.message.includes(mustName) : mustName.test(e.message);
  assert.ok(named, `error message does not name ${String(mustName)}: ${e.message.slice(0, 300)}`);
}
