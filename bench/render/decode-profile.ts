// Where a batch-1 decode step goes, small models and a real-size one (decode-profile.json,
// decode-profile-realsize.json; decode-profile-before.json for the before column).

import { read, meta, fmt, steal } from './common.js';

export function renderDecodeProfiles(): string[] {
  const lines: string[] = [];
  for (const [file, title] of [['decode-profile', 'small models'], ['decode-profile-realsize', 'a real-size model']] as const) {
    const dp = read(file);
    if (!dp) continue;
    interface Profile { model: string; threads: number; plainTokS: number; usPerToken: number; kinds: Record<string, number> }
    const before = file === 'decode-profile' ? read('decode-profile-before') : null;
    const name = (p: Profile) => p.model.split('/').slice(-2).join('/');
    const twin = (p: Profile): Profile | undefined => (before?.profiles as Profile[] | undefined)?.find((b) => b.model === p.model && b.threads === p.threads);
    lines.push(`## Where a batch-1 decode step goes: ${title} (${meta(dp)}${steal(dp)})`, '',
      `\`bench/decode-profile.ts MODEL...\`: every backend op of a loaded model timed (${dp.tokens} decode steps after a 64-token prompt, median of`,
      `${dp.runs} runs), split into the calling thread's kernel time, the pool's dispatch and wait for its workers, and the JS around them`,
      '(JS overhead: in the ops and between them; the timers themselves add a few tenths of a µs per op). µs per token by kind.',
      before ? `Before: ${before.label ?? 'an earlier build'}, profiled in the same minutes.` : '',
      'A quiet machine flatters 2 threads: while other processes are busy, a worker waits for its time slice and the pool\'s wait',
      'takes over (`bench/decode-ab.ts` alternates builds and thread counts in one process to compare them then).', '',
      `| model | threads | kind | µs/token${before ? ' before | µs/token' : ''} |`, `|---|---:|---|---:${before ? '|---:' : ''}|`);
    for (const p of dp.profiles as Profile[]) {
      const b = twin(p);
      const row = (kind: string, us: number, was: number | undefined) => lines.push(`| ${name(p)} | ${p.threads} | ${kind} |${before ? ` ${fmt(was)} |` : ''} ${fmt(us)} |`);
      row('**tok/s, untimed** (not µs)', p.plainTokS, b?.plainTokS);
      for (const [kind, us] of Object.entries(p.kinds).sort((x, y) => y[1] - x[1])) row(kind, us, b?.kinds[kind]);
    }
    lines.push('');
  }
  return lines;
}
