// Shared fixtures of the generation tests: tiny checkpoints in a temporary folder, and one-sequence runs of the
// Generator to compare batched runs against. Not a test file itself.

import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { initCheckpoint, type InitOptions } from '../../src/model/init.js';
import type { Pipeline } from '../../src/generate/pipeline.js';
import { Generator, DEFAULT_PARAMS, type GenerationParams, type FinishReason } from '../../src/generate/engine.js';

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

/** Generates for one prompt alone in a fresh Generator. */
export function solo(p: Pipeline, prompt: readonly number[], prm: GenerationParams, context = 64): Run {
  const gen = new Generator(p.model, p.tokenizer, 1, context);
  try {
    let streamed = '';
    const seq = gen.add(prompt, prm, (d) => { streamed += d; });
    gen.runToCompletion();
    return { generated: [...seq.generated], text: seq.text, finish: seq.finish, streamed };
  } finally {
    gen.dispose();
  }
}
