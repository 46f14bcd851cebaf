// The model's parameters as heap tensors in their stored width, loaded from a checkpoint folder and checked
// against the name map (every tensor present, none unexpected, every shape and dtype as config.json implies).
// Leaves out: the forward pass (transformer.ts) and file formats (weights/).

import type { Heap } from '../tensor/heap.js';
import type { Tensor } from '../tensor/tensor.js';
import * as os from 'node:os';
import { empty, bytes, f32, withScale, dispose, byteSize } from '../tensor/tensor.js';
import type { ExpertBank } from '../kernels/backend.js';
import type { ModelConfig } from './config.js';
import { isMoeLayer, moeLayerIndices } from './config.js';
import type { TensorSource } from '../weights/shards.js';
import type { ExpectedTensor } from '../weights/names.js';
import { mainTensors, mtpTensors, layerPrefix, SCALE_SUFFIX, scaleShape, isIgnorableBuffer } from '../weights/names.js';
import { WeightPlacement } from '../tensor/arenas.js';
import type { SourceWeight, ConvertTarget } from '../weights/quantize.js';
import { convertWeight, E4M3_BLOCK } from '../weights/quantize.js';
import type { ResidentTensor, WeightFormat } from './weight-format.js';
import { residentOf, WEIGHT_FORMATS } from './weight-format.js';

export interface SwiGluWeights { gate: Tensor; up: Tensor; down: Tensor }

export interface AttentionWeights {
  qA: Tensor | null; qANorm: Tensor | null; qB: Tensor | null; // with q_lora_rank
  q: Tensor | null;                                            // without
  kvA: Tensor; kvANorm: Tensor; kvB: Tensor; o: Tensor;
}

export interface MoeWeights { router: Tensor; bias: Tensor | null; bank: ExpertBank; shared: SwiGluWeights | null }

export type FfnWeights = { kind: 'dense'; mlp: SwiGluWeights } | { kind: 'moe'; moe: MoeWeights };

export interface LayerWeights { inputNorm: Tensor; postNorm: Tensor; attn: AttentionWeights; ffn: FfnWeights }

export interface MtpWeights {
  enorm: Tensor; hnorm: Tensor; ehProj: Tensor;
  embed: Tensor; head: Tensor; norm: Tensor; // embed/head fall back to the main model's
  layer: LayerWeights;
}

export interface ModelWeights {
  embed: Tensor; layers: LayerWeights[]; norm: Tensor; head: Tensor;
  mtp: MtpWeights[]; // empty when the checkpoint has no MTP layers
  all: Tensor[];     // every owned tensor, for dispose()
  arenas: Heap[];    // the weight arenas holding them beyond the main heap (empty when the model fits it)
}


function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

/**
 * Checks names, shapes and dtypes of the whole store before any byte is read. Returns which MTP modules exist and
 * the parameters the checkpoint holds (optional ones only where present).
 */
