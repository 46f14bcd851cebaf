// Two threads against one on a whole forward pass (scaling.json).

import { read, meta, fmt, steal } from './common.js';

export function renderScaling(): string[] {
  const sc = read('scaling');
  if (!sc) return [];
  const lines: string[] = [];
  const range = (r: [number, number]) => `${fmt(r[0], 2)}–${fmt(r[1], 2)}×`;
  const roundsSec = (sc.rounds as { prefillMs: number[]; decodeMs: number[] }[])
    .map((r) => (r.prefillMs[0] + r.prefillMs[1] + sc.decodeSteps * (r.decodeMs[0] + r.decodeMs[1])) / 1000).sort((a, b) => a - b);
  const roundSec = roundsSec[(roundsSec.length - 1) >> 1];
  lines.push(`## Two threads on a whole forward pass (${meta(sc)})`, '',
    `\`bench/scaling.ts\`: a random \`${sc.preset}\` checkpoint loaded twice in one process, with 1 and 2 threads, timed alternately for`,
    `${sc.rounds.length} rounds (a ${sc.promptTokens}-token prefill with its logits, and ${sc.decodeSteps} decode steps). This VM switches between fast and slow`,
    `phases lasting seconds, so each round compares the two within ${fmt(roundSec, 2)} s (the median round); the figure is the median ratio${steal(sc)}.`, '',
    '| pass | 2 threads / 1 thread, median | range over rounds |', '|---|---:|---:|',
    `| prefill ${sc.promptTokens} tokens | **${fmt(sc.speedupPrefill, 2)}×** | ${range(sc.rangePrefill)} |`,
    `| decode step | **${fmt(sc.speedupDecode, 2)}×** | ${range(sc.rangeDecode)} |`, '');
  return lines;
}
