// The race suspected behind the pool's old silent re-run: a thread woken right after another thread grew the shared
// memory may not yet have taken V8's grow interrupt, and optimised wasm then runs on the old size. A blocking read
// stands in for a thread descheduled between its last interrupt check and the call, so every grow lands while the
// thread cannot take it. First the engine behaviour and awaitPages's cure on a bare thread, then a real ThreadPool.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setFlagsFromString } from 'node:v8';
import { BroadcastChannel, Worker } from 'node:worker_threads';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Heap } from '../../src/tensor/heap.js';
import { empty, f32 } from '../../src/tensor/tensor.js';
import { ThreadPool } from '../../src/kernels/pool/thread-pool.js';
import { workerSource, AWAIT_PAGES_SOURCE } from '../../src/kernels/pool/worker-source.js';
import { wasmPath, instantiateKernels } from '../../src/kernels/wasm/loader.js';

// Compile the kernels optimised at once (this file's process only), as hot kernels are after tier-up: the baseline
// compiler checks for interrupts on every function entry and would take the grow before the first access.
setFlagsFromString('--no-liftoff');

const PAGE = 65536;

/** A fresh fifo in a temporary folder; `remove` deletes the folder. */
function makeFifo(): { fifo: string; remove: () => void } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'qiusuo-pool-grow-'));
  const fifo = path.join(dir, 'calls');
  execFileSync('mkfifo', [fifo]);
  return { fifo, remove: () => fs.rmSync(dir, { recursive: true, force: true }) };
}

/** Opens `fifo` for writing once a thread has it open for reading (an error after 10 s, not a blocked test). */
async function openWriter(fifo: string): Promise<number> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    try {
      return fs.openSync(fifo, fs.constants.O_WRONLY | fs.constants.O_NONBLOCK);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENXIO' || Date.now() > deadline) throw e;
    }
    await new Promise((r) => setTimeout(r, 10));
  }
}

test('a thread that has not taken a grow traps on the new pages in optimised wasm; after awaitPages it copies them', async () => {
  const rounds = 6; // odd rounds call awaitPages first
  const { fifo, remove } = makeFifo();
  const module = new WebAssembly.Module(fs.readFileSync(wasmPath('simd')));
  const memory = new WebAssembly.Memory({ initial: 1, maximum: 65536, shared: true });
  // c[0]: rounds the thread has reached (it is about to block in its read); c[1..4]: dst, src, n, pages of the round.
  const c = new Int32Array(new SharedArrayBuffer(32));
  // Between the read and the copy: plain reads and a direct call into wasm, none of which takes an interrupt. (In
  // Node 20 awaitPages's own entry takes the grow; its loop is what holds where an optimiser inlines the call.)
  const worker = new Worker(`
    const { workerData: { module, memory, c, fifo, rounds }, parentPort } = require('node:worker_threads');
    const { copyRange } = new WebAssembly.Instance(module, { env: { memory } }).exports;
    ${AWAIT_PAGES_SOURCE}
    const fd = require('node:fs').openSync(fifo, 'r'), byte = Buffer.alloc(1), read = require('node:fs').readSync;
    const outcomes = [];
    for (let round = 0; round < rounds; round++) {
      Atomics.store(c, 0, round + 1);
      Atomics.notify(c, 0);
      read(fd, byte, 0, 1, null);
      const dst = c[1], src = c[2], n = c[3], pages = c[4];
      try {
        if (round % 2 === 1) awaitPages(memory, pages);
        copyRange(dst, src, 0, n, 1);
        outcomes.push('copied');
      } catch (e) {
        outcomes.push(e.message);
      }
    }
    parentPort.postMessage(outcomes);
  `, { eval: true, workerData: { module, memory, c, fifo, rounds } });
  const outcomes = new Promise<string[]>((resolve, reject) => { worker.once('message', resolve); worker.once('error', reject); });
  try {
    const fd = await openWriter(fifo);
    const copied: { dst: number; n: number; round: number }[] = [];
    for (let round = 0; round < rounds; round++) {
      while (Atomics.load(c, 0) !== round + 1) Atomics.wait(c, 0, round, 100);
      Atomics.wait(c, 7, 0, 50); // let the thread get into its read, past its last interrupt check
      const before = memory.buffer.byteLength, n = 1024;
      memory.grow(1);
      const src = before - 4 * n, dst = before + 4096;
      new Float32Array(memory.buffer, src, n).forEach((_, i, v) => { v[i] = i + round; });
      c.set([dst, src, n, memory.buffer.byteLength / PAGE], 1);
      fs.writeSync(fd, 'x');
      copied.push({ dst, n, round });
    }
    fs.closeSync(fd);
    const got = await outcomes;
    const unguarded = got.filter((_, r) => r % 2 === 0), guarded = got.filter((_, r) => r % 2 === 1);
    // The engine behaviour the pool guards against (if an engine takes the grow some other way, this says so).
    assert.ok(unguarded.some((o) => /out of bounds/.test(o)), `without awaitPages the copy into the new page traps: ${unguarded.join(', ')}`);
    assert.deepEqual(guarded, guarded.map(() => 'copied'), 'with awaitPages every copy runs');
    for (const { dst, n, round } of copied.filter((x) => x.round % 2 === 1)) {
      assert.ok(new Float32Array(memory.buffer, dst, n).every((v, i) => v === i + round), `round ${round}: the copy is complete`);
    }
  } finally {
    await worker.terminate();
    remove();
  }
});

