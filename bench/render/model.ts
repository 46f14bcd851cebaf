// Prefill and decode tokens/s of random checkpoints (model.json).

import { read, meta, fmt, steal } from './common.js';

export function renderModel(): string[] {
  const model = read('model');
  if (!model) return [];
  const lines: string[] = [];
  lines.push(`## Model: prefill and decode (${meta(model)})`, '',
    `Random \`qiusuo init\` checkpoints, ${model.promptTokens}-token prompts, ${model.newTokens} decode steps through the latent cache${model.repeats ? `; each figure the median of ${model.repeats} runs` : ''}${steal(model)};`,
    'batch = sequences decoded together in one step (tokens/s summed over them). B/param = bytes of weights (and FP8 scales)',
    'resident in the heap per parameter; above 4/2/1 because the checkpoints also hold the MTP layer\'s copies of the',
    'embedding and head (loaded as stored), a large share of these small models.', '',
    '| preset | weights | backend | batch | prefill tok/s | decode tok/s | weights MiB | B/param |', '|---|---|---|---:|---:|---:|---:|---:|');
  for (const r of model.results) {
    lines.push(`| ${r.preset} | ${r.dtype} | ${r.backend} | ${r.batch} | ${fmt(r.prefillTokS)} | ${fmt(r.decodeTokS)} | ${fmt(r.weightMiB, 2)} | ${fmt(r.bytesPerParam, 2)} |`);
  }
  lines.push('');
  return lines;
}
