// Runs a list of named cases against the wasm backward kernels: one test per wasm flavour (relaxed SIMD where the
// runtime has it) and thread count, each case's failure named. Shared by the kernel-agreement tests.

import { test } from 'node:test';
import { Heap } from '../../src/tensor/heap.js';
import { relaxedSimdSupported, type WasmFlavour } from '../../src/kernels/wasm/loader.js';
import { createWasmBackend } from '../../src/kernels/wasm/backend.js';
import { createWasmBackward } from '../../src/kernels/wasm/backward.js';
import type { BackwardKernels } from '../../src/kernels/backend.js';

export type WasmCase = [name: string, run: (heap: Heap, B: BackwardKernels) => void];

export const flavours: WasmFlavour[] = relaxedSimdSupported() ? ['simd', 'relaxed'] : ['simd'];

/** `title(flavour, threads)` names each test; every case runs on a fresh 8 MiB heap's backend. */
export function testWasmCases(title: (flavour: WasmFlavour, threads: number) => string, cases: readonly WasmCase[]): void {
  for (const flavour of flavours) {
    for (const threads of [1, 2]) {
      test(title(flavour, threads), async () => {
        const heap = new Heap(8 << 20);
        const backend = createWasmBackend(heap, { flavour, threads });
        const B = createWasmBackward(backend);
        try {
          for (const [name, run] of cases) {
            try { run(heap, B); } catch (e) { throw new Error(`${name}: ${(e as Error).message}`); }
          }
        } finally {
          await backend.close();
        }
      });
    }
  }
}
