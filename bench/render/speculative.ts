// Speculative decoding with the MTP module: speed-up, acceptance and what a cycle costs (speculative.json).

import { read, meta, fmt, steal } from './common.js';

export function renderSpeculative(): string[] {
  const sp = read('speculative');
  if (!sp) return [];
  const lines: string[] = [];
  interface SRow { model: string; batch: number; arm: string; decode_tok_s: number; speedup: number; ratios: number[];
    acceptance: number | null; acceptance_by_position: number[] | null; accepted_per_step: number | null;
    time_share: { draft: number; verify: number; accept: number } | null; plain_step_ms: number; draft_ms: number | null; verify_ms: number | null }
  const pct = (x: number | null | undefined) => (x === null || x === undefined ? '' : `${(100 * x).toFixed(0)}%`);
  lines.push(`## Speculative decoding with the MTP module (${meta(sp)}${steal(sp)})`, '',
    `\`bench/speculative.ts\`: greedy generation of ${sp.newTokens} tokens from ${sp.promptTokens}-token prompts of held-out Brown documents, on`,
    'the model `npx qiusuo train` produces (nano) and the small preset trained for the same time. Plain decoding and each',
    `speculative setting are timed alternately in ${sp.rounds} rounds after warm-up ones (the tokens are the same in every arm:`,
    'greedy speculation is exact); decode tok/s is the median, the speed-up the median of the per-round ratios to plain',
    'decoding. Acceptance: drafts kept at each draft position; tok/verify: tokens a sequence gains per verify pass. Time',
    'split of the speculative runs: MTP draft phase / main-model verify pass / acceptance, rollback and streaming. Cycle',
    'cost (fixed K): one draft phase plus one verify pass, in plain decode steps; speculation pays when tok/verify exceeds it.', '',
    '| model | batch | decoding | decode tok/s | speed-up (rounds: min–max) | acceptance by position | tok/verify | draft / verify / accept | cycle cost: draft + verify |',
    '|---|---:|---|---:|---:|---|---:|---|---|');
  for (const r of sp.results as SRow[]) {
    const range = r.arm === 'plain' ? '' : ` (${Math.min(...r.ratios).toFixed(2)}–${Math.max(...r.ratios).toFixed(2)})`;
    lines.push(`| ${r.model} | ${r.batch} | ${r.arm} | ${fmt(r.decode_tok_s)} | ${r.arm === 'plain' ? '1.00×' : `**${r.speedup.toFixed(2)}×**${range}`} | `
      + `${r.accepted_per_step ? (r.acceptance_by_position ?? []).map(pct).join(', ') : ''} | ${r.accepted_per_step ? fmt(r.accepted_per_step, 2) : ''} | `
      + `${r.time_share ? `${pct(r.time_share.draft)} / ${pct(r.time_share.verify)} / ${pct(r.time_share.accept)}` : ''} | `
      + `${r.draft_ms !== null && r.verify_ms !== null ? `${fmt(r.draft_ms / r.plain_step_ms, 2)} + ${fmt(r.verify_ms / r.plain_step_ms, 2)}` : ''} |`);
  }
  lines.push('');
  if (sp.cost) {
    interface CRow { model: string; ms: Record<string, number>; k1_cycle_steps: number; k2_cycle_steps: number }
    const st = (r: CRow, k: string) => fmt(r.ms[k] / r.ms.plain, 2);
    lines.push('What a cycle costs, with no acceptance involved (same run): one sequence, each part timed in alternating rounds',
      '(median), in plain decode steps. A cycle of K = 1 is a two-token verify pass plus a draft phase (two rows through the MTP',
      'layer, its head on one); K = 2 adds a chained draft and verifies three tokens. Speculation pays when a sequence gains',
      'more tokens per verify pass than its cycle costs: K = 1 needs an acceptance above the cycle cost minus one. The 0.9B',
      'model is random BF16 (459M parameters active, 0.9 GB read per step), the memory-bound case of real checkpoints.', '',
      '| model | plain step | verify 2 / 3 / 4 tokens | draft | chained draft | K=1 cycle (break-even acceptance) | K=2 cycle |',
      '|---|---:|---|---:|---:|---|---:|');
    for (const r of sp.cost as CRow[]) {
      lines.push(`| ${r.model} | ${fmt(r.ms.plain, 2)} ms | ${st(r, 'verify2')} / ${st(r, 'verify3')} / ${st(r, 'verify4')} | ${st(r, 'draft')} | ${st(r, 'chain')} | `
        + `**${fmt(r.k1_cycle_steps, 2)}** (${fmt(100 * (r.k1_cycle_steps - 1), 0)}%) | ${fmt(r.k2_cycle_steps, 2)} |`);
    }
    lines.push('');
  }
  return lines;
}
