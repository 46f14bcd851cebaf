// Low-precision training on the wasm kernels rounds exactly as on the reference kernels: the operands that
// src/train/precision.ts hands to the inner matmuls (rounded activations, output gradients and weight shadows) of a
// layer's forward, input-gradient and weight-gradient matmuls are bit for bit the same with --kernels ref and wasm, for
// every low-precision mode. The matmul results themselves differ (f32 vs float64 sums; test/train/precision.test.ts
// bounds them), so each matmul here starts from the test's own inputs. The comparison is shown to catch one ulp.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Heap } from '../../src/tensor/heap.js';
import { empty, f32, fromF32, type Tensor } from '../../src/tensor/tensor.js';
import type { Backend, BackwardKernels } from '../../src/kernels/backend.js';
import { refBackend } from '../../src/kernels/ref/index.js';
import { refBackward } from '../../src/kernels/ref/backward.js';
import { createWasmBackend } from '../../src/kernels/wasm/backend.js';
import { createWasmBackward } from '../../src/kernels/wasm/backward.js';
import type { ModelWeights } from '../../src/model/weights.js';
import type { Precision } from '../../src/train/options.js';
import { withPrecision } from '../../src/train/precision.js';
import { random } from '../kernels/grad-check.js';

/** The layer's low-precision weights [OC, C] (none a multiple of 128 but one), and T tokens. */
const SHAPES = { q: [200, 130], kvA: [90, 130], kvB: [257, 64], o: [130, 128], gate: [300, 130], up: [300, 130], down: [130, 300] } as const;
const T = 131;

/** One operand an inner matmul received: which call and argument, and its values' bits. */
interface Operand { what: string; bits: Uint32Array }

const bitsOf = (t: Tensor, n: number) => new Uint32Array(f32(t).buffer, f32(t).byteOffset, n).slice();

/** The inner kernels, recording every operand handed to them. */
function recording(backend: Backend, bw: BackwardKernels, log: Operand[]): { backend: Backend; bw: BackwardKernels } {
  return {
    backend: { ...backend, matmul(out, x, w, T_, C, OC, xStride = C) {
      log.push({ what: `matmul x [${T_}, ${C}]`, bits: bitsOf(x, T_ * xStride) }, { what: `matmul w [${OC}, ${C}]`, bits: bitsOf(w, OC * C) });
      backend.matmul(out, x, w, T_, C, OC, xStride);
    } },
    bw: { ...bw, matmulBackward(dx, dw, dout, x, w, T_, C, OC, xStride = C) {
      const call = dx ? 'dgrad' : 'wgrad';
      log.push({ what: `${call} dout [${T_}, ${OC}]`, bits: bitsOf(dout, T_ * OC) }, { what: `${call} w [${OC}, ${C}]`, bits: bitsOf(w, OC * C) });
      if (dw) log.push({ what: `${call} x [${T_}, ${C}]`, bits: bitsOf(x, T_ * C) });
      bw.matmulBackward(dx, dw, dout, x, w, T_, C, OC, xStride);
    } },
  };
}

/** Every low-precision matmul of the layer forward and backward (dgrad and wgrad as separate calls) on `kernels`. */
function layerOperands(heap: Heap, backend: Backend, bw: BackwardKernels, precision: Precision): Operand[] {
  const r = random(11), log: Operand[] = [];
  const rand = (shape: readonly number[], scale: (i: number) => number) =>
    fromF32(heap, Float32Array.from({ length: shape[0] * shape[1] }, (_, i) => r() * scale(i)), [...shape]);
  const w = Object.fromEntries(Object.entries(SHAPES).map(([name, shape]) => [name, rand(shape, (i) => 2 ** ((i % 37) - 20))])) as Record<keyof typeof SHAPES, Tensor>;
  const other = empty(heap, [1, 1]);
  const layer = {
    inputNorm: other, postNorm: other, attn: { qA: null, qANorm: null, qB: null, q: w.q, kvA: w.kvA, kvANorm: other, kvB: w.kvB, o: w.o },
    ffn: { kind: 'dense' as const, mlp: { gate: w.gate, up: w.up, down: w.down } },
  };
  const model = { embed: other, layers: [layer], norm: other, head: other, mtp: [], all: [], arenas: [] } as unknown as ModelWeights;
  const inner = recording(backend, bw, log);
  const pk = withPrecision(inner.backend, inner.bw, heap, model, precision);
  for (const [name, [OC, C]] of Object.entries(SHAPES)) {
    // activations with tiles of very different size, an outlier row, and some exact zeros
    const x = rand([T, C], (i) => (i % 11 === 0 ? 0 : 2 ** ((Math.floor(i / C) % 5) * 3 - 6) * (i === 5 * C + 3 ? 1e4 : 1)));
    const dout = rand([T, OC], (i) => 2 ** ((i % OC) >> 5) * 1e-3);
    const wt = w[name as keyof typeof SHAPES];
    pk.backend.matmul(empty(heap, [T, OC]), x, wt, T, C, OC);
    pk.bw.matmulBackward(empty(heap, [T, C]), null, dout, x, wt, T, C, OC);
    pk.bw.matmulBackward(null, empty(heap, [OC, C]), dout, x, wt, T, C, OC);
  }
  pk.dispose();
  return log;
}

/** The first difference between two operand lists, or null. */
function firstDifference(ref: Operand[], wasm: Operand[]): string | null {
  if (ref.length !== wasm.length) return `${wasm.length} operands on wasm, ${ref.length} on ref`;
  for (let k = 0; k < ref.length; k++) {
    const a = ref[k], b = wasm[k];
    if (a.what !== b.what || a.bits.length !== b.bits.length) return `operand ${k}: ${b.what} on wasm, ${a.what} on ref`;
    const i = a.bits.findIndex((v, j) => v !== b.bits[j]);
    if (i >= 0) return `operand ${k} (${a.what}), value ${i}: wasm bits 0x${b.bits[i].toString(16)}, ref 0x${a.bits[i].toString(16)}`;
  }
  return null;
}

for (const precision of ['bf16', 'fp8', 'fp8-per-tensor'] as const) {
  test(`${precision} training: the wasm kernels hand the matmuls bit for bit the reference's rounded operands`, async () => {
    const ref = layerOperands(new Heap(32 << 20), refBackend, refBackward, precision);
    const heap = new Heap(32 << 20), backend = createWasmBackend(heap, { threads: 2 });
    try {
      const wasm = layerOperands(heap, backend, createWasmBackward(backend), precision);
      assert.equal(ref.length, Object.keys(SHAPES).length * 7, 'forward x, w; dgrad dout, w; wgrad dout, w, x per weight');
      assert.equal(firstDifference(ref, wasm), null);
      // the rounding is really there (some operand differs from its f32 input), and one ulp anywhere would show
      const plain = layerOperands(new Heap(32 << 20), refBackend, refBackward, 'f32');
      assert.notEqual(firstDifference(plain, ref), null, `${precision} rounds the operands`);
      const k = wasm.length >> 1, planted = wasm.map((o, j) => (j === k ? { ...o, bits: o.bits.slice() } : o));
      planted[k].bits[7] += 1;
      assert.match(firstDifference(ref, planted) ?? 'none', new RegExp(`operand ${k} .*value 7`));
    } finally {
      await backend.close();
    }
  });
}
