// A checkpoint folder as one tensor store, resolved in the order Hugging Face `transformers` uses: `model.safetensors`,
// else shards + `model.safetensors.index.json` ({metadata?, weight_map: {tensor: shardFile}}); every index/shard
// contradiction an error at open; and the streaming writer of such folders (writeShards). Leaves out what the tensors
// mean (the HF name map) and dtype conversion.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { oneLine, preview } from '../util/json.js';
import { DTYPE_BYTES, parseDType } from './dtypes.js';
import { randomBytes } from 'node:crypto';
import { SafetensorsFile, writeFileAtomically, writeSafetensorsTo, type TensorBytes, type TensorEntry, type TensorSpec, type TensorToWrite } from './safetensors.js';

const SINGLE_FILE = 'model.safetensors';
const INDEX_FILE = 'model.safetensors.index.json';
/** A shard of any numbering: model-00001-of-00004 (transformers), model-00001-of-000004 (DeepSeek), model-1-of-27 (Moonshot). */
const SHARD_NAME = /^model-\d+(-of-\d+)\.safetensors$/;
const PYTORCH_FILE = /^pytorch_model.*\.bin(\.index\.json)?$/;

/** The first three names, and an ellipsis if there are more. */
const listSome = (names: string[]): string => `${names.slice(0, 3).join(', ')}${names.length > 3 ? ', …' : ''}`;


function closeAll(files: Iterable<SafetensorsFile>): void {
  for (const f of files) f.close();
}

/** Reads and checks the index; returns shard file name → tensors the index places in it. */
function readIndex(dir: string): Map<string, string[]> {
  const indexPath = path.join(dir, INDEX_FILE);
  let parsed: unknown;
  try {
    parsed = JSON.parse(fs.readFileSync(indexPath, 'utf8'));
  } catch (e) {
    throw new Error(`${indexPath}: cannot read the shard index: ${oneLine((e as Error).message)}`);
  }
  const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
  if (!isObject(parsed)) throw new Error(`${indexPath}: shard index is not a JSON object`);
  if (parsed.metadata !== undefined && !isObject(parsed.metadata)) throw new Error(`${indexPath}: "metadata" is not an object`);
  const map = parsed.weight_map;
  if (!isObject(map)) throw new Error(`${indexPath}: missing "weight_map" object (tensor name → shard file)`);
  const byShard = new Map<string, string[]>();
  for (const [tensor, shard] of Object.entries(map)) {
    if (typeof shard !== 'string' || shard === '' || shard === '.' || shard === '..' || path.basename(shard) !== shard) {
      throw new Error(`${indexPath}: tensor ${preview(tensor)} maps to ${preview(shard)}, not a file name in the folder`);
    }
    const list = byShard.get(shard);
    if (list === undefined) byShard.set(shard, [tensor]);
    else list.push(tensor);
  }
  return byShard;
}

/**
 * A `model-i-of-N.safetensors` file whose set (same N) the index uses, but that the index maps no
 * tensor to, means the index lost that shard's tensors. Other unlisted files (e.g. a consolidated
 * copy next to the shards) are ignored, as Hugging Face loaders do.
 */
function checkNoForgottenShard(dir: string, shards: string[]): void {
  const setOf = (f: string): string | undefined => SHARD_NAME.exec(f)?.[1];
  const sets = new Set(shards.map(setOf).filter((s) => s !== undefined));
  const listed = new Set(shards);
  for (const f of fs.readdirSync(dir).sort()) {
    const set = setOf(f);
    if (set !== undefined && sets.has(set) && !listed.has(f)) {
      throw new Error(`${path.join(dir, INDEX_FILE)}: shard ${f} is in the folder but the index maps no tensor to it`);
    }
  }
}

const sameShape = (a: TensorEntry, b: TensorEntry): boolean => a.dtype === b.dtype && a.shape.join(',') === b.shape.join(',');

/**
 * `model.safetensors` is what gets loaded when an index sits beside it; the index may still describe it (its
 * weight_map naming that file) or the same tensors in shards. Only a real contradiction is refused: the index
 * naming a shard that is missing, or a tensor that the index's file and `model.safetensors` disagree on.
 */
