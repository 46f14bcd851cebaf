// The program each pool thread runs, as plain JavaScript evaluated by the Worker (eval: true): a worker file would
// need its own module resolution, which differs between dist/ and running the sources through tsx.
// Leaves out the calling thread's side of the protocol (thread-pool.ts) and any retry: a share that throws is reported.

/**
 * `awaitPages(memory, pages)`: returns (the page count it sees) once this thread sees `memory` at least `pages` pages
 * large. A grow on another thread reaches this one through a V8 interrupt, taken only at an interrupt check (a loop's
 * back edge, a JS function's entry, some builtins such as Atomics.load); optimised wasm has none in a leaf kernel such
 * as copyRange, so a thread woken with the grow still pending runs it on the old size, and its memory.copy/fill traps
 * with "memory access out of bounds" on the new pages (test/kernels/pool-grow.test.ts shows it). `memory.buffer` is
 * refreshed by the same interrupt as the wasm instance, so each turn of the loop both checks for the grow and takes it.
 */
export const AWAIT_PAGES_SOURCE = `
function awaitPages(memory, pages) {
  const deadline = performance.now() + 10000;
  for (;;) {
    const have = memory.buffer.byteLength / 65536;
    if (have >= pages) return have;
    if (performance.now() > deadline) throw new Error('still sees ' + have + ' pages of memory after 10 s; the call needs ' + pages);
  }
}
`;

/** How a worker waits for the next call: spin for SPIN_MS, then sleep on the futex until GEN moves past `seen`. */
export const SPIN_THEN_SLEEP = `
  for (const until = performance.now() + slots.SPIN_MS; Atomics.load(c, slots.GEN) === seen && performance.now() < until;);
  if (Atomics.load(c, slots.GEN) === seen) Atomics.wait(c, slots.GEN, seen);
`;

/**
 * A worker's whole program: instantiate the kernels on the shared memory, count itself READY, then for each call
 * run `waitForCall` (source that returns once GEN may have moved past `seen`), run its share, then write the call's
 * generation to its own `done` slot and notify it. A wake-up without a new generation runs nothing: the notify of a
 * call this thread finished while the caller was still on its way to `Atomics.notify` can wake it again. Pool threads spin before they sleep because the calls of a forward pass come less than SPIN_MS
 * apart and waking a sleeping thread is slow on a virtual machine (its idle vCPU is descheduled); tests pass another wait.
 *
 * Before its share a worker makes sure it sees the memory as large as the calling thread does (PAGES): a worker
 * descheduled between its last interrupt check and the call would otherwise meet a grow it has not taken. (In Node 20
 * the Atomics.load calls on the way to the kernel take it too; the check does not rest on that.) `known` keeps the
 * check to one compare per call until the next grow.
 * A worker claims its share (its `claims` slot from 0 to 1) before it reads the call; a share the calling thread
 * claimed first is not run here.
 * A share that throws posts { thread, message } on `port`, then sets its `failed` flag: the caller fails the call.
 * The caller posts on the same port the memories it adds and removes ({ add, memory } / { remove }); POSTED counts
 * them, so a worker takes them, synchronously, before the first call that may need them.
 */
export function workerSource(waitForCall: string = SPIN_THEN_SLEEP): string {
  return `
const { workerData, receiveMessageOnPort } = require('node:worker_threads');
const { module, memory, control: c, args, ranges, failed, done, claims, port, thread, names, slots } = workerData;
const instantiate = (memory) => {
  const instance = new WebAssembly.Instance(module, { env: { memory } });
  return { memory, kernels: names.map((n) => instance.exports[n]), known: 0 };
};
const memories = [instantiate(memory)];  // by index; null once removed
let read = 0;                            // memory messages taken from the port
function takeMemoryMessages() {
  for (const posted = Atomics.load(c, slots.POSTED); read < posted; read++) {
    const m = receiveMessageOnPort(port);
    if (!m) throw new Error('memory message ' + (read + 1) + ' of ' + posted + ' has not arrived');
    if (m.message.add !== undefined) memories[m.message.add] = instantiate(m.message.memory);
    else memories[m.message.remove] = null;
  }
}
${AWAIT_PAGES_SOURCE}
let seen = Atomics.load(c, slots.GEN);
Atomics.add(c, slots.READY, 1);
Atomics.notify(c, slots.READY);
for (;;) {
${waitForCall}
  let gen = Atomics.load(c, slots.GEN);
  if (gen === seen) continue;  // woken without a new call (e.g. by the notify of a call this thread already finished)
  seen = gen;
  try {
    // Claim the share before reading anything of the call: the calling thread resets the claims, then publishes a
    // call, and runs every share still unclaimed once its own is done. A claim that holds is on the call now published
    // (the caller publishes no other until this share is done), which may be later than the one this thread woke
    // for: GEN is read again. A share the caller claimed first is not run here.
    if (Atomics.compareExchange(claims, thread, 0, 1) === 0) {
      seen = gen = Atomics.load(c, slots.GEN);
      if (Atomics.load(c, slots.FAULT) === thread) {
        Atomics.store(c, slots.FAULT, 0);
        throw new Error('fault injected by ThreadPool.injectFault');
      }
      if (Atomics.load(c, slots.POSTED) > read) takeMemoryMessages();
      const on = memories[Atomics.load(c, slots.MEMORY)];
      if (!on) throw new Error('call on memory ' + Atomics.load(c, slots.MEMORY) + ', which this thread does not have');
      const pages = Atomics.load(c, slots.PAGES);
      if (pages > on.known) on.known = awaitPages(on.memory, pages);
      const start = ranges[2 * thread], end = ranges[2 * thread + 1];
      if (start < end) on.kernels[Atomics.load(c, slots.FN)](...args.subarray(0, Atomics.load(c, slots.NARGS)), start, end, thread);
    }
  } catch (e) {
    port.postMessage({ thread, message: e instanceof Error ? e.message : String(e) });
    Atomics.store(failed, thread, 1);
  }
  Atomics.store(done, thread, gen);
  Atomics.notify(done, thread);
}
`;
}
