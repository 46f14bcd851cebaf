// Real-size models: load, RSS and decode against the read-bandwidth bound (realsize.json).

import { read, meta, fmt, steal } from './common.js';

export function renderRealsize(): string[] {
  const rs = read('realsize');
  if (!rs) return [];
  const lines: string[] = [];
  interface RRow { batch: number; prefill_tok_s: number; decode_tok_s: number; step_bytes: number }
  interface RRun { model: string; format: string; load_s: number; read_s: number; convert_s: number; weight_bytes: number; arenas: number;
    rss_bytes: number; cache_bytes_b4: number; rows: RRow[] }
  const gib = (n: number) => `${(n / 1024 ** 3).toFixed(2)} GiB`;
  lines.push(`## Real-size models (${meta(rs)}${steal(rs)})`, '',
    '`bench/realsize.ts`: random checkpoints of `moonlight-16b-a3b`\'s shape (BF16 on disk; all 27 layers, 31.9 GB, or 8 layers,',
    '9.6 GB) loaded with a `--weights` format, each in its own process; `stored` keeps BF16, over 4 GiB, in weight arenas. Prompts',
    'of 32 random tokens, 16 decode steps, median of 2 runs. RSS after the runs against the weights plus the batch-4 cache. Step bytes: the',
    'weight bytes one decode step reads (every matrix but the routed experts, plus the experts the tokens choose: 6 per layer',
    'for one token, the expected distinct ones for four); bound: read bandwidth ÷ step bytes × batch. Read bandwidth: one pass',
    `over 1 GiB in wasm on ${rs.cores} threads, best of ${rs.bandwidth_rounds.length}: **${fmt(rs.bandwidth_gbs, 2)} GB/s**.`, '',
    '| model | --weights | weights | arenas | RSS / (weights + cache) | load s (read + convert) | batch | prefill tok/s | decode tok/s | step bytes | bound tok/s | of bound |',
    '|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
  for (const r of rs.results as RRun[]) {
    for (const row of r.rows) {
      const bound = (rs.bandwidth_gbs * 1e9 * row.batch) / row.step_bytes;
      const first = row === r.rows[0];
      lines.push(`| ${first ? r.model : ''} | ${first ? r.format : ''} | ${first ? gib(r.weight_bytes) : ''} | ${first ? r.arenas : ''} | `
        + `${first ? (r.rss_bytes / (r.weight_bytes + r.cache_bytes_b4)).toFixed(2) : ''} | ${first ? `${fmt(r.load_s, 0)} (${fmt(r.read_s, 0)} + ${fmt(r.convert_s, 0)})` : ''} | `
        + `${row.batch} | ${fmt(row.prefill_tok_s)} | ${fmt(row.decode_tok_s, 2)} | ${gib(row.step_bytes)} | ${fmt(bound, 2)} | **${(100 * row.decode_tok_s / bound).toFixed(0)}%** |`);
    }
  }
  lines.push('');
  return lines;
}
