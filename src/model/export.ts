// A model (checkpoint folder or GGUF) written as a llama.cpp deepseek2 GGUF or as a Hugging Face folder: the
// library side of `qiusuo export gguf|hf`.

import * as path from 'node:path';
import { configToJson } from './config.js';
import { openCheckpoint, readTokenizerFiles } from './model-files.js';
import { exportGguf, type GgufExportResult, type GgufExportType } from '../weights/gguf-export.js';
import { exportHf, type HfExportDType } from '../weights/hf-export.js';
import { ggufTokenizerMetadata } from '../tokenizer/gguf-tokenizer.js';

export interface GgufFileResult extends GgufExportResult { mtpModulesLeftOut: number }

export function exportGgufFile(model: string, out: string, type: GgufExportType, onProgress?: (done: number, total: number) => void): GgufFileResult {
  if (!out.toLowerCase().endsWith('.gguf')) throw new Error(`the output must be a .gguf file, got "${out}"`);
  if (path.resolve(out) === path.resolve(model)) throw new Error('the output must differ from the model');
  const files = readTokenizerFiles(model);
  if (!files) throw new Error(`${model}: no tokenizer.json; a GGUF carries its tokenizer, so export needs one`);
  const { cfg, store } = openCheckpoint(model);
  try {
    const ids = { bosTokenId: cfg.bosTokenId ?? undefined, eosTokenId: cfg.eosTokenId[0] };
    const tokenizerKeys = ggufTokenizerMetadata(files.json, files.config, cfg.vocabSize, model, ids);
    const name = path.basename(path.resolve(model)).replace(/\.gguf$/i, '');
    return { ...exportGguf(cfg, store, tokenizerKeys, out, { type, name, onProgress }), mtpModulesLeftOut: cfg.numNextnPredictLayers };
  } finally {
    store.close();
  }
}

export function exportHfFolder(model: string, out: string, dtype: HfExportDType, force: boolean): void {
  if (path.resolve(out) === path.resolve(model)) throw new Error('the output must differ from the model');
  const files = readTokenizerFiles(model);
  const { cfg, store } = openCheckpoint(model);
  try {
    exportHf(store, configToJson(cfg), files, out, { dtype, force });
  } finally {
    store.close();
  }
}
