// This machine's read bandwidth as wasm sees it: every pool thread streams its share of a buffer far larger than the
// caches (peak.as readChunks), round after round after a warm-up; the best round is the figure. It is the ceiling a
// memory-bound decode step is measured against: tokens/s ≤ bandwidth ÷ weight bytes read per token.

import { Heap } from '../tensor/heap.js';
import { createWasmBackend } from '../kernels/wasm/backend.js';

export interface ReadBandwidthResult { gbs: number; rounds: number[]; threads: number; bufferBytes: number }

const CHUNK = 1 << 20; // peak.as READ_CHUNK

export async function benchReadBandwidth(o: { threads?: number; bufferBytes?: number; rounds?: number } = {}): Promise<ReadBandwidthResult> {
  const bufferBytes = Math.ceil((o.bufferBytes ?? 1 << 30) / CHUNK) * CHUNK;
  const heap = new Heap(bufferBytes + (8 << 20));
  const backend = createWasmBackend(heap, { threads: o.threads });
  try {
    const base = heap.alloc(bufferBytes);  // zeroed by alloc: every page touched before timing
    const chunks = bufferBytes / CHUNK;
    const pass = () => backend.run('readChunks', [base, backend.scratch, backend.scratchBytes], chunks, 1);
    pass();
    const rounds: number[] = [];
    for (let i = 0; i < (o.rounds ?? 7); i++) {
      const t0 = performance.now();
      pass();
      rounds.push(bufferBytes / ((performance.now() - t0) * 1e6));
    }
    return { gbs: Math.max(...rounds), rounds, threads: backend.threads, bufferBytes };
  } finally {
    await backend.close();
  }
}