export function validateCheckpoint(cfg: ModelConfig, store: TensorSource): { mtpModules: number; present: Map<string, ExpectedTensor> } {
  checkCountsAgainstStore(cfg, store);
  const expected = new Map(mainTensors(cfg));
  const mtpSets = Array.from({ length: cfg.numNextnPredictLayers }, (_, k) => mtpTensors(cfg, k));
  let mtpModules = 0;
  for (const [k, set] of mtpSets.entries()) {
    const present = [...set.keys()].filter((n) => store.has(n));
    if (present.length === 0) break; // checkpoint without MTP (as HF exports): forward works, --mtp does not
    for (const [n, e] of set) expected.set(n, e);
    mtpModules = k + 1;
  }
  const block = cfg.quantization?.weightBlockSize ?? [128, 128];
  const where = (name: string) => `tensor "${name}" in ${store.entry(name).file}`;
  for (const name of store.names()) {
    if (expected.has(name) || isIgnorableBuffer(name)) continue;
    if (name.endsWith(SCALE_SUFFIX) && expected.has(name.slice(0, -SCALE_SUFFIX.length))) continue;
    throw new Error(`unexpected ${where(name)}: config.json (${describe(cfg)}) has no such parameter`);
  }
  for (const [name, e] of expected) {
    if (!store.has(name)) {
      if (e.optional) continue;
      throw new Error(`missing tensor "${name}" (shape [${e.shape.join(', ')}]) in ${store.dir}`);
    }
    const entry = store.entry(name);
    if (!sameShape(entry.shape, e.shape)) {
      throw new Error(`${where(name)} has shape [${entry.shape.join(', ')}], config.json implies [${e.shape.join(', ')}]`);
    }
    const scaleName = name + SCALE_SUFFIX;
    if (entry.dtype === 'F8_E4M3') {
      if (!e.fp8Allowed) throw new Error(`${where(name)} is F8_E4M3, but this parameter is never quantised (keep it F32/BF16/F16)`);
      if (!store.has(scaleName)) throw new Error(`${where(name)} is F8_E4M3 but its block scales "${scaleName}" are missing`);
      const s = store.entry(scaleName);
      const want = scaleShape(e.shape, block);
      if (s.dtype !== 'F32') throw new Error(`${where(scaleName)} must be F32, got ${s.dtype}`);
      if (!sameShape(s.shape, want)) {
        throw new Error(`${where(scaleName)} has shape [${s.shape.join(', ')}], blocks of [${block.join(', ')}] need [${want.join(', ')}]`);
      }
    } else if (store.has(scaleName)) {
      throw new Error(`${where(scaleName)} scales a ${entry.dtype} weight; block scales belong to F8_E4M3 weights only`);
    }
  }
  return { mtpModules, present: new Map([...expected].filter(([n]) => store.has(n))) };
}

/**
 * The last layer and the last expert the config implies must be in the store before the expected tensors are listed:
 * a corrupt count (say 1e30 layers) would otherwise build a table of that many names.
 */
function checkCountsAgainstStore(cfg: ModelConfig, store: TensorSource): void {
  const last = `${layerPrefix(cfg.numHiddenLayers - 1)}input_layernorm.weight`;
  if (!store.has(last)) throw new Error(`missing tensor "${last}" in ${store.dir}: config.json (${describe(cfg)}) implies it`);
  const moe = moeLayerIndices(cfg)[0];
  if (moe === undefined) return;
  const expert = `${layerPrefix(moe)}mlp.experts.${cfg.nRoutedExperts - 1}.gate_proj.weight`;
  if (!store.has(expert)) throw new Error(`missing tensor "${expert}" in ${store.dir}: config.json (${describe(cfg)}) implies it`);
}

function describe(cfg: ModelConfig): string {
  return `${cfg.numHiddenLayers} layers, ${cfg.nRoutedExperts} routed experts, ${cfg.numNextnPredictLayers} MTP`;
}

export interface LoadWeightsOptions {
  /** What the tensors become in memory (default stored): weight-format.ts. */
  weights?: WeightFormat;
  /** Weight bytes per arena (default: QIUSUO_ARENA_BYTES or tensor/arenas.ts's default). */
  arenaBytes?: number;
  /** Memory the weights may take (default: what the machine has available); loading refuses a model beyond it. */
  availableMemory?: number;
  /** Called after each tensor with the checkpoint bytes read so far and in all. */
  onProgress?: (read: number, total: number) => void;
  /** Told, once, which tensors could not take the format and what they became (default: not told). */
  onFallback?: (message: string) => void;
  /** Stored bytes one conversion step reads at most (default 16 MiB; tests make it small to convert in many slabs). */
  slabBytes?: number;
  /** Where loading spends its time, added up here when given: reading files, converting to the format. */
  timings?: { readMs: number; convertMs: number };
}

/** A checkpoint's tensors as they will be held under `format`, by name, in the store's read order. */
export function planWeights(present: Map<string, ExpectedTensor>, store: TensorSource, format: WeightFormat): Map<string, ResidentTensor> {
  const plan = new Map<string, ResidentTensor>();
  for (const [name, expected] of present) {
    const entry = store.entry(name);
    const scale = store.has(name + SCALE_SUFFIX) ? store.entry(name + SCALE_SUFFIX).shape : null;
    plan.set(name, residentOf(name, expected, { dtype: entry.dtype, shape: entry.shape, scaleShape: scale }, format));
  }
  return plan;
}

