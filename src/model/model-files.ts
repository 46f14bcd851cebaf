// What `--model PATH` names, read the same way whatever it is: a checkpoint folder (config.json, safetensors,
// tokenizer files) or a deepseek2 GGUF file (config, tensors and tokenizer all from the one file).
// Leaves out what the files mean (config.ts, weights/*, tokenizer/*).

import * as fs from 'node:fs';
import * as path from 'node:path';
import type { ModelConfig } from './config.js';
import { parseConfig } from './config.js';
import { parseJson } from '../util/json.js';
import { WeightStore, type TensorSource } from '../weights/shards.js';
import { GgufFile } from '../weights/gguf.js';
import { ggufConfig, isGgufPath, openGguf } from '../weights/gguf-source.js';
import { tokenizerFromGgufMetadata } from '../tokenizer/gguf-tokenizer.js';
import { deepseekTokenizerConfig } from '../tokenizer/init-files.js';

export { isGgufPath };

/** A checkpoint's tensors; close() releases its files. */
export type ClosableTensorSource = TensorSource & { close(): void };

export function readConfig(model: string): ModelConfig {
  if (isGgufPath(model)) return withGguf(model, ggufConfig);
  const file = path.join(model, 'config.json');
  let text: string;
  try { text = fs.readFileSync(file, 'utf8'); } catch { throw new Error(`${file}: cannot read (is --model a checkpoint folder or a .gguf file?)`); }
  return parseConfig(parseJson(text, `${file}: invalid JSON`), file);
}

/** The config and the tensors together (a GGUF is opened once for both). */
export function openCheckpoint(model: string): { cfg: ModelConfig; store: ClosableTensorSource } {
  if (isGgufPath(model)) {
    const { cfg, source } = openGguf(model);
    return { cfg, store: source };
  }
  const cfg = readConfig(model);
  return { cfg, store: WeightStore.open(model) };
}

/**
 * tokenizer.json and tokenizer_config.json as objects: the folder's files (the config defaulting to DeepSeek-V3's
 * when absent), or those a GGUF's tokenizer metadata describes. Null for a folder without tokenizer.json.
 */
export function readTokenizerFiles(model: string): { json: object; config: object } | null {
  if (isGgufPath(model)) return withGguf(model, (f) => tokenizerFromGgufMetadata(f.metadata, f.path));
  const file = path.join(model, 'tokenizer.json');
  if (!fs.existsSync(file)) return null;
  const read = (p: string) => parseJson(fs.readFileSync(p, 'utf8'), `${p}: invalid JSON`) as object;
  const configFile = path.join(model, 'tokenizer_config.json');
  return { json: read(file), config: fs.existsSync(configFile) ? read(configFile) : deepseekTokenizerConfig() };
}

function withGguf<T>(file: string, f: (g: GgufFile) => T): T {
  const g = GgufFile.open(file);
  try { return f(g); } finally { g.close(); }
}
