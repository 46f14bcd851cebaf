// What `qiusuo info` reports about a checkpoint or a preset: parameters (total, active per token, MTP), bytes on
// disk and in memory at the stored widths, and the per-token KV cache of MLA's latent form versus a plain K/V cache.

import * as fs from 'node:fs';
import type { ModelConfig } from './config.js';
import { moeLayerIndices, qHeadDim } from './config.js';
import { mainTensors, mtpTensors, scaleShape } from '../weights/names.js';
import type { WeightStore } from '../weights/shards.js';
import { DTYPE_BYTES } from '../weights/dtypes.js';
import { numel } from '../tensor/tensor.js';

export interface ModelInfo {
  modelType: string;
  layers: number; denseLayers: number; moeLayers: number; mtpModules: number;
  routedExperts: number; sharedExperts: number; expertsPerToken: number;
  totalParams: number;        // main model (embedding, layers, norm, head), as 671B for V3
  activeParams: number;       // per token: all but the routed experts a token does not use
  mtpParams: number;          // MTP modules (excluding copies of embedding/head)
  diskBytes: number | null;   // safetensors files, when a checkpoint folder is given
  memoryBytes: number;        // weights at stored width plus FP8 block scales
  kvCache: { latentValuesPerTokenPerLayer: number; naiveValuesPerTokenPerLayer: number; latentBytesPerToken: number; naiveBytesPerToken: number; ratio: number };
}

/** Cache values are kept in f32. */
const CACHE_BYTES = 4;

export function modelInfo(cfg: ModelConfig, store: WeightStore | null): ModelInfo {
  const main = mainTensors(cfg);
  if (cfg.tieWordEmbeddings) main.delete('lm_head.weight');
  let total = 0;
  for (const e of main.values()) total += numel(e.shape);
  const expertParams = 3 * cfg.hiddenSize * cfg.moeIntermediateSize;
  const moeLayers = moeLayerIndices(cfg).length;
  const active = total - moeLayers * (cfg.nRoutedExperts - cfg.numExpertsPerTok) * expertParams;
  let mtp = 0;
  for (let k = 0; k < cfg.numNextnPredictLayers; k++) {
    for (const e of mtpTensors(cfg, k).values()) if (!e.optional) mtp += numel(e.shape);
  }

  let memory = 0;
  if (store) {
    for (const n of store.names()) memory += store.entry(n).byteLength;
  } else {
    // Assume the preset's own storage: FP8 with block scales where allowed and quantised, else BF16.
    const block = cfg.quantization?.weightBlockSize;
    const all = [...main.values(), ...Array.from({ length: cfg.numNextnPredictLayers }, (_, k) => [...mtpTensors(cfg, k).values()].filter((e) => !e.optional)).flat()];
    for (const e of all) {
      if (block && e.fp8Allowed) memory += numel(e.shape) * DTYPE_BYTES.F8_E4M3 + numel(scaleShape(e.shape, block)) * 4;
      else memory += numel(e.shape) * DTYPE_BYTES.BF16;
    }
  }
  // The files the store reads, not every *.safetensors in the folder (a stale index's shards or a stray copy).
  let disk: number | null = null;
  if (store) {
    disk = 0;
    for (const f of new Set(store.names().map((n) => store.entry(n).file))) disk += fs.statSync(f).size;
  }
  const latent = cfg.kvLoraRank + cfg.qkRopeHeadDim;
  const naive = cfg.numAttentionHeads * qHeadDim(cfg) + cfg.numAttentionHeads * cfg.vHeadDim;
  const layers = cfg.numHiddenLayers;
  return {
    modelType: cfg.modelType,
    layers, denseLayers: layers - moeLayers, moeLayers, mtpModules: cfg.numNextnPredictLayers,
    routedExperts: cfg.nRoutedExperts, sharedExperts: cfg.nSharedExperts, expertsPerToken: cfg.numExpertsPerTok,
    totalParams: total, activeParams: active, mtpParams: mtp, diskBytes: disk, memoryBytes: memory,
    kvCache: {
      latentValuesPerTokenPerLayer: latent, naiveValuesPerTokenPerLayer: naive,
      latentBytesPerToken: latent * layers * CACHE_BYTES, naiveBytesPerToken: naive * layers * CACHE_BYTES,
      ratio: naive / latent,
    },
  };
}

function human(n: number, unit: string, base = 1000): string {
  const prefixes = ['', 'K', 'M', 'G', 'T'];
  let i = 0;
  while (n >= base && i < prefixes.length - 1) { n /= base; i++; }
  return `${n.toFixed(n < 10 && i > 0 ? 2 : i > 0 ? 1 : 0)} ${prefixes[i]}${base === 1024 && i > 0 ? 'i' : ''}${unit}`;
}

export function formatInfo(i: ModelInfo): string {
  const bytes = (n: number) => `${human(n, 'B', 1024)} (${n} bytes)`;
  return [
    `model type        ${i.modelType}`,
    `layers            ${i.layers} (${i.denseLayers} dense, ${i.moeLayers} MoE) + ${i.mtpModules} MTP`,
    `experts           ${i.routedExperts} routed + ${i.sharedExperts} shared, ${i.expertsPerToken} per token`,
    `parameters        ${human(i.totalParams, '')} total, ${human(i.activeParams, '')} active per token, ${human(i.mtpParams, '')} in MTP`,
    `on disk           ${i.diskBytes === null ? 'n/a (preset)' : bytes(i.diskBytes)}`,
    `in memory         ${bytes(i.memoryBytes)} of weights at stored width`,
    `KV cache / token  ${bytes(i.kvCache.latentBytesPerToken)} latent (${i.kvCache.latentValuesPerTokenPerLayer} values/layer) vs ${bytes(i.kvCache.naiveBytesPerToken)} plain K/V (${i.kvCache.naiveValuesPerTokenPerLayer} values/layer): ${i.kvCache.ratio.toFixed(1)}× smaller`,
  ].join('\n');
}

