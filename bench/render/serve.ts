// Serving under load: aggregate tokens/s by number of clients (serve.json).

import { read, meta, fmt } from './common.js';

export function renderServe(): string[] {
  const sv = read('serve');
  if (!sv) return [];
  const lines: string[] = [];
  lines.push(`## Serving under load (${meta(sv)})`, '',
    `\`qiusuo serve\` (default threads, --max-batch 16) on a random \`${sv.preset}\` checkpoint in its own process; streaming chat clients on`,
    `loopback in another, ${sv.newTokens} new tokens each (sampled, so EOS may end one early). tokens/s = completion tokens of all`,
    'requests ÷ wall time from the first request to the last [DONE], prefill included. The clients share the 2 cores.', '',
    '| clients | completion tokens | wall s | tokens/s | mean time to first token | lost |', '|---:|---:|---:|---:|---:|---:|');
  for (const r of sv.runs) lines.push(`| ${r.clients} | ${r.completionTokens} | ${fmt(r.wallSec, 2)} | ${fmt(r.tokS)} | ${fmt(r.meanTtftMs, 0)} ms | ${r.lost} |`);
  lines.push('', `Best 16-client aggregate / best one-client: **${fmt(sv.speedup16, 2)}×** (target ≥ 3×).`, '');
  return lines;
}
