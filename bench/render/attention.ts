// Latent decode attention, chosen form against the flash form (attention.json).

import { read, meta, fmt, steal } from './common.js';

export function renderAttention(): string[] {
  const att = read('attention');
  if (!att) return [];
  const lines: string[] = [];
  lines.push(`## Latent decode attention (${meta(att)})`, '',
    '`bench/attention.ts`: one decode step\'s attention over the latent cache (scores against every cached row, softmax,',
    'weighted sum of latent rows), random data. "chosen" is what the backend runs: the flash form (4 heads per pass',
    'over the cache) below 12 heads, the GEMM form (12 heads per register tile, the cache read once per item) from 12',
    `heads up; the flash form is timed beside it, alternately, median of ${att.rounds} rounds${steal(att)}.`, '',
    '| shape | sequences | heads | cached rows | threads | chosen ms | chosen GFLOP/s | flash form ms | flash form GFLOP/s |',
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|');
  for (const r of att.results) {
    lines.push(`| ${r.shape} (R ${r.R}, rope ${r.dr}) | ${r.B} | ${r.H} | ${r.cached} | ${r.threads} | ${fmt(r.msChosen, 2)} | ${fmt(r.gflopsChosen)} | ${fmt(r.msFlash, 2)} | ${fmt(r.gflopsFlash)} |`);
  }
  lines.push('');
  return lines;
}
