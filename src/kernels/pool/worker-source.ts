// The program each pool thread runs, as plain JavaScript evaluated by the Worker (eval: true): a worker file would
// need its own module resolution, which differs between dist/ and running the sources through tsx.
// Leaves out the calling thread's side of the protocol (thread-pool.ts) and any retry: a share that throws is reported.

/**
 * A worker's whole program: instantiate the kernels on the shared memory, count itself READY, then for each call
 * wait for GEN to move past `seen`, run its share, count PENDING down and notify at zero. Waiting spins for SPIN_MS
 * before it sleeps on the futex: the calls of a forward pass come less than SPIN_MS apart, and waking a sleeping
 * thread costs 40 µs to 1 ms on a virtual machine.
 * A share that throws posts { thread, message } on `port`, then sets its `failed` flag: the caller fails the call.
 */
export const WORKER_SOURCE = `
const { workerData } = require('node:worker_threads');
const { module, memory, control: c, args, ranges, failed, port, thread, names, slots } = workerData;
const instance = new WebAssembly.Instance(module, { env: { memory } });
const kernels = names.map((n) => instance.exports[n]);
let seen = Atomics.load(c, slots.GEN);
Atomics.add(c, slots.READY, 1);
Atomics.notify(c, slots.READY);
for (;;) {
  for (const until = performance.now() + slots.SPIN_MS; Atomics.load(c, slots.GEN) === seen && performance.now() < until;);
  if (Atomics.load(c, slots.GEN) === seen) Atomics.wait(c, slots.GEN, seen);
  seen = Atomics.load(c, slots.GEN);
  try {
    if (Atomics.load(c, slots.FAULT) === thread) {
      Atomics.store(c, slots.FAULT, 0);
      throw new Error('fault injected by ThreadPool.injectFault');
    }
    const start = ranges[2 * thread], end = ranges[2 * thread + 1];
    if (start < end) kernels[Atomics.load(c, slots.FN)](...args.subarray(0, Atomics.load(c, slots.NARGS)), start, end, thread);
  } catch (e) {
    port.postMessage({ thread, message: e instanceof Error ? e.message : String(e) });
    Atomics.store(failed, thread, 1);
  }
  if (Atomics.sub(c, slots.PENDING, 1) === 1) Atomics.notify(c, slots.PENDING);
}
`;
