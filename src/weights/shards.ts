// A checkpoint folder as one tensor store, resolved in the order Hugging Face `transformers` uses: `model.safetensors`,
// else shards + `model.safetensors.index.json` ({metadata?, weight_map: {tensor: shardFile}}); every index/shard
// contradiction an error at open. Leaves out what the tensors mean (the HF name map) and dtype conversion.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { oneLine, preview } from '../util/json.js';
import { SafetensorsFile, writeFileAtomically, writeSafetensors, type TensorEntry, type TensorToWrite } from './safetensors.js';

const SINGLE_FILE = 'model.safetensors';
const INDEX_FILE = 'model.safetensors.index.json';
const SHARD_NAME = /^model-\d{5}-of-\d{5}\.safetensors$/;
const PYTORCH_FILE = /^pytorch_model.*\.bin(\.index\.json)?$/;

/** The first three names, and an ellipsis if there are more. */
const listSome = (names: string[]): string => `${names.slice(0, 3).join(', ')}${names.length > 3 ? ', …' : ''}`;

function shardName(i: number, n: number): string {
  const pad = (k: number): string => String(k).padStart(5, '0');
  return `model-${pad(i)}-of-${pad(n)}.safetensors`;
}

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
  const setOf = (f: string): string | undefined => (SHARD_NAME.test(f) ? f.slice(-'of-00000.safetensors'.length) : undefined);
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
  readInto(name: string, dest: Uint8Array): void;
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
  readInto(name: string, dest: Uint8Array): void {
    const t = this.byName.get(name);
    if (!t || dest.length !== t.data.length) throw new Error(`tensor "${name}": cannot read ${dest.length} bytes from ${this.dir}`);
    dest.set(t.data);
  }
}

/** Read-only view of a checkpoint folder; names() are in on-disk order (file by file, by offset). */
export class WeightStore implements TensorSource {
  private readonly byName = new Map<string, { file: SafetensorsFile; entry: TensorEntry }>();

  private constructor(
    readonly dir: string,
    private readonly files: SafetensorsFile[],
  ) {
    for (const file of files) for (const entry of file.entries.values()) this.byName.set(entry.name, { file, entry });
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

  /** Reads tensor `name` into `dest`, which must hold exactly entry(name).byteLength bytes. */
  readInto(name: string, dest: Uint8Array): void {
    const hit = this.byName.get(name);
    if (hit === undefined) throw new Error(`tensor "${name}" not found in checkpoint folder ${this.dir}`);
    hit.file.readInto(name, dest);
  }

  close(): void {
    closeAll(this.files);
  }
}

/**
 * Writes tensors into `dir` (created if needed), packing them in order into shards of at most
 * `maxShardBytes` data bytes (a larger tensor gets a shard to itself). Several shards become
 * model-0000i-of-0000N.safetensors + model.safetensors.index.json (metadata.total_size, weight_map);
 * one shard becomes a plain model.safetensors. Every file is written via temp + rename, the index
 * last; afterwards the other layout's leftovers (a stale index or model.safetensors, and
 * model-*-of-*.safetensors files not written now) are removed so the folder reads back unambiguously.
 */
export function writeShardedSafetensors(dir: string, tensors: TensorToWrite[], maxShardBytes: number): void {
  if (!(maxShardBytes > 0)) throw new Error(`writeShardedSafetensors: maxShardBytes must be positive, got ${maxShardBytes}`);
  const seen = new Set<string>();
  for (const t of tensors) {
    if (seen.has(t.name)) throw new Error(`writeShardedSafetensors: tensor "${t.name}" appears twice (writing ${dir})`);
    seen.add(t.name);
  }
  const groups: TensorToWrite[][] = [];
  let current: TensorToWrite[] = [];
  let currentBytes = 0;
  for (const t of tensors) {
    if (current.length > 0 && currentBytes + t.data.length > maxShardBytes) {
      groups.push(current);
      current = [];
      currentBytes = 0;
    }
    current.push(t);
    currentBytes += t.data.length;
  }
  if (current.length > 0 || groups.length === 0) groups.push(current);

  fs.mkdirSync(dir, { recursive: true });
  const metadata = { format: 'pt' }; // what Hugging Face loaders expect to find
  const written = new Set<string>();
  if (groups.length === 1) {
    writeSafetensors(path.join(dir, SINGLE_FILE), groups[0]!, metadata);
    written.add(SINGLE_FILE);
  } else {
    const weightMap = new Map<string, string>();
    let totalSize = 0;
    groups.forEach((group, i) => {
      const name = shardName(i + 1, groups.length);
      writeSafetensors(path.join(dir, name), group, metadata);
      written.add(name);
      for (const t of group) {
        weightMap.set(t.name, name);
        totalSize += t.data.length;
      }
    });
    const sortedMap = Object.fromEntries([...weightMap].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
    const json = Buffer.from(JSON.stringify({ metadata: { total_size: totalSize }, weight_map: sortedMap }, null, 2) + '\n');
    writeFileAtomically(path.join(dir, INDEX_FILE), (fd) => {
      for (let done = 0; done < json.length; ) done += fs.writeSync(fd, json, done);
    });
    written.add(INDEX_FILE);
  }
  for (const f of fs.readdirSync(dir)) {
    const stale = f === SINGLE_FILE || f === INDEX_FILE || SHARD_NAME.test(f);
    if (stale && !written.has(f)) fs.rmSync(path.join(dir, f), { force: true });
  }
}