function checkIndexAgreesWithSingle(dir: string, single: SafetensorsFile): void {
  const indexPath = path.join(dir, INDEX_FILE);
  const singlePath = path.join(dir, SINGLE_FILE);
  const contradiction = (what: string): Error =>
    new Error(`${indexPath} contradicts ${singlePath}, which is the file loaded: ${what}; remove the stale index or fix the files`);
  for (const [shard, tensors] of readIndex(dir)) {
    const shardPath = path.join(dir, shard);
    if (shard === SINGLE_FILE) {
      const lost = tensors.find((t) => !single.entries.has(t));
      if (lost !== undefined) throw contradiction(`it places tensor "${lost}" there, but that file has no such tensor`);
      continue;
    }
    if (!fs.existsSync(shardPath)) throw contradiction(`it names shard ${shard} (holding e.g. tensor "${tensors[0]}"), which does not exist`);
    const file = SafetensorsFile.open(shardPath);
    try {
      for (const t of tensors) {
        const there = file.entries.get(t);
        if (there === undefined) throw contradiction(`it places tensor "${t}" in ${shardPath}, which has no such tensor`);
        const here = single.entries.get(t);
        if (here === undefined) throw contradiction(`tensor "${t}" is in ${shardPath} but not in ${SINGLE_FILE}`);
        if (!sameShape(here, there)) {
          throw contradiction(`tensor "${t}" is ${here.dtype} [${here.shape}] there but ${there.dtype} [${there.shape}] in ${shardPath}`);
        }
      }
    } finally {
      file.close();
    }
  }
}

/** Opens every shard named by the index and checks that index and shard headers agree exactly. */
function openIndexed(dir: string): SafetensorsFile[] {
  const indexPath = path.join(dir, INDEX_FILE);
  const byShard = readIndex(dir);
  const shards = [...byShard.keys()].sort();
  checkNoForgottenShard(dir, shards);
  const files: SafetensorsFile[] = [];
  try {
    for (const shard of shards) {
      const tensors = byShard.get(shard)!;
      const shardPath = path.join(dir, shard);
      if (!fs.existsSync(shardPath)) {
        throw new Error(`${indexPath}: shard ${oneLine(shard)} (holding e.g. tensor ${preview(tensors[0])}) does not exist in ${dir}`);
      }
      const file = SafetensorsFile.open(shardPath);
      files.push(file);
      for (const t of tensors) {
        if (!file.entries.has(t)) throw new Error(`${indexPath}: tensor ${preview(t)} is listed for shard ${oneLine(shard)} but ${shardPath} has no such tensor`);
      }
      const listed = new Set(tensors);
      for (const t of file.entries.keys()) {
        if (!listed.has(t)) throw new Error(`${shardPath}: tensor ${preview(t)} is in this shard but the index ${indexPath} does not place it here`);
      }
    }
  } catch (e) {
    closeAll(files);
    throw e;
  }
  return files;
}

/** Where a model's tensors are read from: a checkpoint folder (WeightStore) or tensors in memory. */
export interface TensorSource {
  readonly dir: string;
  has(name: string): boolean;
  entry(name: string): TensorEntry;
  names(): string[];
  /** The files its tensors are read from. */
  files(): string[];
  /** Reads a tensor's bytes into dest: all of them, or dest.length of them from byte `offset` of its data. */
  readInto(name: string, dest: Uint8Array, offset?: number): void;
}

