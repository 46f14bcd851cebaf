// Random initial weights as a stream: every tensor's name, dtype and shape up front (so a writer can plan shards and
// headers before any data exists), then each tensor's bytes produced in checkpoint order, a slab of rows at a time,
// so a 16B-parameter model is written with one slab in memory. Leaves out where the bytes go (weights/shards.ts).
//
// One seeded generator runs through the tensors in order, so the bytes are those that generating every tensor in
// memory, one after the other, gives. The MTP modules' copies of the embedding and output head replay the generator
// from where their source started instead of keeping the source in memory.

import type { ModelConfig } from './config.js';
import { mainTensors, mtpTensors, SCALE_SUFFIX, scaleShape, type ExpectedTensor } from '../weights/names.js';
import { DTYPE_BYTES, encodeArray, type StoredDType } from '../weights/dtypes.js';
import { quantizeFp8Blocks } from '../weights/fp8.js';
import type { TensorBytes, TensorSpec, TensorToWrite } from '../weights/safetensors.js';
import { Rng } from '../util/random.js';
import { numel } from '../tensor/tensor.js';

export type InitDType = 'f32' | 'bf16' | 'fp8';
export type InitStyle = 'test' | 'train';

/** The paper's initialisation: std 0.006 at DeepSeek-V3's width. */
const TRAIN_INIT_STD = 0.006, V3_HIDDEN = 7168;
/** Values generated per slab (4 MiB of float32): big enough to keep the generator busy, small next to any tensor. */
const SLAB_VALUES = 1 << 20;
const MTP_COPY = /^model\.layers\.\d+\.(embed_tokens|shared_head\.head)\.weight$/;

/** How one tensor's values are drawn: N(mean, std²) from the generator, a constant, or a replay of another tensor. */
type Recipe = { kind: 'normal'; std: number; mean: number } | { kind: 'fill'; value: number } | { kind: 'copy'; of: string };

interface Planned {
  name: string;
  shape: number[];
  recipe: Recipe;
  stored: StoredDType; // F8_E4M3: followed by its F32 block scales
}

export interface InitWeights {
  /** Every tensor in checkpoint order (an FP8 weight followed by its `_scale_inv`). */
  specs: TensorSpec[];
  /** Produces spec i's bytes; must be called for i = 0, 1, 2, … in turn, as the generator runs through them once. */
  bytes: TensorBytes;
}

/**
 * 'test': N(0, 1/fan_in) weights (the embedding N(0, 1)), norms 1 ± 0.1 and a visible router bias N(0, 0.05²), so
 * numeric rules show in logits. 'train': the paper's N(0, 0.006²) scaled by √(7168/hidden_size) for narrower models
 * (≈ 0.51/√D), norms 1, bias 0.
 */
function recipeOf(cfg: ModelConfig, name: string, e: ExpectedTensor, style: InitStyle): Recipe {
  const copy = MTP_COPY.exec(name);
  if (copy) return { kind: 'copy', of: copy[1] === 'embed_tokens' || cfg.tieWordEmbeddings ? 'model.embed_tokens.weight' : 'lm_head.weight' };
  if (name.endsWith('e_score_correction_bias')) return style === 'train' ? { kind: 'fill', value: 0 } : { kind: 'normal', std: 0.05, mean: 0 };
  if (e.shape.length === 1) return style === 'train' ? { kind: 'fill', value: 1 } : { kind: 'normal', std: 0.1, mean: 1 };
  if (style === 'train') return { kind: 'normal', std: TRAIN_INIT_STD * Math.sqrt(V3_HIDDEN / cfg.hiddenSize), mean: 0 };
  if (name === 'model.embed_tokens.weight') return { kind: 'normal', std: 1, mean: 0 };
  return { kind: 'normal', std: 1 / Math.sqrt(e.shape[1]!), mean: 0 };
}

/** The tensors of `cfg` with their recipes, in checkpoint order (main model, then MTP modules). */
function planTensors(cfg: ModelConfig, dtype: InitDType, style: InitStyle, omitMtpCopies: boolean): Planned[] {
  const all = new Map(mainTensors(cfg));
  for (let k = 0; k < cfg.numNextnPredictLayers; k++) for (const [n, e] of mtpTensors(cfg, k)) all.set(n, e);
  if (cfg.tieWordEmbeddings) all.delete('lm_head.weight');
  const out: Planned[] = [];
  for (const [name, e] of all) {
    if (omitMtpCopies && MTP_COPY.test(name)) continue; // copies draw nothing, so leaving them out changes no other tensor
    const stored: StoredDType = name.endsWith('e_score_correction_bias') || dtype === 'f32' ? 'F32' : dtype === 'fp8' && e.fp8Allowed ? 'F8_E4M3' : 'BF16';
    out.push({ name, shape: [...e.shape], recipe: recipeOf(cfg, name, e, style), stored });
  }
  return out;
}

