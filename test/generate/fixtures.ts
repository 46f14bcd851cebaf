// Shared fixtures of the generation tests: tiny checkpoints in a temporary folder, and one-sequence runs of the
// Generator to compare batched runs against. Not a test file itself.

import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { initCheckpoint, type InitOptions } from '../../src/model/init.js';
import type { Pipeline } from '../../src/generate/pipeline.js';
import { Generator, DEFAULT_PARAMS, type GenerationParams, type FinishReason, type SpeculativeOptions } from '../../src/generate/engine.js';
import { train } from '../../src/train/trainer.js';
import { DEFAULT_TRAIN } from '../../src/train/options.js';

export class TempRoot {
  readonly dir = fs.mkdtempSync(path.join(os.tmpdir(), 'qiusuo-gen-'));
  private n = 0;

  /** A tiny checkpoint written by initCheckpoint into a fresh sub-folder. */
  tiny(opts: Partial<InitOptions> = {}): string {
    const out = path.join(this.dir, `ckpt-${this.n++}`);
    initCheckpoint({ preset: 'tiny', seed: 3, ...opts, out });
    return out;
  }

  /** A copy of checkpoint `src` with config.json edited by `edit`. */
  withConfig(src: string, edit: (c: Record<string, unknown>) => void): string {
    const out = path.join(this.dir, `ckpt-${this.n++}`);
    fs.cpSync(src, out, { recursive: true });
    const file = path.join(out, 'config.json');
    const cfg = JSON.parse(fs.readFileSync(file, 'utf8'));
    edit(cfg);
    fs.writeFileSync(file, JSON.stringify(cfg, null, 2));
    return out;
  }

  remove(): void { fs.rmSync(this.dir, { recursive: true, force: true }); }
}

export const params = (over: Partial<GenerationParams> = {}): GenerationParams => ({ ...DEFAULT_PARAMS, maxTokens: 16, ...over });

export interface Run { generated: number[]; text: string; finish: FinishReason | null; streamed: string }

/** Generates for one prompt alone in a fresh Generator (optionally speculating). */
export function solo(p: Pipeline, prompt: readonly number[], prm: GenerationParams, context = 64, speculative?: SpeculativeOptions): Run {
  const gen = new Generator(p.model, p.tokenizer, 1, context, { speculative });
  try {
    let streamed = '';
    const seq = gen.add(prompt, prm, (d) => { streamed += d; });
    gen.runToCompletion();
    return { generated: [...seq.generated], text: seq.text, finish: seq.finish, streamed };
  } finally {
    gen.dispose();
  }
}

/**
 * A tiny model trained for 60 steps (a few seconds) on three sentences repeated, so that its MTP module agrees with
 * the main model most of the time (acceptance ≈ 0.9): speculative tests then exercise kept drafts and rollbacks,
 * not only rejections. Returns the checkpoint folder.
 */
export async function trainedTiny(root: string): Promise<string> {
  const data = path.join(root, 'repeat-corpus');
  fs.mkdirSync(data, { recursive: true });
  const sentences = ['the cat sat on the mat.', 'a dog ran to the house.', 'the bird sang in the morning light.'];
  const text = Array.from({ length: 400 }, (_, i) => sentences[i % 3]).join(' ');
  for (let d = 0; d < 6; d++) fs.writeFileSync(path.join(data, `doc${d}.txt`), text);
  const r = await train({
    ...DEFAULT_TRAIN, out: path.join(root, 'trained'), data, preset: 'tiny', set: { max_position_embeddings: 128, rope_scaling: null },
    seqLen: 32, microBatch: 4, batch: 4, batchStart: 4, maxSteps: 60, checkpointEvery: 1000, evalEvery: 1000, evalWindows: 1,
    vocabSize: 512, valFraction: 0.2, lr: 1e-2, threads: 2, sample: false,
  }, { log() {}, warn() {}, start() {}, step() {} });
  await r.model.dispose();
  return r.dir;
}