/** Tensors held in memory (a freshly initialised model), with the same checks as files. */
export class MemoryTensorSource implements TensorSource {
  private readonly byName = new Map<string, TensorToWrite>();
  constructor(readonly dir: string, tensors: TensorToWrite[]) {
    for (const t of tensors) this.byName.set(t.name, t);
  }
  has(name: string): boolean { return this.byName.has(name); }
  entry(name: string): TensorEntry {
    const t = this.byName.get(name);
    if (!t) throw new Error(`tensor "${name}" not found in ${this.dir}`);
    return { name, dtype: t.dtype, shape: t.shape, byteLength: t.data.length, file: this.dir, fileOffset: 0 };
  }
  names(): string[] { return [...this.byName.keys()]; }
  files(): string[] { return []; }
  readInto(name: string, dest: Uint8Array, offset?: number): void {
    const t = this.byName.get(name), at = offset ?? 0;
    if (!t || (offset === undefined ? dest.length !== t.data.length : at < 0 || at + dest.length > t.data.length)) {
      throw new Error(`tensor "${name}": cannot read ${dest.length} bytes from byte ${at} of it in ${this.dir}`);
    }
    dest.set(t.data.subarray(at, at + dest.length));
  }
}

/** Read-only view of a checkpoint folder; names() are in on-disk order (file by file, by offset). */
export class WeightStore implements TensorSource {
  private readonly byName = new Map<string, { file: SafetensorsFile; entry: TensorEntry }>();

  private constructor(
    readonly dir: string,
    private readonly files_: SafetensorsFile[],
  ) {
    for (const file of files_) for (const entry of file.entries.values()) this.byName.set(entry.name, { file, entry });
  }

  /**
   * Opens `dir` as `transformers`' from_pretrained resolves a local folder: `model.safetensors` wins (an index beside
   * it is only checked not to contradict it), then the index and its shards, then PyTorch `pytorch_model*.bin`
   * files, which are refused (unpickling can run code). Beyond transformers, a folder whose only weights file is
   * one differently named `*.safetensors` is read too; several without an index are an error.
   */
  static open(dir: string): WeightStore {
    if (!fs.existsSync(dir) || !fs.statSync(dir).isDirectory()) throw new Error(`${dir}: checkpoint folder does not exist`);
    if (fs.existsSync(path.join(dir, SINGLE_FILE))) {
      const single = SafetensorsFile.open(path.join(dir, SINGLE_FILE));
      try {
        if (fs.existsSync(path.join(dir, INDEX_FILE))) checkIndexAgreesWithSingle(dir, single);
      } catch (e) {
        single.close();
        throw e;
      }
      return new WeightStore(dir, [single]);
    }
    if (fs.existsSync(path.join(dir, INDEX_FILE))) return new WeightStore(dir, openIndexed(dir));
    const files = fs.readdirSync(dir).sort();
    const pickles = files.filter((f) => PYTORCH_FILE.test(f));
    if (pickles.length > 0) {
      throw new Error(`${dir}: holds PyTorch pickle checkpoints (${listSome(pickles)}) and no safetensors; qiusuo does not load pickles, as unpickling can run code: convert them to safetensors first (e.g. transformers' from_pretrained then save_pretrained, which writes safetensors)`);
    }
    const found = files.filter((f) => f.endsWith('.safetensors'));
    if (found.length === 0) throw new Error(`${dir}: no ${SINGLE_FILE}, ${INDEX_FILE} or other .safetensors file`);
    if (found.length > 1) {
      throw new Error(`${dir}: ${found.length} .safetensors files (${listSome(found)}) but no ${INDEX_FILE}; an index is required for a sharded checkpoint`);
    }
    return new WeightStore(dir, [SafetensorsFile.open(path.join(dir, found[0]!))]);
  }

  has(name: string): boolean {
    return this.byName.has(name);
  }

  entry(name: string): TensorEntry {
    const hit = this.byName.get(name);
    if (hit === undefined) throw new Error(`tensor "${name}" not found in checkpoint folder ${this.dir}`);
    return hit.entry;
  }

  names(): string[] {
    return [...this.byName.keys()];
  }

  files(): string[] {
    return this.files_.map((f) => f.path);
  }

  /** Reads tensor `name` into `dest`: all of it (dest holds exactly entry(name).byteLength bytes), or from `offset`. */
  readInto(name: string, dest: Uint8Array, offset?: number): void {
    const hit = this.byName.get(name);
    if (hit === undefined) throw new Error(`tensor "${name}" not found in checkpoint folder ${this.dir}`);
    hit.file.readInto(name, dest, offset);
  }

  close(): void {
    closeAll(this.files_);
  }
}