/** Random weights for `cfg`, streamed; see the file comment. */
export function initWeights(cfg: ModelConfig, seed: number, dtype: InitDType, style: InitStyle = 'test', omitMtpCopies = false): InitWeights {
  const block = cfg.quantization?.weightBlockSize ?? [128, 128];
  const planned = planTensors(cfg, dtype, style, omitMtpCopies);
  const specs: TensorSpec[] = [];
  const source: Planned[] = []; // spec index → the planned tensor it belongs to
  for (const p of planned) {
    specs.push({ name: p.name, dtype: p.stored, shape: p.shape });
    source.push(p);
    if (p.stored === 'F8_E4M3') {
      specs.push({ name: p.name + SCALE_SUFFIX, dtype: 'F32', shape: scaleShape(p.shape, block) });
      source.push(p);
    }
  }
  const copied = new Set(planned.flatMap((p) => (p.recipe.kind === 'copy' ? [p.recipe.of] : [])));
  const recipes = new Map(planned.map((p) => [p.name, p.recipe]));

  const rng = new Rng(seed);
  const replayFrom = new Map<string, Rng>(); // a copied tensor's name → the generator as it was before drawing it
  let next = 0;
  let pendingScales: Float32Array | null = null; // the block scales of the FP8 weight just written

  const bytes: TensorBytes = (index, spec, write) => {
    if (index !== next) throw new Error(`initWeights: tensor ${index} (${spec.name}) requested, but tensors come in order and ${next} is next`);
    next++;
    const p = source[index]!;
    if (spec.name !== p.name) { // the F32 scales of the FP8 weight before
      write(encodeArray(pendingScales!, 'F32'));
      pendingScales = null;
      return;
    }
    let recipe = p.recipe;
    let gen = rng;
    if (recipe.kind === 'copy') {
      gen = replayFrom.get(recipe.of)!.clone();
      recipe = recipes.get(recipe.of)!;
    } else if (copied.has(p.name)) {
      replayFrom.set(p.name, rng.clone());
    }
    const cols = p.shape.length === 2 ? p.shape[1]! : 1;
    const rows = p.shape.length === 2 ? p.shape[0]! : numel(p.shape);
    const fp8 = p.stored === 'F8_E4M3';
    // whole rows per slab; whole 128-row blocks for FP8, whose scales are per block
    const unit = fp8 ? block[0] : 1;
    const slabRows = Math.max(unit, Math.floor(SLAB_VALUES / cols / unit) * unit);
    if (fp8) pendingScales = new Float32Array(numel(scaleShape(p.shape, block)));
    let scalesDone = 0;
    const slab = new Float32Array(Math.min(slabRows, rows) * cols);
    for (let r0 = 0; r0 < rows; r0 += slabRows) {
      const n = Math.min(slabRows, rows - r0);
      const values = n * cols === slab.length ? slab : slab.subarray(0, n * cols);
      if (recipe.kind === 'normal') gen.fillNormal(values, recipe.std, recipe.mean);
      else if (recipe.kind === 'fill') values.fill(recipe.value);
      if (fp8) {
        const q = quantizeFp8Blocks(values, n, cols, [block[0], block[1]]);
        pendingScales!.set(q.scaleInv, scalesDone);
        scalesDone += q.scaleInv.length;
        write(q.codes);
      } else {
        write(encodeArray(values, p.stored));
      }
    }
  };
  return { specs, bytes };
}

/** Random weights for `cfg` held in memory (for training from scratch and tests); the same bytes initWeights streams. */
export function randomTensors(cfg: ModelConfig, seed: number, dtype: InitDType, style: InitStyle = 'test'): TensorToWrite[] {
  const { specs, bytes } = initWeights(cfg, seed, dtype, style);
  return specs.map((spec, i) => {
    const data = new Uint8Array(numel(spec.shape) * DTYPE_BYTES[spec.dtype]);
    let at = 0;
    bytes(i, spec, (chunk) => { data.set(chunk, at); at += chunk.length; });
    return { ...spec, data };
  });
}
