// RoPE's cos/sin for a call's positions, computed in float64 (Math.cos/sin, as the reference) into a per-call table
// [T, 2·dr] that the kernels read: AssemblyScript's own cos/sin keep tables and globals in memory. Per token, cosE
// [dr] then sinE [dr], laid out like the rotated pairs (ops.as). The last table is kept, so q's rope and the cache
// append of one layer (and every layer of a step) share one computation.

import type { Tensor } from '../../tensor/tensor.js';
import { i32 } from '../../tensor/tensor.js';
import type { Heap } from '../../tensor/heap.js';
import type { RopeSpec } from '../../model/rope.js';

export class RopeTable {
  private table = { ptr: 0, bytes: 0, spec: null as RopeSpec | null, dr: 0, positions: new Int32Array(0) };

  constructor(private readonly heap: Heap) {}

  /** Pointer to the table for these positions (recomputed only when they or the spec change). */
  at(positions: Tensor, spec: RopeSpec, T: number, dr: number): number {
    const pos = i32(positions).subarray(0, T);
    let table = this.table;
    if (table.spec === spec && table.dr === dr && table.positions.length === T && table.positions.every((p, i) => p === pos[i])) return table.ptr;
    const bytes = T * 2 * dr * 4;
    if (bytes > table.bytes) {
      if (table.ptr) this.heap.release(table.ptr);
      this.table = table = { ptr: 0, bytes: 0, spec: null, dr: 0, positions: new Int32Array(0) }; // valid if alloc throws
      const size = Math.max(bytes, 4096);
      this.table = table = { ...table, ptr: this.heap.alloc(size), bytes: size };
    }
    const a = new Float32Array(this.heap.memory.buffer, table.ptr, T * 2 * dr);
    const half = dr / 2;
    for (let t = 0; t < T; t++) {
      const cb = t * 2 * dr, sb = cb + dr;
      for (let i = 0; i < half; i++) {
        const angle = pos[t] * spec.invFreq[i];
        const c = Math.cos(angle) * spec.mscale, s = Math.sin(angle) * spec.mscale;
        const j0 = spec.interleaved ? 2 * i : i, j1 = spec.interleaved ? j0 + 1 : j0 + half;
        a[cb + j0] = c; a[cb + j1] = c; a[sb + j0] = -s; a[sb + j1] = s;
      }
    }
    this.table = { ...table, spec, dr, positions: pos.slice() };
    return table.ptr;
  }

  release(): void {
    if (this.table.ptr) this.heap.release(this.table.ptr);
    this.table = { ptr: 0, bytes: 0, spec: null, dr: 0, positions: new Int32Array(0) };
  }
}