/** How a checkpoint's tensors are split into files and how those files are numbered. */
export interface ShardLayout {
  /** Pack tensors in order into shards of at most this many data bytes, or one decoder layer per shard. */
  split: { maxShardBytes: number } | 'per-layer';
  /** Zero-padded widths of i and N in model-i-of-N.safetensors (0: no padding). */
  digits: [number, number];
}

/** transformers' save_pretrained numbering; one file unless a shard size is given. */
export const DEFAULT_SHARD_LAYOUT: ShardLayout = { split: { maxShardBytes: Number.MAX_SAFE_INTEGER }, digits: [5, 5] };

export function shardFileName(i: number, n: number, layout: ShardLayout): string {
  const [di, dn] = layout.digits;
  return `model-${String(i).padStart(di, '0')}-of-${String(n).padStart(dn, '0')}.safetensors`;
}

const LAYER_OF = /^model\.layers\.(\d+)\./;

/**
 * Splits `specs` into consecutive runs, one per shard, keeping their order (so data can be produced in that order).
 * By size: a tensor that would overflow the current shard starts the next (a larger tensor gets a shard to itself).
 * Per layer: model.layers.i.* opens a new shard when i changes; other tensors join the shard before them (the
 * embedding the first layer's, the final norm and head the last's), as Moonshot's per-layer checkpoints lay them out.
 */
export function planShards<T extends TensorSpec>(specs: readonly T[], split: ShardLayout['split'], sizeOf: (t: T) => number): T[][] {
  const groups: T[][] = [];
  let current: T[] = [];
  let currentBytes = 0;
  let currentLayer: string | undefined;
  for (const t of specs) {
    const bytes = sizeOf(t);
    let startNew: boolean;
    if (split === 'per-layer') {
      const layer = LAYER_OF.exec(t.name)?.[1];
      startNew = layer !== undefined && currentLayer !== undefined && layer !== currentLayer;
      if (layer !== undefined) currentLayer = layer;
    } else {
      startNew = current.length > 0 && currentBytes + bytes > split.maxShardBytes;
    }
    if (startNew) {
      groups.push(current);
      current = [];
      currentBytes = 0;
    }
    current.push(t);
    currentBytes += bytes;
  }
  if (current.length > 0 || groups.length === 0) groups.push(current);
  return groups;
}

/** The files `layout` puts `specs` in, with their tensors: model.safetensors alone, or model-i-of-N shards. */
export function planShardFiles<T extends TensorSpec>(specs: readonly T[], layout: ShardLayout, sizeOf: (t: T) => number): { file: string; tensors: T[] }[] {
  const groups = planShards(specs, layout.split, sizeOf);
  return groups.map((tensors, i) => ({ file: groups.length === 1 ? SINGLE_FILE : shardFileName(i + 1, groups.length, layout), tensors }));
}

/** A temporary shard as writeShards names it: the shard's name, then the writing process's id and a random tag. */
const TEMP_SHARD = /^model.*\.safetensors\.tmp-(\d+)-[0-9a-f]{12}$/;

/**
 * Removes temporary shards left by a writer that was killed (a Ctrl-C during a 30 GB init): their process is gone.
 * Those of a live process, which may be writing now, stay.
 */
function removeDeadTemporaries(dir: string): void {
  for (const f of fs.readdirSync(dir)) {
    const pid = TEMP_SHARD.exec(f)?.[1];
    if (pid === undefined || isAlive(Number(pid))) continue;
    fs.rmSync(path.join(dir, f), { force: true });
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM'; // someone else's process
  }
}

/** Bytes free for this user on the file system holding `dir`. */
function freeBytes(dir: string): number {
  const s = fs.statfsSync(dir);
  return s.bavail * s.bsize;
}

/**
 * Streams a checkpoint into `dir` (created if needed): the shards `layout` plans from names, dtypes and shapes alone,
 * each tensor's bytes produced by `bytes` in order, one tensor at a time. Several shards become model-i-of-N files +
 * model.safetensors.index.json (metadata.total_size, weight_map); one becomes a plain model.safetensors. Every shard is
 * written to a temporary file first and all are renamed into place only once the last is complete, then the index:
 * a failure part-way (or too little disk, checked first) leaves the folder as it was, temporaries removed. Afterwards
 * the other layout's leftovers (a stale index or model.safetensors, model-*-of-*.safetensors files not written now)
 * are removed so the folder reads back unambiguously.
 */
