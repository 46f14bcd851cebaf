// Small models before and after weight arenas (ab-small.json).

import { read, meta, fmt } from './common.js';

export function renderAbSmall(): string[] {
  const ab = read('ab-small');
  if (!ab) return [];
  const lines: string[] = [];
  interface ABRun { side: 'old' | 'new'; round: number; r: { prefill_tok_s: number; decode_tok_s: number } }
  const runs = ab.runs as ABRun[];
  const med = (side: string, k: 'prefill_tok_s' | 'decode_tok_s') => {
    const xs = runs.filter((x) => x.side === side).map((x) => x.r[k]).sort((a, b) => a - b);
    return xs[(xs.length - 1) >> 1];
  };
  lines.push(`## Small models before and after weight arenas (${meta(ab)})`, '',
    `\`bash bench/ab-small.sh OLD MODEL\`: \`bench generate\` on ${ab.model}, the build at ${ab.old} and this one alternating, ${runs.length / 2} rounds; ${ab.note}.`, '',
    '| build | prefill tok/s (median) | decode tok/s (median) |', '|---|---:|---:|',
    `| ${ab.old} | ${fmt(med('old', 'prefill_tok_s'))} | ${fmt(med('old', 'decode_tok_s'))} |`,
    `| this | ${fmt(med('new', 'prefill_tok_s'))} | ${fmt(med('new', 'decode_tok_s'))} |`, '');
  return lines;
}
