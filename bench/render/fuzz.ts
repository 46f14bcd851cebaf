// The fuzzing run: cases and failures per property (fuzz.json).

import { read, meta, fmt } from './common.js';

export function renderFuzz(): string[] {
  const fz = read('fuzz');
  if (!fz) return [];
  const lines: string[] = [];
  interface FRow { parser: string; cases: number; failures: number; seconds: number; interrupted: boolean }
  const rows = fz.results as FRow[];
  const parserOf = (r: FRow) => r.parser.replace(/ \(.*\)$/, ''); // "config.json (text)" -> "config.json"
  const parsers = [...new Set(rows.map(parserOf))];
  const total = (p: string) => rows.filter((r) => parserOf(r) === p).reduce((n, r) => n + r.cases, 0);
  lines.push(`## Fuzzing (${meta(fz)})`, '',
    `\`npm run fuzz\`: every property of \`test/**/*.fuzz.test.ts\` (fast-check), ${fz.runsTarget.toLocaleString('en-US')} cases or ${fz.secondsPerProperty} s each,`,
    `whichever comes first; seed ${fz.seed}, ${fmt(fz.wallSeconds / 60)} minutes in all. A case passes when the parser accepts the input and`,
    'the result holds what its validator promises, or refuses it with one clean line naming the file, key or field; a case',
    `over 5 s fails as a hang. **${rows.reduce((n, r) => n + r.failures, 0)} failed properties.** Cases per parser: ${parsers.map((p) => `${p} ${total(p).toLocaleString('en-US')}`).join(', ')}.`, '',
    '| property | cases | failures | seconds |', '|---|---:|---:|---:|');
  for (const r of rows) lines.push(`| ${r.parser} | ${r.cases.toLocaleString('en-US')} | ${r.failures} | ${fmt(r.seconds, 0)} |`);
  lines.push('');
  return lines;
}
