// The whole default experiment set, one seed (experiments.json, bench/experiments.ts): each suite's wall time and
// its arms' steps and training tokens/s, and the total against the 60-minute target. The claims themselves are in the
// suites' reports (docs/experiments/), not here.

import { read, meta, fmt, steal } from './common.js';

interface ArmTiming { arm: string; budget: 'equal-steps' | 'equal-time'; steps: number; tok_s: number; train_seconds: number; reused: boolean }
interface SuiteTiming { suite: string; seconds: number; arms: ArmTiming[] }

/** What the five suites together may take on the 2-core machine (issue 13). */
const TARGET_MINUTES = 60;

export function renderExperiments(): string[] {
  const ex = read('experiments');
  if (!ex) return [];
  const suites = ex.suites as SuiteTiming[];
  const minutes = ex.total_seconds / 60;
  const lines = [`## Experiments: the five suites, one seed (${meta(ex)}${steal(ex)})`, '',
    `\`bench/experiments.ts\` (the last step of \`npm run bench\`): \`qiusuo experiment\` for each of the ${suites.length} suites in turn, one seed,`,
    `${ex.steps} steps per arm (an equal-time arm: as many as fit in its suite's reference arm's training time), all in one`,
    'output folder, so an arm that an earlier suite already trained with the same settings is reused, not trained again',
    '(its steps and tokens/s are from that run). A suite\'s wall time includes its evaluations and its report; the reports',
    'are copied to `docs/experiments/`.', '',
    `**All suites: ${fmt(minutes)} minutes** against the ${TARGET_MINUTES}-minute target (${minutes <= TARGET_MINUTES ? 'met' : '**not met**'}).`, '',
    '| suite | wall minutes | arm | budget | steps | tokens/s | training s | reused |', '|---|---:|---|---|---:|---:|---:|---|'];
  for (const s of suites) {
    s.arms.forEach((a, i) => {
      lines.push(`| ${i === 0 ? s.suite : ''} | ${i === 0 ? fmt(s.seconds / 60) : ''} | ${a.arm} | ${a.budget === 'equal-time' ? 'equal time' : 'equal steps'} | `
        + `${a.steps} | ${fmt(a.tok_s, 0)} | ${fmt(a.train_seconds, 0)} | ${a.reused ? 'from an earlier suite' : ''} |`);
    });
  }
  lines.push('');
  return lines;
}
