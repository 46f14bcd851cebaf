// The soak run of the server: outcomes by request kind and RSS growth (soak.json).

import { read, meta, fmt } from './common.js';

export function renderSoak(): string[] {
  const soak = read('soak');
  if (!soak) return [];
  const lines: string[] = [];
  const kinds: [string, string][] = [['stream', 'streaming'], ['whole', 'whole answer'], ['abort', 'stream aborted by the client'], ['bad', 'bad request'], ['burst', 'burst']];
  const n = (kind: string, outcome: string) => soak.outcomes[kind]?.[outcome] ?? 0;
  const m = soak.rssMiB;
  lines.push(`## Soak (${meta(soak)})`, '',
    `\`npm run soak\` (\`bench/soak.ts\`; not part of \`npm run bench\`, as it takes ${fmt(soak.seconds / 60, 0)} minutes): \`qiusuo serve --max-batch ${soak.maxBatch} --max-queue ${soak.maxQueue}\``,
    `on a random \`${soak.preset}\` checkpoint in its own process; in another, ${soak.steadyClients} clients in a loop (40% streaming, 25% whole answers, 15% streams`,
    `aborted after 1–6 chunks, 20% bad requests) and every ${soak.burstEverySec} s a burst of ${soak.burst} requests at once, more than batch + queue hold.`,
    'Server and clients share the VM\'s 2 cores with other work: tokens/s and times to first token move several-fold between runs.', '',
    '| requests | ok | aborted by the client | refused (4xx) | busy (429) | lost | hung |', '|---|---:|---:|---:|---:|---:|---:|');
  for (const [k, label] of kinds) lines.push(`| ${label} | ${n(k, 'ok')} | ${n(k, 'aborted')} | ${n(k, 'refused')} | ${n(k, 'busy')} | ${n(k, 'lost')} | ${n(k, 'hung')} |`);
  const span = (r: [number, number] | null) => (r ? `${fmt(r[0], 0)}–${fmt(r[1], 0)}` : 'n/a');
  lines.push('', `${soak.requests} requests in ${fmt(soak.wallS, 0)} s: **${soak.lost} lost, ${soak.hung} hung**; ${fmt(soak.tokS)} completion tokens/s; time to first token `
    + `(streaming) p50 ${fmt(soak.ttftP50Ms, 0)} ms, p99 ${fmt(soak.ttftP99Ms, 0)} ms.`, '',
    `Server RSS: ${fmt(m.start, 0)} MiB at start. Under load it is a garbage-collection sawtooth (${span(m.loadedFirstFifth)} MiB in the fifth after the`,
    `${fmt(soak.warmupS, 0)}-s warm-up, ${span(m.loadedLastFifth)} MiB in the last fifth; peak ${fmt(m.peak, 0)} MiB), so growth compares RSS at rest (the lowest over 10 s`,
    `without requests): ${fmt(m.restAfterWarmup, 0)} MiB after the warm-up, ${fmt(m.restEnd, 0)} MiB at the end, **${m.growthPct >= 0 ? '+' : ''}${fmt(m.growthPct)}%** (target < 5%).`,
    `Target ${soak.targetMet ? 'met' : '**not met**'}.`, '');
  return lines;
}
