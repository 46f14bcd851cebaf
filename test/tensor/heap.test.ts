// The heap: allocations are 64-byte aligned and zeroed — also when they reuse freed, dirty memory and after the
// memory has grown (zeroing is wasm memory.fill on the shared memory) — and freed blocks coalesce for reuse.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Heap } from '../../src/tensor/heap.js';

const dirty = (h: Heap, ptr: number, n: number) => new Uint8Array(h.memory.buffer, ptr, n).fill(0xab);
const isZero = (h: Heap, ptr: number, n: number) => new Uint8Array(h.memory.buffer, ptr, n).every((b) => b === 0);

test('allocations are aligned and zeroed, reused memory included', () => {
  const h = new Heap(1 << 16);
  const a = h.alloc(1000), b = h.alloc(3000);
  assert.equal(a % 64, 0);
  assert.equal(b % 64, 0);
  dirty(h, a, 1000);
  dirty(h, b, 3000);
  h.release(a);
  h.release(b);
  const c = h.alloc(4000);                        // the two freed blocks, coalesced
  assert.equal(c, a, 'freed neighbours coalesce and are reused first-fit');
  assert.ok(isZero(h, c, 4000), 'reused memory is zeroed');
});

test('zeroing works across growth of the memory and zero() clears exactly the range given', () => {
  const h = new Heap(1 << 16);
  const big = h.alloc(5 << 20);                   // grows the memory well past its first page
  assert.ok(h.capacity >= 5 << 20, `capacity ${h.capacity}`);
  dirty(h, big, 5 << 20);
  h.zero(big + 100, 1000);
  const bytes = new Uint8Array(h.memory.buffer, big, 2000);
  assert.equal(bytes[99], 0xab);
  assert.ok(bytes.subarray(100, 1100).every((b) => b === 0), 'the range is zero');
  assert.equal(bytes[1100], 0xab, 'nothing after it changed');
  h.release(big);
  const again = h.alloc(5 << 20);
  assert.ok(isZero(h, again, 5 << 20), 'a large reused block is zeroed to its end');
});