export const residentBytes = (plan: Map<string, ResidentTensor>): number => {
  let n = 0;
  for (const r of plan.values()) n += r.bytes + r.scaleBytes;
  return n;
};

/** How many weight arenas a plan takes with `limit` weight bytes per arena (0: it fits the main heap), as loading places them. */
export function countArenas(plan: Map<string, ResidentTensor>, shapes: (name: string) => readonly number[], limit?: number): number {
  let n = 0;
  const placement = new WeightPlacement<number>(0, residentBytes(plan), limit, () => ++n);
  const sizes = (r: ResidentTensor) => [r.bytes, ...(r.scaleShape ? [r.scaleBytes] : [])];
  for (const [name, r] of plan) {
    if (name.endsWith('.gate_proj.weight')) {
      const trio = ['gate_proj', 'up_proj', 'down_proj'].map((m) => plan.get(name.replace('gate_proj', m)));
      if (trio.every((t) => t)) placement.keepTogether(name, trio.flatMap((t) => sizes(t!)));
    }
    placement.heapFor(name, sizes(r), shapes(name).length === 1);
  }
  return n;
}

/** "N tensors keep a wider format under --weights F: name (why), …", or null when every tensor took the format. */
export function describeFallbacks(plan: Map<string, ResidentTensor>, format: WeightFormat): string | null {
  const fell = [...plan].filter(([, r]) => r.fallback);
  if (fell.length === 0) return null;
  const shown = fell.slice(0, 3).map(([n, r]) => `${n} (${r.fallback})`).join(', ');
  return `${fell.length} tensor${fell.length > 1 ? 's' : ''} keep a wider format under --weights ${format}: ${shown}${fell.length > 3 ? ', …' : ''}`;
}

/** Memory this process may use: what the machine has available, within a cgroup limit if one is set. */
export function availableMemory(): number {
  const limit = process.constrainedMemory?.() ?? 0;
  return limit > 0 ? Math.min(limit, os.freemem()) : os.freemem();
}

const gib = (n: number) => (n >= 1024 ** 3 ? `${(n / 1024 ** 3).toFixed(1)} GiB` : `${(n / 1024 ** 2).toFixed(1)} MiB`);

/** Refuses, before any allocation, weights that do not fit `available` bytes; suggests the formats that would. */
function checkFits(present: Map<string, ExpectedTensor>, store: TensorSource, format: WeightFormat, need: number, available: number): void {
  if (need <= available) return;
  const fitting = WEIGHT_FORMATS.map((f) => ({ f, bytes: residentBytes(planWeights(present, store, f)) })).filter((x) => x.bytes <= available);
  throw new Error(`${store.dir}: the weights need ${gib(need)} of memory as --weights ${format}, but ${gib(available)} is available`
    + (fitting.length > 0 ? `; ${fitting.map((x) => `--weights ${x.f} needs ${gib(x.bytes)}`).join(', ')}` : '; no --weights format fits'));
}

/**
 * Reads every parameter into `heap`, or, when they do not fit one memory, into weight arenas (tensor/arenas.ts).
 * Validates the checkpoint first; on any failure frees what it read.
 */
