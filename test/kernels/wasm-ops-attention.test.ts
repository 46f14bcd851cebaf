// The wasm MLA attention kernels (src/kernels/wasm/attention.as through the backend) against the reference: flash
// prefill (causal, after cached tokens, odd head dims, more keys than one tile), latent decode over scattered cache
// rows of different lengths (one and several key blocks, heads in groups), and the W_UK / W_UV absorptions with kv_b
// in every weight kind, FP8 block rows that cut through heads included; on both builds, 1 thread and 2 threads with
// every call split.

import { test } from 'node:test';
import { empty, f32, fromI32 } from '../../src/tensor/tensor.js';
import { Rng } from '../../src/util/random.js';
import { refBackend } from '../../src/kernels/ref/index.js';
import { rand, randWeight, assertClose, eachBackend, rms, WEIGHT_KINDS } from './wasm-ops-fixtures.js';

const TOL = 1e-5;

// [H, dn, dr, dv, R]: odd dims, dims that are multiples of 4, and DeepSeek-like proportions.
const DIMS = [[1, 3, 2, 5, 5], [3, 7, 6, 9, 11], [4, 16, 8, 16, 32], [2, 32, 16, 32, 70]] as const;

test('mlaAttention (flash prefill) agrees with the naive reference: causal, after past tokens, partial tiles', async () => {
  await eachBackend((heap, k, label) => {
    const r = new Rng(11);
    for (const [H, dn, dr, dv, R] of DIMS) for (const [T, past] of [[1, 0], [1, 9], [5, 0], [6, 3], [17, 20], [33, 0]]) {
      const S = past + T, poolStart = 3, W = R + dr;
      const q = rand(heap, [T, H * (dn + dr)], r), kv = rand(heap, [S, H * (dn + dv)], r);
      const pool = rand(heap, [poolStart + S + 2, W], r);
      const scale = 1.7 / Math.sqrt(dn + dr);
      const want = empty(heap, [T, H * dv]), got = empty(heap, [T, H * dv]);
      f32(got).fill(Number.NaN);
      refBackend.mlaAttention(want, q, kv, pool, poolStart, T, S, past, H, dn, dr, dv, R, scale);
      k.mlaAttention(got, q, kv, pool, poolStart, T, S, past, H, dn, dr, dv, R, scale);
      assertClose(f32(got), f32(want), TOL, `${label} mlaAttention H=${H} dn=${dn} dr=${dr} dv=${dv} T=${T} past=${past}`);
    }
  });
});

// Latent decode: cache lengths within one block of 48 rows, across two and three blocks, and an empty sequence. Up to
// 4 heads take the flash form; 13 heads the GEMM form in one item per sequence (24 tile lanes, 11 of them padding),
// 25 heads two items per sequence (13 and 12 heads).
const DECODE_DIMS = [...DIMS, [13, 8, 4, 16, 40], [25, 8, 4, 16, 40]] as const;
const DECODE_LENGTHS = [[1], [17], [3, 40, 16], [5, 1], [49], [97, 3], [100, 48, 0]];

test('mlaLatentAttention (latent decode) agrees with the reference over scattered cache rows of different lengths', async () => {
  await eachBackend((heap, k, label) => {
    const r = new Rng(12);
    for (const [H, dn, dr, , R] of DECODE_DIMS) for (const lengths of DECODE_LENGTHS) {
      const B = lengths.length, W = R + dr, starts = lengths.map((_, b) => b * 105 + 2);
      const pool = rand(heap, [B * 105 + 2, W], r, 2);
      const qLat = rand(heap, [B, H * R], r), q = rand(heap, [B, H * (dn + dr)], r);
      const rows = { start: fromI32(heap, starts), length: fromI32(heap, lengths) };
      const scale = 0.9 / Math.sqrt(dn + dr);
      const want = empty(heap, [B, H * R]), got = empty(heap, [B, H * R]);
      f32(got).fill(Number.NaN);
      refBackend.mlaLatentAttention(want, qLat, q, pool, rows, B, H, dn, dr, R, scale);
      k.mlaLatentAttention(got, qLat, q, pool, rows, B, H, dn, dr, R, scale);
      assertClose(f32(got), f32(want), TOL, `${label} mlaLatentAttention H=${H} R=${R} dr=${dr} lengths=${lengths}`);
    }
  });
});

test('mlaAbsorbQuery and mlaAbsorbOutput agree with the reference for kv_b in every weight kind', async () => {
  await eachBackend((heap, k, label) => {
    const r = new Rng(13);
    for (const kind of WEIGHT_KINDS) for (const [H, dn, dr, dv, R] of DIMS) for (const B of [1, 3]) {
      const kvB = randWeight(heap, kind, H * (dn + dv), R, r);
      const q = rand(heap, [B, H * (dn + dr)], r), ctx = rand(heap, [B, H * R], r);
      const wantQ = empty(heap, [B, H * R]), gotQ = empty(heap, [B, H * R]);
      f32(gotQ).fill(Number.NaN);
      refBackend.mlaAbsorbQuery(wantQ, q, kvB, B, H, dn, dr, dv, R);
      k.mlaAbsorbQuery(gotQ, q, kvB, B, H, dn, dr, dv, R);
      assertClose(f32(gotQ), f32(wantQ), TOL, `${label} mlaAbsorbQuery ${kind} H=${H} dn=${dn} R=${R} B=${B}`, rms(f32(wantQ)));
      const wantO = empty(heap, [B, H * dv]), gotO = empty(heap, [B, H * dv]);
      f32(gotO).fill(Number.NaN);
      refBackend.mlaAbsorbOutput(wantO, ctx, kvB, B, H, dn, dv, R);
      k.mlaAbsorbOutput(gotO, ctx, kvB, B, H, dn, dv, R);
      assertClose(f32(gotO), f32(wantO), TOL, `${label} mlaAbsorbOutput ${kind} H=${H} dv=${dv} R=${R} B=${B}`, rms(f32(wantO)));
    }
  });
});
