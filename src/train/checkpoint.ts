// Training checkpoints: a complete Hugging Face folder (config.json, model.safetensors with f32 master weights, the
// router biases and the MTP layers' copies of embedding/head, tokenizer files) plus the training state
// (optimizer.safetensors with the AdamW moments, trainer_state.json with step, data position and run options).
// Each checkpoint is written into a temporary folder that is renamed into place, and `latest` (a one-line file
// naming it) is replaced atomically afterwards, so a kill at any moment leaves the previous checkpoint intact.

import * as fs from 'node:fs';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';
import type { Tensor } from '../tensor/tensor.js';
import { bytes } from '../tensor/tensor.js';
import type { ModelConfig } from '../model/config.js';
import { configToJson } from '../model/config.js';
import type { ModelWeights } from '../model/weights.js';
import type { TensorToWrite } from '../weights/safetensors.js';
import { writeSafetensors, writeFileAtomically, writeJsonAtomically, SafetensorsFile } from '../weights/safetensors.js';
import { layerPrefix } from '../weights/names.js';
import type { NamedParam } from './grads.js';

const LATEST = 'latest';

/** A heap tensor (f32 or bf16) as a safetensors entry (bytes copied). */
export function tensorToWrite(name: string, t: Tensor): TensorToWrite {
  const dtype = t.dtype === 'f32' ? 'F32' : t.dtype === 'bf16' ? 'BF16' : null;
  if (!dtype) throw new Error(`checkpoint: ${name} has dtype ${t.dtype}; training state is f32 or bf16`);
  return { name, dtype, shape: [...t.shape], data: bytes(t).slice() };
}

/** Every tensor of the model under its HF name: parameters, router biases, and the MTP copies of embed/head. */
export function modelTensors(cfg: ModelConfig, w: ModelWeights, params: NamedParam[]): TensorToWrite[] {
  const out = params.map((p) => tensorToWrite(p.name, p.w));
  const addBias = (i: number, t: Tensor | null) => { if (t) out.push(tensorToWrite(`${layerPrefix(i)}mlp.gate.e_score_correction_bias`, t)); };
  w.layers.forEach((l, i) => { if (l.ffn.kind === 'moe') addBias(i, l.ffn.moe.bias); });
  w.mtp.forEach((m, k) => {
    const i = cfg.numHiddenLayers + k;
    if (m.layer.ffn.kind === 'moe') addBias(i, m.layer.ffn.moe.bias);
    out.push(tensorToWrite(`${layerPrefix(i)}embed_tokens.weight`, m.embed), tensorToWrite(`${layerPrefix(i)}shared_head.head.weight`, m.head));
  });
  return out;
}

export interface CheckpointContent {
  cfg: ModelConfig;
  model: TensorToWrite[];
  optimizer: TensorToWrite[];
  tokenizerJson: object;
  tokenizerConfig: object;
  state: object;           // trainer_state.json
}

/** Writes checkpoint-<step> under runDir and points `latest` at it; keeps the newest `keep` checkpoints. */
export function saveCheckpoint(runDir: string, step: number, c: CheckpointContent, keep = 2): string {
  fs.mkdirSync(runDir, { recursive: true });
  const name = `checkpoint-${String(step).padStart(6, '0')}`;
  const final = path.join(runDir, name);
  const tmp = path.join(runDir, `.${name}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`);
  fs.mkdirSync(tmp);
  try {
    writeSafetensors(path.join(tmp, 'model.safetensors'), c.model, { format: 'pt' });
    writeSafetensors(path.join(tmp, 'optimizer.safetensors'), c.optimizer);
    writeJsonAtomically(path.join(tmp, 'config.json'), configToJson(c.cfg));
    writeJsonAtomically(path.join(tmp, 'tokenizer.json'), c.tokenizerJson);
    writeJsonAtomically(path.join(tmp, 'tokenizer_config.json'), c.tokenizerConfig);
    writeJsonAtomically(path.join(tmp, 'trainer_state.json'), c.state);
    if (fs.existsSync(final)) fs.rmSync(final, { recursive: true, force: true }); // a re-save of the same step
    fs.renameSync(tmp, final);
  } catch (e) {
    fs.rmSync(tmp, { recursive: true, force: true });
    throw new Error(`cannot write checkpoint in ${runDir}: ${(e as Error).message}`);
  }
  writeFileAtomically(path.join(runDir, LATEST), (fd) => { fs.writeSync(fd, name + '\n'); });
  const old = fs.readdirSync(runDir).filter((f) => /^checkpoint-\d+$/.test(f)).sort();
  for (const f of old.slice(0, Math.max(0, old.length - keep))) fs.rmSync(path.join(runDir, f), { recursive: true, force: true });
  return final;
}

/** The folder `latest` names, or null when the run folder has no complete checkpoint. */
export function latestCheckpoint(runDir: string): string | null {
  const file = path.join(runDir, LATEST);
  if (!fs.existsSync(file)) return null;
  const name = fs.readFileSync(file, 'utf8').trim();
  const dir = path.join(runDir, name);
  if (!/^checkpoint-\d+$/.test(name) || !fs.existsSync(path.join(dir, 'trainer_state.json'))) {
    throw new Error(`${file} names "${name}", which is not a complete checkpoint`);
  }
  return dir;
}

/** Reads optimizer.safetensors' tensors into the given tensors (same names, shapes and dtypes). */
export function readTensorsInto(file: string, into: Map<string, Tensor>): void {
  const f = SafetensorsFile.open(file);
  try {
    for (const [name, t] of into) {
      const e = f.entries.get(name);
      if (!e) throw new Error(`${file}: tensor "${name}" is missing`);
      if (e.shape.join(',') !== t.shape.join(',')) throw new Error(`${file}: "${name}" has shape [${e.shape}], expected [${t.shape}]`);
      f.readInto(name, bytes(t));
    }
  } finally {
    f.close();
  }
}
