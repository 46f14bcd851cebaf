// The MLA latent KV cache: per layer one pool [slots × capacity, R + dr] holding, per token, the normalised latent
// (kv_lora_rank values) and the roped shared key (qk_rope_head_dim values) — 576 values per token per layer at V3
// size instead of 2·H·(dn+dv)… for a plain K/V cache. Sequences own fixed slots; lengths are tracked here.

import type { Heap } from '../tensor/heap.js';
import type { Tensor } from '../tensor/tensor.js';
import { empty, dispose } from '../tensor/tensor.js';

export class LatentCache {
  readonly pools: Tensor[];
  readonly lengths: Int32Array;
  private readonly freeSlots: number[];

  /** `layers` pools of `slots` sequences of up to `capacity` tokens, `width` = kv_lora_rank + qk_rope_head_dim. */
  constructor(heap: Heap, layers: number, readonly slots: number, readonly capacity: number, readonly width: number) {
    this.pools = Array.from({ length: layers }, () => empty(heap, [slots * capacity, width]));
    this.lengths = new Int32Array(slots);
    this.freeSlots = Array.from({ length: slots }, (_, i) => slots - 1 - i);
  }


  /** Claims an empty slot; throws when all are in use. */
  acquire(): number {
    const s = this.freeSlots.pop();
    if (s === undefined) throw new Error(`latent cache: all ${this.slots} sequence slots are in use`);
    this.lengths[s] = 0;
    return s;
  }

  release(slot: number): void {
    if (slot < 0 || slot >= this.slots || this.freeSlots.includes(slot)) throw new Error(`latent cache: slot ${slot} is not in use`);
    this.lengths[slot] = 0;
    this.freeSlots.push(slot);
  }

  /** First pool row of a slot. */
  start(slot: number): number { return slot * this.capacity; }

  /** Checks that `n` more tokens fit into `slot`. */
  reserve(slot: number, n: number): void {
    if (this.lengths[slot] + n > this.capacity) {
      throw new Error(`latent cache: sequence of ${this.lengths[slot] + n} tokens exceeds the cache capacity of ${this.capacity}`);
    }
  }

  dispose(): void { for (const p of this.pools) dispose(p); }
}
