// What the compact weight formats cost in accuracy (quant-error.json).

import { read, meta } from './common.js';

export function renderQuantError(): string[] {
  const qe = read('quant-error');
  if (!qe) return [];
  const lines: string[] = [];
  interface QRow { model: string; format: string; top1: number; kl: number; val_ce: number }
  lines.push(`## What the compact formats cost in accuracy (${meta(qe)})`, '',
    `\`bench/quant-error.ts\`: next-token distributions over ${qe.windows} held-out Brown windows of ${qe.window} tokens, each format against the same`,
    'trained checkpoint at `--weights bf16`: top-1 agreement, mean KL(bf16 ‖ format) per token (nats), and validation cross-entropy.', '',
    '| model | --weights | top-1 agreement | KL | val cross-entropy |', '|---|---|---:|---:|---:|');
  for (const r of qe.results as QRow[]) lines.push(`| ${r.model} | ${r.format} | ${(100 * r.top1).toFixed(1)}% | ${r.kl.toExponential(1)} | ${r.val_ce.toFixed(4)} |`);
  lines.push('');
  return lines;
}
