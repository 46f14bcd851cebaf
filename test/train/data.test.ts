// The steps after loading: the held-out split by document, packing with EOS, the seeded batcher (determinism,
// epochs, exact resume), validation windows, the too-small-stream error, and the unigram bits-per-byte baseline
// on hand-worked numbers. Leaves out: loading (data-load.test.ts, data-brown.test.ts).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Batcher, packTokens, splitDocuments, unigramBitsPerByte, validationBatches, type Batch } from '../../src/train/data.js';

const docs = Array.from({ length: 40 }, (_, i) => `doc ${i}`);
/** A stream 0, 1, 2, ..., n-1, so a window's tokens say where it starts. */
const ramp = (n: number) => Int32Array.from({ length: n }, (_, i) => i);
const take = (b: Batcher, n: number): Batch[] => Array.from({ length: n }, () => b.next());

test('split: deterministic per seed, disjoint, complete, original order kept', () => {
  const a = splitDocuments(docs, 0.1, 7);
  assert.deepEqual(splitDocuments(docs, 0.1, 7), a);
  assert.equal(a.val.length, 4);
  assert.equal(a.train.length, 36);
  assert.equal(new Set([...a.train, ...a.val]).size, 40);
  assert.ok(a.val.every((d) => !a.train.includes(d)), 'disjoint');
  const index = (d: string) => Number(d.slice(4));
  for (const side of [a.train, a.val]) assert.ok(side.every((d, i) => i === 0 || index(side[i - 1]!) < index(d)), 'order kept');
  const b = splitDocuments(docs, 0.1, 8);
  assert.notDeepEqual(b.val, a.val);
});

test('split: at least one document on each side; one document goes to train; bad fractions refused', () => {
  assert.deepEqual(splitDocuments(['x', 'y'], 0.01, 1).val.length, 1);
  assert.deepEqual(splitDocuments(['x', 'y'], 0.99, 1).train.length, 1);
  assert.deepEqual(splitDocuments(['x', 'y', 'z'], 0.9, 1).train.length, 1);
  assert.deepEqual(splitDocuments(['x'], 0.5, 1), { train: ['x'], val: [] });
  for (const f of [0, 1, -0.1, NaN]) assert.throws(() => splitDocuments(docs, f, 1), /validation fraction .* must be between 0 and 1/, String(f));
});

test('packing puts EOS after each document', () => {
  assert.deepEqual(Array.from(packTokens([[5, 6], [], [7]], 99)), [5, 6, 99, 99, 7, 99]);
  assert.equal(packTokens([], 1).length, 0);
});

test('batcher: targets are the next tokens; every window of an epoch served once', () => {
  const N = 101;
  const T = 10;
  const b = new Batcher(ramp(N), 2, T, 3);
  const starts: number[] = [];
  for (let k = 0; k < 5; k++) {
    const { inputs, targets, rows } = b.next();
    assert.equal(rows, 2);
    for (let r = 0; r < 2; r++) {
      const s = inputs[r * T]!;
      starts.push(s);
      for (let t = 0; t < T; t++) {
        assert.equal(inputs[r * T + t], s + t);
        assert.equal(targets[r * T + t], s + t + 1);
      }
    }
  }
  // Epoch 0 has floor((N - 1 - shift) / T) windows at shift + k*T; 10 of them fit only with shift 0.
  const shift = starts[0]! % T;
  const expected = Array.from({ length: Math.floor((N - 1 - shift) / T) }, (_, k) => shift + k * T);
  assert.deepEqual(starts.slice(0, expected.length).sort((x, y) => x - y), expected);
  assert.deepEqual(b.state(), expected.length === 10 ? { epoch: 0, index: 10 } : { epoch: 1, index: 1 });
});

test('batcher: deterministic per seed, different across seeds, shuffled', () => {
  const tokens = ramp(1000);
  const a = take(new Batcher(tokens, 4, 16, 11), 20);
  const again = take(new Batcher(tokens, 4, 16, 11), 20);
  const other = take(new Batcher(tokens, 4, 16, 12), 20);
  assert.deepEqual(again, a);
  assert.notDeepEqual(other, a);
  const firstStarts = a.slice(0, 5).flatMap((x) => [0, 1, 2, 3].map((r) => x.inputs[r * 16]!));
  assert.notDeepEqual(firstStarts, [...firstStarts].sort((x, y) => x - y));
});

test('batcher: restore() continues exactly, across epoch boundaries, from a JSON round trip', () => {
  const tokens = ramp(300);
  const whole = take(new Batcher(tokens, 3, 8, 5), 40); // ~37 windows per epoch: crosses 3 epochs
  for (const at of [0, 1, 12, 13, 25, 39]) {
    const first = new Batcher(tokens, 3, 8, 5);
    take(first, at);
    const saved = JSON.parse(JSON.stringify(first.state()));
    const resumed = new Batcher(tokens, 3, 8, 5);
    resumed.restore(saved);
    assert.deepEqual(take(resumed, 40 - at), whole.slice(at), `resume after ${at} batches`);
  }
  const b = new Batcher(tokens, 3, 8, 5);
  for (const bad of [{ epoch: -1, index: 0 }, { epoch: 0, index: 1e6 }, { epoch: 0.5, index: 0 }]) {
    assert.throws(() => b.restore(bad), /batcher: invalid position/, JSON.stringify(bad));
  }
});

test('a stream too small for one sequence is an error saying how many tokens there are and are needed', () => {
  assert.throws(() => new Batcher(ramp(16), 2, 16, 1), /the token stream has 16 tokens; one sequence of T\+1 = 17 tokens is needed/);
  assert.throws(() => validationBatches(ramp(3), 1, 8).next(), /has 3 tokens; .* = 9 tokens is needed/);
  assert.doesNotThrow(() => new Batcher(ramp(17), 2, 16, 1).next());
  assert.throws(() => new Batcher(ramp(17), 0, 16, 1), /batch size 0/);
});

test('validation batches: fixed windows in order, last batch partial, optional cap', () => {
  const batches = [...validationBatches(ramp(36), 2, 5)]; // windows at 0, 5, ..., 30: 7 windows
  assert.deepEqual(batches.map((b) => b.rows), [2, 2, 2, 1]);
  assert.deepEqual(batches.flatMap((b) => Array.from({ length: b.rows }, (_, r) => b.inputs[r * 5]!)), [0, 5, 10, 15, 20, 25, 30]);
  assert.deepEqual(Array.from(batches[3]!.targets), [31, 32, 33, 34, 35]);
  assert.deepEqual([...validationBatches(ramp(36), 2, 5)], batches);
  assert.equal([...validationBatches(ramp(36), 2, 5, 3)].reduce((n, b) => n + b.rows, 0), 3);
});

test('unigram bits per byte: hand-worked example', () => {
  // Train [0, 0, 1], V = 3, add-one: p = [3/6, 2/6, 1/6]. Val [0, 2] over 4 bytes: (1 + log2 6) / 4 bits per byte.
  assert.ok(Math.abs(unigramBitsPerByte([0, 0, 1], [0, 2], 4, 3) - (1 + Math.log2(6)) / 4) < 1e-12, 'value');
  // Uniform when there is no training data: log2 V bits per token.
  assert.ok(Math.abs(unigramBitsPerByte([], Int32Array.from([1, 1]), 2, 8) - 3) < 1e-12, 'uniform');
  assert.throws(() => unigramBitsPerByte([0, 3], [0], 1, 3), /train token id 3 is outside the vocabulary \(size 3\)/);
  assert.throws(() => unigramBitsPerByte([0], [0], 0, 3), /positive byte count/);
});
