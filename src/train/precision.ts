// Mixed-precision training, simulated exactly in value: the matmuls of attention projections and FFN/expert
// weights see their operands rounded to BF16, or to the paper's fine-grained FP8 (E4M3; activations scaled per
// 1×128 tile along the summed dimension, weights per 128×128 block), and accumulate in f32 (the wasm kernels; the
// reference accumulates in float64, then rounds); master weights, gradients and everything else (embedding, head,
// router, norms, eh_proj, the attention core) stay f32. The rounded weights are f32 shadow copies refreshed after
// each optimizer step. 'fp8-low-acc', a negative control, sums those FP8 products in an accumulator of 14 significant
// bits, 4 products at a time, for the whole of K (the H800 tensor cores' partial sums, §3.3.2, without the paper's promotion to FP32 every
// 128 elements; kernels' matmulLowAcc), then adds the result in f32 where the normal path accumulates.

import type { Heap } from '../tensor/heap.js';
import type { Tensor } from '../tensor/tensor.js';
import { empty, dispose, f32, Scope } from '../tensor/tensor.js';
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
  // the other negative control: fp8's values, summed by matmulLowAcc
  'fp8-low-acc': { act: 'fp8-tiles', actT: 'fp8-col-tiles', weight: 'fp8-blocks' },
};

export function withPrecision(backend: Backend, bw: BackwardKernels, heap: Heap, w: ModelWeights, mode: Precision): PrecisionKernels {
  if (mode === 'f32') return { backend, bw, refresh() {}, dispose() {} };
  const shadow = new Map<Tensor, Tensor>(lowPrecisionWeights(w).map((t) => [t, empty(heap, t.shape)]));
  const { act, actT, weight: weightMode } = ROUNDING[mode];
  const lowAcc = mode === 'fp8-low-acc';
  // The low-accumulation GEMM sums along rows of both operands, so dgrad reads W̃ transposed: one copy per refresh.
  const shadowT = new Map<Tensor, Tensor>(lowAcc ? [...shadow.keys()].map((t) => [t, empty(heap, [t.shape[1], t.shape[0]])]) : []);
  const refresh = () => {
    for (const [master, q] of shadow) bw.fakeQuantize(q, master, master.shape[0], master.shape[1], weightMode);
    for (const [master, qT] of shadowT) transposeInto(qT, shadow.get(master)!, master.shape[0], master.shape[1]);
  };
  refresh();

  const matmul = (out: Tensor, x: Tensor, wt: Tensor, T: number, C: number, OC: number, xStride = C): void => {
    const q = shadow.get(wt);
    if (!q) return backend.matmul(out, x, wt, T, C, OC, xStride);
    const s = new Scope(heap);
    try {
      const xq = s.tensor([T, C]);
      if (xStride !== C) bw.concatBackward(xq, s.tensor([T, xStride - C]), x, T, C, xStride - C); // gather the rows' first C
      bw.fakeQuantize(xq, xStride !== C ? xq : x, T, C, act);
      if (lowAcc) bw.matmulLowAcc(out, xq, q, T, OC, C);
      else backend.matmul(out, xq, q, T, C, OC);
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
        if (lowAcc) {
          const part = s.tensor([T, C]);
          bw.matmulLowAcc(part, dq, shadowT.get(wt)!, T, C, OC);
          addInto(dx, xStride, part, T, C);
        } else bw.matmulBackward(dx, null, dq, x, q, T, C, OC, xStride);
      }
      if (dw) { // wgrad: doutᵀ·x, summed over tokens: both in 128×1 tiles along T (bf16: dout as rounded for dgrad)
        const xq = s.tensor([T, C]);
        if (!dx || actT !== act) bw.fakeQuantize(dq, dout, T, OC, actT);
        bw.fakeQuantize(xq, x, T, C, actT);
        if (lowAcc) { // dw[o, c] sums over tokens: both operands transposed so that t runs along their rows
          const dqT = s.tensor([OC, T]), xqT = s.tensor([C, T]), part = s.tensor([OC, C]);
          transposeInto(dqT, dq, T, OC);
          transposeInto(xqT, xq, T, C);
          bw.matmulLowAcc(part, dqT, xqT, OC, C, T);
          addInto(dw, C, part, OC, C);
        } else bw.matmulBackward(null, dw, dq, xq, q, T, C, OC);
      }
    } finally { s.release(); }
  };
  return {
    backend: { ...backend, name: `${backend.name}+${mode}`, matmul, moe: moeWith(matmul, backend.siluMul) },
    bw: { ...bw, name: `${bw.name}+${mode}`, matmulBackward, moeBackward: moeBackwardWith(matmul, matmulBackward) },
    refresh,
    dispose() { for (const q of [...shadow.values(), ...shadowT.values()]) dispose(q); },
  };
}

/** dst [cols, rows] = src [rows, cols]ᵀ (f32, exact copies). */
function transposeInto(dst: Tensor, src: Tensor, rows: number, cols: number): void {
  const d = f32(dst), x = f32(src);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) d[c * rows + r] = x[r * cols + c];
}

/** dst[r, c] += src[r, c] in f32, dst rows `stride` apart, src [rows, cols]. */
function addInto(dst: Tensor, stride: number, src: Tensor, rows: number, cols: number): void {
  const d = f32(dst), x = f32(src);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) d[r * stride + c] += x[r * cols + c];
}
