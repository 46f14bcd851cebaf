// qiusuo against llama.cpp on the same GGUF (llamacpp.json).

import { read, meta, fmt, steal } from './common.js';

export function renderLlamacpp(): string[] {
  const lc = read('llamacpp');
  if (!lc) return [];
  const lines: string[] = [];
  interface Side { threads: number; prefill_tok_s: number; decode_tok_s: number; wall_decode_tok_s?: number }
  interface LRow { model: string; type: string; file_bytes: number; prompt: number; new_tokens: number; rounds: number; together: boolean; qiusuo: Side[]; llamacpp: Side[]; best: Record<string, number> }
  const sides = (xs: Side[]) => xs.map((x) => `${x.threads}t ${fmt(x.decode_tok_s)}`).join(' / ');
  lines.push(`## qiusuo against llama.cpp on the same GGUF (${meta(lc)}${steal(lc)})`, '',
    '`bench/llamacpp.ts`: one GGUF file per model run by both engines at batch 1 (llama.cpp = node-llama-cpp 3.21.1\'s CPU build,',
    'llama.cpp v0.4.0, AVX-512 variant, F32 KV cache, no flash attention), prefill of a random prompt then greedy decode steps;',
    'each engine at 1 and 2 threads, the faster taken; medians over rounds after a warm-up. Small models alternate the engines round by',
    'round in one process (`together`); a real-size model runs one engine at one thread count after another (qiusuo holds its weights',
    'and llama.cpp repacks Q4_0/Q8_0 weights into its own buffers: two copies do not fit 24 GiB). llama.cpp\'s figures are its own counters',
    '(time inside llama_decode); qiusuo\'s are wall time around its JavaScript. Target: decode ≥ 0.8× llama.cpp (≥ 1.0× at real size).', '',
    '| model | GGUF | file | prompt + new | rounds | qiusuo decode tok/s (threads) | llama.cpp decode tok/s (threads) | decode ratio | qiusuo prefill | llama.cpp prefill | prefill ratio |',
    '|---|---|---:|---:|---|---|---|---:|---:|---:|---:|');
  for (const r of lc.results as LRow[]) {
    lines.push(`| ${r.model} | ${r.type} | ${(r.file_bytes / 2 ** 20).toFixed(0)} MiB | ${r.prompt} + ${r.new_tokens} | ${r.rounds}${r.together ? ', together' : ', apart'} | ${sides(r.qiusuo)} | ${sides(r.llamacpp)} | `
      + `**${r.best.decode_ratio.toFixed(2)}×** | ${fmt(r.best.qiusuo_prefill, 0)} | ${fmt(r.best.llamacpp_prefill, 0)} | ${r.best.prefill_ratio.toFixed(2)}× |`);
  }
  lines.push('');
  return lines;
}
