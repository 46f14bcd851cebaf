// Where a model's weights live when they do not fit one WebAssembly.Memory (4 GiB, the wasm32 limit): in weight
// arenas, further heaps of at most QIUSUO_ARENA_BYTES of weights each. A model that fits keeps every tensor in the
// main heap, beside the activations, exactly as before arenas existed. One that does not keeps its vectors (norms,
// biases: read by row ops) in the main heap and fills arenas in load order with everything else, so the weights of
// one layer mostly share an arena and an op reads a weight where it lies (kernels/wasm/arenas.ts).
// Leaves out: what ops do with a weight in another memory (the backend stages activations there).

import { Heap } from './heap.js';

const GiB = 1024 ** 3;
/** One memory's hard limit. */
export const MEMORY_LIMIT = 4 * GiB;
/** Default weight bytes per arena: the rest of its 4 GiB is room for the activations a call stages there. */
export const DEFAULT_ARENA_BYTES = MEMORY_LIMIT - GiB / 4;

/** Weight bytes per arena: QIUSUO_ARENA_BYTES (tests set it small to split small models), else the default. */
export function arenaBytes(env = process.env.QIUSUO_ARENA_BYTES): number {
  if (env === undefined || env === '') return DEFAULT_ARENA_BYTES;
  const n = Number(env);
  if (!Number.isInteger(n) || n < 4096 || n > DEFAULT_ARENA_BYTES) {
    throw new Error(`QIUSUO_ARENA_BYTES must be an integer number of bytes in [4096, ${DEFAULT_ARENA_BYTES}], got "${env}"`);
  }
  return n;
}

/** Bytes a heap allocation of `bytes` takes (heap.ts rounds to 64). */
const allocated = (bytes: number) => Math.max(64, Math.ceil(bytes / 64) * 64);

/**
 * Places tensors, in load order, in the main heap or in arenas. `H` is a heap (loading) or anything standing for one
 * (counting the arenas a model would take, for `qiusuo info`).
 */
export class WeightPlacement<H = Heap> {
  /** The weight arenas made so far (not the main heap). */
  readonly arenas: H[] = [];
  /** Whether the weights go to arenas (false: all in the main heap). */
  readonly split: boolean;
  private room = 0;

  /**
   * `totalBytes`: every weight tensor's bytes, to decide whether the model fits the main heap; `limit`: weight bytes
   * per arena.
   */
  constructor(readonly main: H, totalBytes: number, readonly limit = arenaBytes(),
    private readonly newArena: (initialBytes: number) => H = (n) => new Heap(n) as H) {
    this.split = totalBytes > limit;
  }

  /**
   * The heap a tensor goes to, with its allocations of `sizes` bytes (the tensor, its block scales); `vector`: a
   * rank-1 tensor (kept in the main heap).
   */
  heapFor(name: string, sizes: readonly number[], vector: boolean): H {
    if (!this.split || vector) return this.main;
    const need = this.ensureRoom(name, sizes);
    this.room -= need;
    return this.arenas[this.arenas.length - 1];
  }

  /**
   * Makes the tensors of `sizes` bytes that come next land in one arena (an expert's gate, up and down matrices, which
   * one kernel call reads together), starting a new arena if the current one lacks the room.
   */
  keepTogether(name: string, sizes: readonly number[]): void {
    if (this.split) this.ensureRoom(name, sizes);
  }

  /** Starts a new arena unless the current one has room for allocations of `sizes`; returns the bytes they take. */
  private ensureRoom(name: string, sizes: readonly number[]): number {
    const need = sizes.reduce((a, b) => a + allocated(b), 0);
    if (need > MEMORY_LIMIT - GiB / 4) {
      throw new Error(`"${name}" takes ${sizes.reduce((a, b) => a + b, 0)} bytes, more than one wasm memory holds beside its staging room (${MEMORY_LIMIT - GiB / 4})`);
    }
    if (this.arenas.length === 0 || need > this.room) {
      this.arenas.push(this.newArena(Math.min(need, this.limit)));
      this.room = Math.max(this.limit, need);
    }
    return need;
  }
}
