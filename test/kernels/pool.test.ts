// The worker pool: how ranges are split, and that a share that fails in a worker fails the call, naming the worker
// and its error (never left undone, never re-run elsewhere), with the pool still usable afterwards.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Heap } from '../../src/tensor/heap.js';
import { empty, f32 } from '../../src/tensor/tensor.js';
import { ThreadPool, splitRange, equalWorkBounds } from '../../src/kernels/pool/thread-pool.js';
import { createWasmBackend } from '../../src/kernels/wasm/backend.js';
import { compileKernels, instantiateKernels } from '../../src/kernels/wasm/loader.js';

/** A pool of `threads` over a fresh heap, the way the wasm backend builds one. */
function makePool(threads: number): { heap: Heap; pool: ThreadPool } {
  const heap = new Heap(1 << 20);
  const compiled = compileKernels();
  const pool = new ThreadPool(threads, instantiateKernels(compiled, heap.memory).exports, compiled.module, heap.memory);
  return { heap, pool };
}

test('splitRange: contiguous shares in multiples of the grain, covering [0, items) exactly once', () => {
  const table: [number, number, number, [number, number][]][] = [
    [10, 2, 1, [[0, 5], [5, 10]]],
    [10, 2, 4, [[0, 4], [4, 10]]],
    [3, 2, 4, [[0, 0], [0, 3]]],
    [100, 3, 16, [[0, 32], [32, 64], [64, 100]]],
  ];
  for (const [items, threads, grain, want] of table) {
    assert.deepEqual(Array.from({ length: threads }, (_, t) => splitRange(items, threads, t, grain)), want, `${items} items, ${threads} threads, grain ${grain}`);
  }
});

test('equalWorkBounds: contiguous runs of about equal work; an item goes to the run where most of it lies', () => {
  const table: [number[], number, number[]][] = [
    [[1, 1, 1, 1], 2, [0, 2, 4]],
    [[8, 1, 1, 1, 1, 1, 1, 1, 1], 2, [0, 1, 9]],      // one heavy item: alone on the first thread
    [[1, 1, 1, 1, 1, 1, 1, 1, 8], 2, [0, 8, 9]],
    [[3, 3, 3], 2, [0, 2, 3]],                         // 4.5 falls inside item 1, more than half of it before the cut
    [[5], 3, [0, 0, 1, 1]],                             // fewer items than runs: the item goes to the middle run
    [[2, 2, 2, 2, 2, 2], 3, [0, 2, 4, 6]],
  ];
  for (const [work, parts, want] of table) assert.deepEqual(equalWorkBounds(work, parts), want, `work ${work}, ${parts} parts`);
});

test('run with explicit boundaries gives each thread its run, and refuses boundaries that do not cover the items', async () => {
  const heap = new Heap(1 << 20);
  const b = createWasmBackend(heap, { threads: 2, minWork: 1 });
  try {
    const n = 1000, a = empty(heap, [n]), out = empty(heap, [n]);
    f32(a).forEach((_, i, v) => { v[i] = i; });
    for (const bounds of [[0, 1, n], [0, n - 1, n], [0, 0, n], [0, n, n]]) {
      f32(out).fill(-1);
      b.run('addRange', [out.ptr, a.ptr, a.ptr], n, bounds);
      assert.ok(f32(out).every((v, i) => v === 2 * i), `bounds ${bounds}: every item done once`);
    }
    assert.throws(() => b.run('addRange', [out.ptr, a.ptr, a.ptr], n, [0, n]), /3 boundaries from 0 to 1000 expected/);
    assert.throws(() => b.run('addRange', [out.ptr, a.ptr, a.ptr], n, [0, 5, n - 1]), /boundaries/);
  } finally {
    await b.close();
  }
});