export function loadWeights(cfg: ModelConfig, store: TensorSource, heap: Heap, opts: LoadWeightsOptions = {}): ModelWeights {
  const { mtpModules, present } = validateCheckpoint(cfg, store);
  const format = opts.weights ?? 'stored';
  const block = cfg.quantization?.weightBlockSize ?? [128, 128];
  const plan = planWeights(present, store, format);
  const total = residentBytes(plan);
  checkFits(present, store, format, total, opts.availableMemory ?? availableMemory());
  const fallbacks = describeFallbacks(plan, format);
  if (fallbacks) opts.onFallback?.(fallbacks);
  let readBytes = 0, toRead = 0;
  for (const name of plan.keys()) toRead += stored(name);
  const placement = new WeightPlacement(heap, total, opts.arenaBytes);
  const all: Tensor[] = [];
  const converter = new SlabConverter(opts.slabBytes);
  /** Bytes of a tensor's allocations: itself, and its block scales. */
  const sizes = (name: string): number[] => {
    const r = plan.get(name)!;
    return [r.bytes, ...(r.scaleShape ? [r.scaleBytes] : [])];
  };
  function stored(name: string): number {
    return store.entry(name).byteLength + (store.has(name + SCALE_SUFFIX) ? store.entry(name + SCALE_SUFFIX).byteLength : 0);
  }
  const together = (names: string[]) => placement.keepTogether(names[0], names.flatMap(sizes));
  const read = (name: string): Tensor => {
    const entry = store.entry(name), r = plan.get(name)!;
    const at = placement.heapFor(name, sizes(name), entry.shape.length === 1);
    const t = empty(at, entry.shape, r.dtype);
    all.push(t);
    const scaleInv = r.scaleShape ? empty(at, r.scaleShape, 'f32') : null;
    if (scaleInv) all.push(scaleInv);
    if (r.convert === null) {
      const t0 = performance.now();
      store.readInto(name, bytes(t));
      if (scaleInv) store.readInto(name + SCALE_SUFFIX, bytes(scaleInv));
      if (opts.timings) opts.timings.readMs += performance.now() - t0;
    } else {
      converter.convert(name, store, r.convert, bytes(t), scaleInv ? f32(scaleInv) : undefined, [block[0], block[1]], opts.timings);
    }
    readBytes += stored(name);
    opts.onProgress?.(readBytes, toRead);
    if (!scaleInv) return t;
    const scaleBlock: [number, number] = r.convert === 'e4m3' ? [E4M3_BLOCK[0], E4M3_BLOCK[1]] : [block[0], block[1]];
    return withScale({ ...t, owner: false }, { scaleInv, block: scaleBlock });
  };
  const optional = (name: string, fallback: Tensor) => (store.has(name) ? read(name) : fallback);
  try {
    const embed = read('model.embed_tokens.weight');
    const layers = Array.from({ length: cfg.numHiddenLayers }, (_, i) => readLayer(cfg, i, read, together));
    const norm = read('model.norm.weight');
    const head = optional('lm_head.weight', embed);
    const mtp: MtpWeights[] = [];
    for (let k = 0; k < mtpModules; k++) {
      const p = layerPrefix(cfg.numHiddenLayers + k);
      mtp.push({
        enorm: read(`${p}enorm.weight`), hnorm: read(`${p}hnorm.weight`), ehProj: read(`${p}eh_proj.weight`),
        embed: optional(`${p}embed_tokens.weight`, embed), head: optional(`${p}shared_head.head.weight`, head),
        norm: read(`${p}shared_head.norm.weight`),
        layer: readLayer(cfg, cfg.numHiddenLayers + k, read, together),
      });
    }
    return { embed, layers, norm, head, mtp, all, arenas: placement.arenas };
  } catch (err) {
    for (const t of all) dispose(t);
    throw err;
  }
}

/** Stored bytes one conversion step reads at most by default: a slab of whole rows. */
const SLAB_BYTES = 16 << 20;

/**
 * Converts a stored tensor to its resident format a slab of rows at a time through one reusable buffer, so loading
 * holds the resident weights plus one slab, never a whole stored tensor. Slabs are whole 128-row blocks where FP8
 * scales are read or made.
 */
class SlabConverter {
  private data = new Uint8Array(0);
  constructor(private readonly slabBytes = SLAB_BYTES) {}

