// What `qiusuo info` reports about a checkpoint or a preset: parameters (total, active per token, MTP), bytes on
// disk and in memory in each --weights format, the weight arenas, and the per-token KV cache of MLA's latent form
// versus a plain K/V cache.

import * as fs from 'node:fs';
import type { ModelConfig } from './config.js';
import { moeLayerIndices, qHeadDim } from './config.js';
import { mainTensors, mtpTensors, scaleShape, SCALE_SUFFIX } from '../weights/names.js';
import type { TensorSource } from '../weights/shards.js';
import type { TensorEntry } from '../weights/safetensors.js';
import type { StoredDType } from '../weights/dtypes.js';
import { storedBytes } from '../weights/dtypes.js';
import type { WeightFormat } from './weight-format.js';
import { WEIGHT_FORMATS } from './weight-format.js';
import { validateCheckpoint, planWeights, residentBytes, countArenas, describeFallbacks } from './weights.js';
import { numel } from '../tensor/tensor.js';

export interface ModelInfo {
  modelType: string;
  layers: number; denseLayers: number; moeLayers: number; mtpModules: number;
  routedExperts: number; sharedExperts: number; expertsPerToken: number;
  totalParams: number;        // main model (embedding, layers, norm, head), as 671B for V3
  activeParams: number;       // per token: all but the routed experts a token does not use
  mtpParams: number;          // MTP modules (excluding copies of embedding/head)
  diskBytes: number | null;   // safetensors files, when a checkpoint folder is given
  weights: WeightFormat;      // the --weights format memoryBytes and arenas are for
  memoryBytes: number;        // resident weights in that format (FP8 block scales included)
  memoryByFormat: Record<WeightFormat, number>;
  arenas: number;             // weight arenas the weights take beyond the main memory (0: they fit one)
  fallbacks: string | null;   // tensors that cannot take the format, and what they become
  kvCache: { latentValuesPerTokenPerLayer: number; naiveValuesPerTokenPerLayer: number; latentBytesPerToken: number; naiveBytesPerToken: number; ratio: number };
}

/** Cache values are kept in f32. */
const CACHE_BYTES = 4;

/**
 * A preset's tensors as its own storage holds them (FP8 with block scales where allowed and the config quantises,
 * else BF16), for planning without a checkpoint; reads nothing.
 */
class PresetSource implements TensorSource {
  readonly dir: string;
  private readonly entries = new Map<string, TensorEntry>();
  constructor(cfg: ModelConfig) {
    this.dir = `preset (${cfg.modelType})`;
    const block = cfg.quantization?.weightBlockSize;
    const add = (name: string, dtype: StoredDType, shape: readonly number[]) =>
      this.entries.set(name, { name, dtype, shape: [...shape], byteLength: storedBytes(dtype, shape, name), file: this.dir, fileOffset: 0 });
    const all = [...mainTensors(cfg), ...Array.from({ length: cfg.numNextnPredictLayers }, (_, k) => [...mtpTensors(cfg, k)]).flat()];
    for (const [name, e] of all) {
      if (e.optional) continue;
      if (block && e.fp8Allowed) {
        add(name, 'F8_E4M3', e.shape);
        add(name + SCALE_SUFFIX, 'F32', scaleShape(e.shape, block));
      } else {
        add(name, 'BF16', e.shape);
      }
    }
  }
  has(name: string): boolean { return this.entries.has(name); }
  entry(name: string): TensorEntry { return this.entries.get(name)!; }
  names(): string[] { return [...this.entries.keys()]; }
  files(): string[] { return []; }
  readInto(): void { throw new Error(`${this.dir}: a preset has no tensor data`); }
}

export function modelInfo(cfg: ModelConfig, store: TensorSource | null, format: WeightFormat = 'stored'): ModelInfo {
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

  const source: TensorSource = store ?? new PresetSource(cfg);
  const { present } = validateCheckpoint(cfg, source);
  const memoryByFormat = Object.fromEntries(WEIGHT_FORMATS.map((f) => [f, residentBytes(planWeights(present, source, f))])) as Record<WeightFormat, number>;
  const plan = planWeights(present, source, format);
  const arenas = countArenas(plan, (n) => source.entry(n).shape);
  // The files the store reads, not every *.safetensors in the folder (a stale index's shards or a stray copy).
  const disk = store ? store.files().reduce((sum, f) => sum + fs.statSync(f).size, 0) : null;
  const latent = cfg.kvLoraRank + cfg.qkRopeHeadDim;
  const naive = cfg.numAttentionHeads * qHeadDim(cfg) + cfg.numAttentionHeads * cfg.vHeadDim;
  const layers = cfg.numHiddenLayers;
  return {
    modelType: cfg.modelType,
    layers, denseLayers: layers - moeLayers, moeLayers, mtpModules: cfg.numNextnPredictLayers,
    routedExperts: cfg.nRoutedExperts, sharedExperts: cfg.nSharedExperts, expertsPerToken: cfg.numExpertsPerTok,
    totalParams: total, activeParams: active, mtpParams: mtp, diskBytes: disk,
    weights: format, memoryBytes: memoryByFormat[format], memoryByFormat, arenas, fallbacks: describeFallbacks(plan, format),
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
    `in memory         ${bytes(i.memoryBytes)} of weights as --weights ${i.weights}${i.arenas > 0 ? ` in ${i.arenas} weight arenas` : ''}`,
    `  by format       ${WEIGHT_FORMATS.map((f) => `${f} ${human(i.memoryByFormat[f], 'B', 1024)}`).join(', ')}`,
    ...(i.fallbacks ? [`  note            ${i.fallbacks}`] : []),
    `KV cache / token  ${bytes(i.kvCache.latentBytesPerToken)} latent (${i.kvCache.latentValuesPerTokenPerLayer} values/layer) vs ${bytes(i.kvCache.naiveBytesPerToken)} plain K/V (${i.kvCache.naiveValuesPerTokenPerLayer} values/layer): ${i.kvCache.ratio.toFixed(1)}× smaller`,
  ].join('\n');
}