test('a worker share that traps fails the call with the worker thread and its error; later calls work', async () => {
  const heap = new Heap(1 << 20);
  const b = createWasmBackend(heap, { threads: 2, minWork: 1 });
  try {
    const n = 4096, a = empty(heap, [2 * n]);
    // out points so that thread 0's half is inside the memory and thread 1's half runs past its end.
    const outPtr = heap.capacity - 4 * n;
    assert.throws(() => b.run('addRange', [outPtr, a.ptr, a.ptr], 2 * n, 1), /^Error: thread pool: addRange failed in worker thread 1: memory access out of bounds$/, 'the fault is reported');
    // The pool still works afterwards.
    const x = empty(heap, [2 * n]), y = empty(heap, [2 * n]);
    f32(x).fill(1.5);
    b.add(y, x, x, 2 * n);
    assert.ok(f32(y).every((v) => v === 3), 'later calls compute every share');
  } finally {
    await b.close();
  }
});

test('injectFault: the call fails naming each faulty thread, only that call, and the pool stays usable', async () => {
  const { heap, pool } = makePool(3);
  try {
    const n = 3000, a = empty(heap, [n]), out = empty(heap, [n]);
    f32(a).forEach((_, i, v) => { v[i] = i; });
    const add = () => pool.run('addRange', [out.ptr, a.ptr, a.ptr], n, 1);
    for (const thread of [1, 2]) {
      pool.injectFault(thread);
      assert.throws(add, new RegExp(`^Error: thread pool: addRange failed in worker thread ${thread}: fault injected by ThreadPool.injectFault$`));
      f32(out).fill(-1);
      add();
      assert.ok(f32(out).every((v, i) => v === 2 * i), `after a fault in thread ${thread}: the next call computes every share`);
    }
    // The calling thread's own share traps too (out lies past the memory): both are named, the first as the cause.
    pool.injectFault(2);
    const past = heap.capacity + 4096;
    assert.throws(() => pool.run('addRange', [past, a.ptr, a.ptr], n, 1), (e: Error) => {
      assert.match(e.message, /^thread pool: addRange failed in the calling thread: memory access out of bounds; worker thread 1: memory access out of bounds; worker thread 2: fault injected/);
      assert.match(String(e.cause), /RuntimeError: memory access out of bounds/);
      return true;
    });
    for (const bad of [0, 3, 1.5]) assert.throws(() => pool.injectFault(bad), new RegExp(`injectFault: a worker thread in \\[1, 2\\] expected, got ${bad}$`));
  } finally {
    await pool.close();
  }
});

test('a fault injected in one pool leaves another pool on the same memory alone', async () => {
  const { heap, pool } = makePool(2);
  const compiled = compileKernels();
  const other = new ThreadPool(2, instantiateKernels(compiled, heap.memory).exports, compiled.module, heap.memory);
  try {
    const n = 1000, a = empty(heap, [n]), out = empty(heap, [n]);
    f32(a).fill(1);
    pool.injectFault(1);
    other.run('addRange', [out.ptr, a.ptr, a.ptr], n, 1);
    assert.ok(f32(out).every((v) => v === 2), 'the other pool computes every share');
    assert.throws(() => pool.run('addRange', [out.ptr, a.ptr, a.ptr], n, 1), /worker thread 1: fault injected/, 'the fault stays armed in its own pool');
  } finally {
    await Promise.all([pool.close(), other.close()]);
  }
});

test('a worker woken without a new call runs nothing, and every later call runs every share once (once a deadlock)', async () => {
  // A worker that finished its share before the caller reached Atomics.notify was woken by that notify and ran the
  // share again: x += 1 twice, and a shared countdown of pending workers at -1 (a 10-minute soak deadlocked on it).
  const { heap, pool } = makePool(2);
  try {
    const n = 4096, x = empty(heap, [n]), one = empty(heap, [n]);
    f32(one).fill(1);
    const addOne = () => pool.run('addRange', [x.ptr, x.ptr, one.ptr], n);
    addOne();
    await new Promise((r) => setTimeout(r, 50));  // past SPIN_MS: the worker sleeps on the generation
    Atomics.notify((pool as unknown as { control: Int32Array }).control, 0);  // a wake-up the protocol did not send
    await new Promise((r) => setTimeout(r, 50));
    assert.ok(f32(x).every((v) => v === 1), 'no share ran again');
    for (let i = 0; i < 200; i++) addOne();
    assert.ok(f32(x).every((v) => v === 201), 'every later call ran every share once');
  } finally {
    await pool.close();
  }
});
