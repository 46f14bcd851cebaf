// Random initial weights as a stream: every tensor's name, dtype and shape up front (so a writer can plan shards and
// headers before any data exists), then each tensor's bytes produced in checkpoint order, a slab of rows at a time,
// so a 16B-parameter model is written with one slab in memory. Leaves out where the bytes go (weights/shards.ts).
//
// One seeded generator runs through the tensors in order, so the bytes are those that generating every tensor in
// memory, one after the other, gives. The MTP modules' copies of the embedding and output head replay the generator
// from where their source started instead of keeping the source in memory.

import type { ModelConfig } from './config.js';
import { mainTensors, mtpTensors, SCALE_SUFFIX, scaleShape, type ExpectedTensor } from '../weights/names.js';
import { encodeArray, storedBytes, type ElementDType } from '../weights/dtypes.js';
import { quantizeFp8Blocks } from '../weights/fp8.js';
import type { TensorBytes, TensorSpec, TensorToWrite } from '../weights/safetensors.js';
import { availableParallelism } from 'node:os';
import { Rng, Xoshiro128Jump } from '../util/random.js';
import { NormalThreads, runNormalJob, type NormalJob } from './init-threads.js';
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
  stored: ElementDType; // F8_E4M3: followed by its F32 block scales
}

export interface InitWeights {
  /** Every tensor in checkpoint order (an FP8 weight followed by its `_scale_inv`). */
  specs: TensorSpec[];
  /** Produces spec i's bytes; must be called for i = 0, 1, 2, … in turn, as the generator runs through them once. */
  bytes: TensorBytes;
  /** Ends the worker threads, if any. */
  close: () => void;
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
    const stored: ElementDType = name.endsWith('e_score_correction_bias') || dtype === 'f32' ? 'F32' : dtype === 'fp8' && e.fp8Allowed ? 'F8_E4M3' : 'BF16';
    out.push({ name, shape: [...e.shape], recipe: recipeOf(cfg, name, e, style), stored });
  }
  return out;
}

/** Rows per slab: whole rows, and whole 128-row blocks for FP8, whose scales are per block. */
function slabRows(p: Planned, block: readonly [number, number]): { rows: number; cols: number; perSlab: number } {
  const cols = p.shape.length === 2 ? p.shape[1]! : 1;
  const rows = p.shape.length === 2 ? p.shape[0]! : numel(p.shape);
  const unit = p.stored === 'F8_E4M3' ? block[0] : 1;
  return { rows, cols, perSlab: Math.max(unit, Math.floor(SLAB_VALUES / cols / unit) * unit) };
}

type Slab = { fill: number; n: number } | { job: NormalJob };

/**
 * Every slab of every tensor in order, as work: a constant, or a stretch of the normal sequence given by the
 * generator state where it starts. One generator walks the tensors, jumping over each stretch (skipNormals) instead
 * of drawing it; an MTP copy walks a clone saved where its source started.
 */
function* slabsOf(planned: readonly Planned[], seed: number, block: readonly [number, number]): Generator<Slab> {
  const jump = new Xoshiro128Jump();
  const rng = new Rng(seed);
  const copied = new Set(planned.flatMap((p) => (p.recipe.kind === 'copy' ? [p.recipe.of] : [])));
  const recipes = new Map(planned.map((p) => [p.name, p.recipe]));
  const replayFrom = new Map<string, Rng>(); // a copied tensor's name → the generator as it was before drawing it
  for (const p of planned) {
    let recipe = p.recipe;
    let gen = rng;
    if (recipe.kind === 'copy') {
      gen = replayFrom.get(recipe.of)!.clone();
      recipe = recipes.get(recipe.of)!;
    } else if (copied.has(p.name)) {
      replayFrom.set(p.name, rng.clone());
    }
    const { rows, cols, perSlab } = slabRows(p, block);
    for (let r0 = 0; r0 < rows; r0 += perSlab) {
      const n = Math.min(perSlab, rows - r0) * cols;
      if (recipe.kind === 'fill') {
        yield { fill: recipe.value, n };
      } else if (recipe.kind === 'normal') {
        const { s, spare } = gen.snapshot();
        yield { job: { s, spare, n, std: recipe.std, mean: recipe.mean } };
        gen.skipNormals(n, jump);
      }
    }
  }
}

