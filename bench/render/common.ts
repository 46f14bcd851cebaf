// What every section renderer of BENCHMARKS.md shares: reading a result JSON (absent → null, so a section whose bench
// has not run yet is left out), the machine-and-date line of a section's heading, number formatting, host steal.

import { existsSync, readFileSync } from 'node:fs';

export interface Meta { machine: string; cores: number; node: string; date: string }

/** bench/results/NAME.json parsed, or null when that bench has not written it. */
export const read = (name: string): any => (existsSync(`bench/results/${name}.json`) ? JSON.parse(readFileSync(`bench/results/${name}.json`, 'utf8')) : null);

/** "Intel(R) Xeon(R) Processor, 2 cores, Node v20.20.2, 2026-12-06": where and when a result was measured. */
export const meta = (m: Meta) => `${m.machine}, ${m.cores} cores, Node ${m.node}, ${m.date.slice(0, 10)}`;

export const fmt = (x: number | null | undefined, d = 1) => (x === null || x === undefined ? 'n/a' : x.toFixed(d));

/** " (host steal during the run: N%)" where the run recorded it (bench/steal.ts). */
export const steal = (m: { stealPercent?: number | null }) => (typeof m.stealPercent === 'number' ? ` (host steal during the run: ${fmt(m.stealPercent)}%)` : '');

/** "lo–hi" of numbers, each with d decimals (a range over runs or rounds). */
export const span = (xs: number[], d = 1) => `${fmt(Math.min(...xs), d)}–${fmt(Math.max(...xs), d)}`;
