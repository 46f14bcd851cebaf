// How a wasm kernel is told about a weight: its kind number and, for e4m3, where its block scales are.

import type { Tensor } from '../../tensor/tensor.js';

/** Weight kinds of the wasm kernels: 0 f32, 1 bf16, 2 e4m3 (block scales optional), 3 q8_0, 4 q4_0; null: reference path. */
const KINDS: Partial<Record<Tensor['dtype'], number>> = { f32: 0, bf16: 1, e4m3: 2, q8_0: 3, q4_0: 4 };
export function kindOf(w: Tensor): number | null {
  return KINDS[w.dtype] ?? null;
}

/** [scaleInv, bm, bn] of a weight (zeros without block scales). */
export function scaleArgs(w: Tensor): number[] {
  const s = w.scale;
  return [s ? s.scaleInv.ptr : 0, s ? s.block[0] : 0, s ? s.block[1] : 0];
}

/** [ptr, kind, scaleInv, bm, bn]: how a kernel reads a weight of any wasm kind. */
export function weightArgs(w: Tensor, kind: number): number[] {
  return [w.ptr, kind, ...scaleArgs(w)];
}

export const allF32 = (...ts: Tensor[]): boolean => ts.every((t) => t.dtype === 'f32');