/** Slab values in order, drawn on this thread or, ahead of their use, on worker threads (one slab in flight each). */
class SlabValues {
  private readonly queue: { slab: Slab; worker: number | null }[] = [];
  private readonly idle: number[];
  private lastWorker: number | null = null;
  private readonly local = new Float32Array(SLAB_VALUES + 2 * 128 * 128);

  constructor(private readonly slabs: Iterator<Slab>, private readonly threads: NormalThreads | null) {
    this.idle = threads ? Array.from({ length: threads.threads }, (_, w) => w) : [];
  }

  /** The next slab's values (valid until the next call). */
  next(): Float32Array {
    if (this.lastWorker !== null) this.idle.push(this.lastWorker); // the values it returned last time are used
    this.lastWorker = null;
    // keep every idle worker busy with the slabs ahead, and the next slab queued (with an empty queue every worker
    // is idle, so a job pulled here always finds one)
    while (this.queue.length === 0 || (this.threads !== null && this.idle.length > 0)) {
      const it = this.slabs.next();
      if (it.done) break;
      let worker: number | null = null;
      if (this.threads !== null && 'job' in it.value) {
        worker = this.idle.shift()!;
        this.threads.start(worker, it.value.job);
      }
      this.queue.push({ slab: it.value, worker });
    }
    const head = this.queue.shift();
    if (!head) throw new Error('initWeights: more values requested than the model has');
    if ('fill' in head.slab) return this.local.subarray(0, head.slab.n).fill(head.slab.fill);
    if (head.worker === null) return runNormalJob(head.slab.job, this.local);
    this.lastWorker = head.worker;
    return this.threads!.result(head.worker, head.slab.job.n);
  }
}

/** Models from this many parameters get worker threads (fewer finish before threads would have started). */
const THREADS_FROM = 1 << 26;

/**
 * Random weights for `cfg`, streamed; see the file comment. `threads` workers draw the values (default: one per core
 * for models of 64M parameters and more, else none); the bytes are the same whatever the count. close() ends them.
 */
export function initWeights(cfg: ModelConfig, seed: number, dtype: InitDType, style: InitStyle = 'test', omitMtpCopies = false, threads?: number): InitWeights {
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
  const params = planned.reduce((sum, p) => sum + numel(p.shape), 0);
  const workers = threads ?? (params >= THREADS_FROM ? availableParallelism() : 0);
  const pool = workers > 0 ? new NormalThreads(workers, SLAB_VALUES + 2 * 128 * 128) : null;
  const values = new SlabValues(slabsOf(planned, seed, block), pool);
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
    const { rows, cols, perSlab } = slabRows(p, block);
    const fp8 = p.stored === 'F8_E4M3';
    if (fp8) pendingScales = new Float32Array(numel(scaleShape(p.shape, block)));
    let scalesDone = 0;
    for (let r0 = 0; r0 < rows; r0 += perSlab) {
      const n = Math.min(perSlab, rows - r0);
      const slab = values.next();
      if (slab.length !== n * cols) throw new Error(`initWeights: ${spec.name}: a slab of ${slab.length} values where ${n * cols} were planned`);
      if (fp8) {
        const q = quantizeFp8Blocks(slab, n, cols, [block[0], block[1]]);
        pendingScales!.set(q.scaleInv, scalesDone);
        scalesDone += q.scaleInv.length;
        write(q.codes);
      } else {
        write(encodeArray(slab, p.stored));
      }
    }
  };
  return { specs, bytes, close: () => pool?.close() };
}

/** Random weights for `cfg` held in memory (for training from scratch and tests); the same bytes initWeights streams. */
export function randomTensors(cfg: ModelConfig, seed: number, dtype: InitDType, style: InitStyle = 'test'): TensorToWrite[] {
  const { specs, bytes } = initWeights(cfg, seed, dtype, style, false, 0);
  return specs.map((spec, i) => {
    const data = new Uint8Array(storedBytes(spec.dtype, spec.shape, spec.name));
    let at = 0;
    bytes(i, spec, (chunk) => { data.set(chunk, at); at += chunk.length; });
    return { ...spec, data };
  });
}