/**
 * The pool worker's wait for a call, replaced: it says on `channel` whether its view of the memory was stale at the
 * previous call, then blocks in a read of `fifo` (native code, no interrupt checks) that a helper thread answers
 * with one byte each time GEN moves. Reading memory.buffer does not take the grow, so `stale` is what the worker saw
 * on waking; in Node 20 the Atomics.load calls after it (here and in the pool's worker) then take it.
 */
function blockingWait(fifo: string, channel: string): string {
  const helper = `
    const { workerData: { c, gen, fifo } } = require('node:worker_threads');
    const fd = require('node:fs').openSync(fifo, 'w');
    for (let seen = 0; ; seen = Atomics.load(c, gen)) { Atomics.wait(c, gen, seen); require('node:fs').writeSync(fd, 'x'); }`;
  return `
  if (globalThis.harness === undefined) {
    const { Worker, BroadcastChannel } = require('node:worker_threads');
    new Worker(${JSON.stringify(helper)}, { eval: true, workerData: { c, gen: slots.GEN, fifo: ${JSON.stringify(fifo)} } }).unref();
    globalThis.harness = { fd: require('node:fs').openSync(${JSON.stringify(fifo)}, 'r'), byte: Buffer.alloc(1),
      read: require('node:fs').readSync, channel: new BroadcastChannel(${JSON.stringify(channel)}), stale: null };
  }
  harness.channel.postMessage({ staleAtLastCall: harness.stale });
  harness.read(harness.fd, harness.byte, 0, 1, null);
  harness.stale = memory.buffer.byteLength / 65536 < Atomics.load(c, slots.PAGES);
`;
}

test('a worker woken right after a grow, before it has taken the grow, still computes its share on the new pages', async () => {
  const { fifo, remove } = makeFifo();
  const channelName = `qiusuo-pool-grow-${process.pid}`;
  const channel = new BroadcastChannel(channelName);
  const reports: { staleAtLastCall: boolean | null }[] = [];
  const waiting: ((r: { staleAtLastCall: boolean | null }) => void)[] = [];
  channel.onmessage = (e) => { const r = (e as MessageEvent).data; const w = waiting.shift(); if (w) w(r); else reports.push(r); };
  const nextReport = () => new Promise<{ staleAtLastCall: boolean | null }>((resolve) => { const r = reports.shift(); if (r) resolve(r); else waiting.push(resolve); });

  const heap = new Heap(1 << 16);
  const compiled = { flavour: 'simd' as const, module: new WebAssembly.Module(fs.readFileSync(wasmPath('simd'))) };
  const local = instantiateKernels(compiled, heap.memory).exports;
  // The worker must run its share itself: the calling thread would otherwise run it while the worker is blocked.
  const pool = new ThreadPool(2, local, compiled.module, heap.memory, { workerSource: workerSource(blockingWait(fifo, channelName)), callerRunsShares: false });
  try {
    await nextReport(); // the worker is at its first wait
    const rounds = 4;
    let stale = 0;
    for (let round = 0; round < rounds; round++) {
      await new Promise((r) => setTimeout(r, 50)); // the worker is inside the read, past its last interrupt check
      // Each pair of arrays starts past the end of the memory, so alloc grows it; the worker's half of the copy
      // (copyRange: one memory.copy, checked against the instance's size) lies wholly in the new pages.
      const before = heap.capacity, n = (heap.capacity / 4) + 4096;
      const src = empty(heap, [n]), dst = empty(heap, [n]);
      assert.ok(dst.ptr >= before && heap.capacity > before, `round ${round}: the memory grew under the copy's destination`);
      f32(src).forEach((_, i, v) => { v[i] = i + round; });
      pool.run('copyRange', [dst.ptr, src.ptr], n);
      assert.ok(f32(dst).every((v, i) => v === i + round), `round ${round}: every element copied`);
      if ((await nextReport()).staleAtLastCall) stale++;
    }
    // Without this the test could not fail: the worker must really have been woken with the old size in view.
    assert.ok(stale > 0, 'the worker was woken with the old size in view');
  } finally {
    channel.close();
    // The worker is blocked in its read: ask it to stop, then give it bytes to return on and take the termination.
    const closing = pool.close();
    const fd = await openWriter(fifo);
    fs.writeSync(fd, 'x'.repeat(64));
    fs.closeSync(fd);
    await closing;
    remove();
  }
});
