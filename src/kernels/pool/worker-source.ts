// The code each pool thread runs, as plain JavaScript evaluated by the Worker (eval: true): a worker file would
// need its own module resolution, which differs between dist/ and running the sources through tsx.
// Protocol (thread-pool.ts): wait for the generation counter to change, run the export named by FN on this
// thread's [start, end) from the shared ranges, count PENDING down, notify at zero. A call that throws (e.g. the
// memory grew on the calling thread and this one has not seen the new size yet) marks this thread in `failed`; the
// calling thread then runs that range itself.
// Waiting spins for SPIN_MS before it sleeps on the futex.

export const WORKER_SOURCE = `
const { workerData } = require('node:worker_threads');
const { module, memory, control: c, args, ranges, failed, thread, names, slots } = workerData;
const instance = new WebAssembly.Instance(module, { env: { memory } });
const kernels = names.map((n) => instance.exports[n]);
let seen = Atomics.load(c, slots.GEN);
Atomics.add(c, slots.READY, 1);
Atomics.notify(c, slots.READY);
for (;;) {
  // Spin before sleeping: the calls of a forward pass come less than SPIN_MS apart, and waking a sleeping thread is
  // slow on a virtual machine (its idle vCPU is descheduled).
  for (const until = performance.now() + slots.SPIN_MS; Atomics.load(c, slots.GEN) === seen && performance.now() < until;);
  if (Atomics.load(c, slots.GEN) === seen) Atomics.wait(c, slots.GEN, seen);
  seen = Atomics.load(c, slots.GEN);
  const start = ranges[2 * thread], end = ranges[2 * thread + 1];
  try {
    if (start < end) kernels[Atomics.load(c, slots.FN)](...args.subarray(0, Atomics.load(c, slots.NARGS)), start, end, thread);
  } catch (e) {
    Atomics.store(failed, thread, 1);
    void memory.buffer; // let this thread pick up a grown memory before the next call
  }
  if (Atomics.sub(c, slots.PENDING, 1) === 1) Atomics.notify(c, slots.PENDING);
}
`;