export function writeShards(dir: string, specs: readonly TensorSpec[], layout: ShardLayout, bytes: TensorBytes): void {
  if (layout.split !== 'per-layer' && !(layout.split.maxShardBytes > 0)) {
    throw new Error(`writing ${dir}: the shard size must be positive, got ${layout.split.maxShardBytes}`);
  }
  const seen = new Set<string>();
  for (const t of specs) {
    if (seen.has(t.name)) throw new Error(`writing ${dir}: tensor "${t.name}" appears twice`);
    seen.add(t.name);
  }
  const indexed = specs.map((spec, index) => ({ ...spec, index, size: tensorSize(dir, spec) }));
  const files = planShardFiles(indexed, layout, (t) => t.size);
  const groups = files.map((f) => f.tensors);
  const names = files.map((f) => f.file);
  const totalSize = indexed.reduce((sum, t) => sum + t.size, 0);

  fs.mkdirSync(dir, { recursive: true });
  removeDeadTemporaries(dir);
  const free = freeBytes(dir);
  if (totalSize > free) {
    throw new Error(`writing ${dir}: the weights take ${(totalSize / 1e9).toFixed(2)} GB but only ${(free / 1e9).toFixed(2)} GB is free there`);
  }
  const temps: string[] = [];
  const metadata = { format: 'pt' }; // what Hugging Face loaders expect to find
  try {
    groups.forEach((group, g) => {
      const file = path.join(dir, names[g]!);
      const tmp = `${file}.tmp-${process.pid}-${randomBytes(6).toString('hex')}`;
      temps.push(tmp);
      const fd = fs.openSync(tmp, 'wx');
      try {
        writeSafetensorsTo(fd, file, group, (i, spec, write) => bytes(group[i]!.index, spec, write), metadata);
        fs.fsyncSync(fd);
      } finally {
        fs.closeSync(fd);
      }
    });
    temps.forEach((tmp, g) => fs.renameSync(tmp, path.join(dir, names[g]!)));
  } catch (e) {
    for (const tmp of temps) fs.rmSync(tmp, { force: true });
    throw e;
  }
  if (groups.length > 1) {
    const weightMap = new Map<string, string>();
    groups.forEach((group, g) => { for (const t of group) weightMap.set(t.name, names[g]!); });
    const sortedMap = Object.fromEntries([...weightMap].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
    const json = Buffer.from(JSON.stringify({ metadata: { total_size: totalSize }, weight_map: sortedMap }, null, 2) + '\n');
    writeFileAtomically(path.join(dir, INDEX_FILE), (fd) => {
      for (let done = 0; done < json.length; ) done += fs.writeSync(fd, json, done);
    });
  }
  const written = new Set(groups.length > 1 ? [...names, INDEX_FILE] : names);
  for (const f of fs.readdirSync(dir)) {
    const stale = f === SINGLE_FILE || f === INDEX_FILE || SHARD_NAME.test(f);
    if (stale && !written.has(f)) fs.rmSync(path.join(dir, f), { force: true });
  }
}

function tensorSize(dir: string, spec: TensorSpec): number {
  return DTYPE_BYTES[parseDType(spec.dtype, `writing ${dir}: tensor "${spec.name}"`)] * spec.shape.reduce((a, b) => a * b, 1);
}

/**
 * Writes tensors held in memory into `dir` with writeShards, packed in order into shards of at most `maxShardBytes`
 * data bytes, numbered model-0000i-of-0000N.safetensors.
 */
export function writeShardedSafetensors(dir: string, tensors: TensorToWrite[], maxShardBytes: number): void {
  writeShards(dir, tensors, { split: { maxShardBytes }, digits: [5, 5] }, (i, _spec, write) => write(tensors[i]!.data));
}
