// Mixed-precision training, simulated exactly in value: the matmuls of attention projections and FFN/expert
// weights see their operands rounded to BF16, or to the paper's fine-grained FP8 (E4M3; activations scaled per
// 1×128 tile along the summed dimension, weights per 128×128 block), and accumulate in f32 (the wasm kernels; the
// reference accumulates in float64, then rounds); master weights, gradients and everything else (embedding, head,
// router, norms, eh_proj, the attention core) stay f32. The rounded weights are f32 shadow copies refreshed after
// each optimizer step. Leaves out the tensor cores' ~14-bit partial sums that the paper promotes every 128 elements.

import type { Heap } from '../tensor/heap.js';
import type { Tensor } from '../tensor/tensor.js';
import { empty, dispose, Scope } from '../tensor/tensor.js';
import type { Backend, BackwardKernels } from '../kernels/backend.js';
import { moeWith, moeBackwardWith } from '../kernels/ref/moe.js';
import type { ModelWeights, LayerWeights } from '../model/weights.js';
import type { QuantMode } from '../kernels/ref/quantize.js';
import type { Precision } from './options.js';

export interface PrecisionKernels { backend: Backend; bw: BackwardKernels; refresh(): void; dispose(): void }

/** The weights whose matmuls run in low precision. */
function lowPrecisionWeights(w: ModelWeights): Tensor[] {
  const layer = (l: LayerWeights): Tensor[] => {
    const a = l.attn;
    const out = [a.qA, a.qB, a.q, a.kvA, a.kvB, a.o].filter((t): t is Tensor => t !== null);
    if (l.ffn.kind === 'dense') out.push(l.ffn.mlp.gate, l.ffn.mlp.up, l.ffn.mlp.down);
    else {
      const m = l.ffn.moe;
      out.push(...m.bank.gate, ...m.bank.up, ...m.bank.down);
      if (m.shared) out.push(m.shared.gate, m.shared.up, m.shared.down);
    }
    return out;
  };
  return [...w.layers.flatMap(layer), ...w.mtp.flatMap((m) => layer(m.layer))];
}

/** How each precision rounds: activations entering a matmul over cols, the same over rows (weight gradient), weights. */
const ROUNDING: Record<Exclude<Precision, 'f32'>, { act: QuantMode; actT: QuantMode; weight: QuantMode }> = {
  bf16: { act: 'bf16', actT: 'bf16', weight: 'bf16' },
  fp8: { act: 'fp8-tiles', actT: 'fp8-col-tiles', weight: 'fp8-blocks' },
  // the negative control: the same E4M3 values with one scale per tensor, so an outlier costs every value precision
  'fp8-per-tensor': { act: 'fp8-tensor', actT: 'fp8-tensor', weight: 'fp8-tensor' },
};

export function withPrecision(backend: Backend, bw: BackwardKernels, heap: Heap, w: ModelWeights, mode: Precision): PrecisionKernels {
  if (mode === 'f32') return { backend, bw, refresh() {}, dispose() {} };
  const shadow = new Map<Tensor, Tensor>(lowPrecisionWeights(w).map((t) => [t, empty(heap, t.shape)]));
  const { act, actT, weight: weightMode } = ROUNDING[mode];
  const refresh = () => { for (const [master, q] of shadow) bw.fakeQuantize(q, master, master.shape[0], master.shape[1], weightMode); };
  refresh();

  const matmul = (out: Tensor, x: Tensor, wt: Tensor, T: number, C: number, OC: number, xStride = C): void => {
    const q = shadow.get(wt);
    if (!q) return backend.matmul(out, x, wt, T, C, OC, xStride);
    const s = new Scope(heap);
    try {
      const xq = s.tensor([T, C]);
      if (xStride !== C) bw.concatBackward(xq, s.tensor([T, xStride - C]), x, T, C, xStride - C); // gather the rows' first C
      bw.fakeQuantize(xq, xStride !== C ? xq : x, T, C, act);
      backend.matmul(out, xq, q, T, C, OC);
    } finally { s.release(); }
  };
  const matmulBackward = (dx: Tensor | null, dw: Tensor | null, dout: Tensor, x: Tensor, wt: Tensor, T: number, C: number, OC: number, xStride = C): void => {
    const q = shadow.get(wt);
    if (!q) return bw.matmulBackward(dx, dw, dout, x, wt, T, C, OC, xStride);
    if (dw && xStride !== C) throw new Error('precision: strided matmul input is not supported in low-precision training');
    const s = new Scope(heap);
    try {
      const dq = s.tensor([T, OC]);
      if (dx) { // dgrad: dout·W̃, summed over OC: dout in 1×128 tiles along OC
        bw.fakeQuantize(dq, dout, T, OC, act);
        bw.matmulBackward(dx, null, dq, x, q, T, C, OC, xStride);
      }
      if (dw) { // wgrad: doutᵀ·x, summed over tokens: both in 128×1 tiles along T (bf16: dout as rounded for dgrad)
        const xq = s.tensor([T, C]);
        if (!dx || actT !== act) bw.fakeQuantize(dq, dout, T, OC, actT);
        bw.fakeQuantize(xq, x, T, C, actT);
        bw.matmulBackward(null, dw, dq, xq, q, T, C, OC);
      }
    } finally { s.release(); }
  };
  return {
    backend: { ...backend, name: `${backend.name}+${mode}`, matmul, moe: moeWith(matmul, backend.siluMul) },
    bw: { ...bw, name: `${bw.name}+${mode}`, matmulBackward, moeBackward: moeBackwardWith(matmul, matmulBackward) },
    refresh,
    dispose() { for (const q of shadow.values()) dispose(q); },
  };
}