  /** `block`: the checkpoint's FP8 block size; `timings` (when given) gets the reading and converting time. */
  convert(name: string, store: TensorSource, target: ConvertTarget, dst: Uint8Array, dstScale: Float32Array | undefined,
    block: readonly [number, number], timings?: { readMs: number; convertMs: number }): void {
    const e = store.entry(name), [rows, cols] = e.shape;
    const fp8Source = e.dtype === 'F8_E4M3';
    let scales: Float32Array | undefined;
    if (fp8Source) {
      const s = store.entry(name + SCALE_SUFFIX);
      scales = new Float32Array(s.byteLength / 4);
      store.readInto(name + SCALE_SUFFIX, new Uint8Array(scales.buffer));
    }
    const unit = lcm(target === 'e4m3' ? E4M3_BLOCK[0] : 1, fp8Source ? block[0] : 1);
    const rowBytes = e.byteLength / rows;
    const slab = Math.max(unit, Math.floor(this.slabBytes / rowBytes / unit) * unit);
    if (this.data.length < Math.min(rows, slab) * rowBytes) this.data = new Uint8Array(Math.min(rows, slab) * rowBytes);
    const srcScaleCols = Math.ceil(cols / block[1]), dstScaleCols = Math.ceil(cols / E4M3_BLOCK[1]);
    for (let r0 = 0; r0 < rows; r0 += slab) {
      const n = Math.min(slab, rows - r0), t0 = performance.now();
      const data = this.data.subarray(0, n * rowBytes);
      store.readInto(name, data, r0 * rowBytes);
      const t1 = performance.now();
      const at = byteSize(target, [r0, cols]);
      const src: SourceWeight = fp8Source
        ? { dtype: e.dtype, bytes: data, shape: [n, cols], block, scaleInv: scales!.subarray((r0 / block[0]) * srcScaleCols, Math.ceil((r0 + n) / block[0]) * srcScaleCols) }
        : { dtype: e.dtype, bytes: data, shape: [n, cols] };
      const scaleOut = dstScale?.subarray((r0 / E4M3_BLOCK[0]) * dstScaleCols, Math.ceil((r0 + n) / E4M3_BLOCK[0]) * dstScaleCols);
      convertWeight(src, target, dst.subarray(at, at + byteSize(target, [n, cols])), scaleOut);
      if (timings) { timings.readMs += t1 - t0; timings.convertMs += performance.now() - t1; }
    }
  }
}

const gcd = (a: number, b: number): number => (b === 0 ? a : gcd(b, a % b));
const lcm = (a: number, b: number) => (a / gcd(a, b)) * b;

/** `together(names)`: the named tensors, read next, must share a memory (an expert's three matrices). */
function readLayer(cfg: ModelConfig, i: number, read: (name: string) => Tensor, together: (names: string[]) => void): LayerWeights {
  const p = layerPrefix(i), a = `${p}self_attn.`, m = `${p}mlp.`;
  const lora = cfg.qLoraRank !== null;
  const attn: AttentionWeights = {
    qA: lora ? read(`${a}q_a_proj.weight`) : null,
    qANorm: lora ? read(`${a}q_a_layernorm.weight`) : null,
    qB: lora ? read(`${a}q_b_proj.weight`) : null,
    q: lora ? null : read(`${a}q_proj.weight`),
    kvA: read(`${a}kv_a_proj_with_mqa.weight`),
    kvANorm: read(`${a}kv_a_layernorm.weight`),
    kvB: read(`${a}kv_b_proj.weight`),
    o: read(`${a}o_proj.weight`),
  };
  const swiglu = (prefix: string): SwiGluWeights => {
    const names = ['gate_proj', 'up_proj', 'down_proj'].map((n) => `${prefix}${n}.weight`);
    together(names);
    return { gate: read(names[0]), up: read(names[1]), down: read(names[2]) };
  };
  let ffn: FfnWeights;
  if (!isMoeLayer(cfg, i)) {
    ffn = { kind: 'dense', mlp: swiglu(m) };
  } else {
    const experts = Array.from({ length: cfg.nRoutedExperts }, (_, e) => swiglu(`${m}experts.${e}.`));
    ffn = {
      kind: 'moe',
      moe: {
        router: read(`${m}gate.weight`),
        bias: cfg.topkMethod === 'noaux_tc' ? read(`${m}gate.e_score_correction_bias`) : null,
        bank: { gate: experts.map((x) => x.gate), up: experts.map((x) => x.up), down: experts.map((x) => x.down) },
        shared: cfg.nSharedExperts > 0 ? swiglu(`${m}shared_experts.`) : null,
      },
    };
  }
  return { inputNorm: read(`${p}input_layernorm.weight`), postNorm: read(`${p}post_attention_layernorm.weight`), attn, ffn };
}

export function disposeWeights(w: ModelWeights): void {
  for (const t of w.all) dispose(t);
  w.all.length = 0;
}

