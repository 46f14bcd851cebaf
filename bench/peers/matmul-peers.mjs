#!/usr/bin/env node
// Peer f32 matmul throughput for qiusuo's benchmark table.
//
//   npm --prefix bench/peers ci          (with ONNXRUNTIME_NODE_INSTALL=skip)
//   node bench/peers/matmul-peers.mjs [--runs N] [--only a,b] [--out FILE]
//
// Peers: tfjs-backend-wasm (XNNPACK), onnxruntime-node (MLAS), numpy+OpenBLAS
// (Debian's /usr/bin/python3), and a plain-JS triple loop. Each is optional:
// a peer that fails to load is recorded in `notes` and the others still run.
// Shapes: out[M,N] = A[M,K] x B[K,N] at M=N=K=1024 and at M=1, K=N=1024
// (decode-like; GB/s = bytes of the f32 weight matrix / time).
// Timing: warm-up, then best of >= 5 runs; a run repeats the op until it lasts
// >= 20 ms so that M=1 timings are not dominated by timer resolution.

import { createRequire } from 'node:module';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const require = createRequire(path.join(HERE, 'package.json'));

// ---------------------------------------------------------------- options ---
const argv = process.argv.slice(2);
function opt(name, dflt) {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 && i + 1 < argv.length ? argv[i + 1] : dflt;
}
const RUNS = Math.max(5, Number(opt('runs', '7')));
const ONLY = opt('only', '') ? new Set(opt('only', '').split(',')) : null;
const OUT = path.resolve(opt('out', path.join(HERE, '..', 'results', 'peers.json')));
const PY = opt('python', '/usr/bin/python3');
const SHAPES = [
  { M: 1024, N: 1024, K: 1024 },
  { M: 1, N: 1024, K: 1024 },
];
const THREADS = [1, 2];
const MIN_RUN_S = 0.02;
const WAIT_QUIET_S = Number(opt('wait-quiet', '60'));
const ORT_SPIN = opt('ort-spin', null); // '0' | '1': session.intra_op.allow_spinning

const results = [];
const log = (...a) => console.error(...a);

// ------------------------------------------------------------------ data ---
function randomF32(n, seed) {
  // xorshift32 -> uniform [-1, 1)
  let s = seed >>> 0 || 1;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    s ^= s << 13; s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5; s >>>= 0;
    out[i] = s / 2147483648 - 1;
  }
  return out;
}
function makeData({ M, N, K }) {
  const A = randomF32(M * K, 0x1234 + M);
  const B = randomF32(K * N, 0x9876); // B [K, N] row-major
  const W = new Float32Array(N * K); // W = B^T, [N, K] row-major (qiusuo layout)
  for (let k = 0; k < K; k++) for (let n = 0; n < N; n++) W[n * K + k] = B[k * N + n];
  return { A, B, W };
}

// Largest |out - exact| / sum|a||b| over a few entries, exact in float64.
function maxRelErr(out, { A, B }, { M, N, K }, samples = 8) {
  let worst = 0;
  let s = 12345;
  for (let t = 0; t < samples; t++) {
    s = (s * 1103515245 + 12345) % 2147483648;
    const i = s % M;
    s = (s * 1103515245 + 12345) % 2147483648;
    const j = s % N;
    let ref = 0, scale = 0;
    for (let k = 0; k < K; k++) {
      const p = A[i * K + k] * B[k * N + j];
      ref += p;
      scale += Math.abs(p);
    }
    worst = Math.max(worst, Math.abs(out[i * N + j] - ref) / (scale || 1));
  }
  return worst;
}
const TOL = 1e-4;

// ---------------------------------------------------------------- timing ---
// CPU used by *other* processes while we ran (Linux only): on a shared 2-core
// box, background load is the main source of noise in the 2-thread rows.
function cpuTicks() {
  try {
    const all = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
    const busy = all[0] + all[1] + all[2] + all[5] + all[6] + (all[7] || 0); // user nice system irq softirq steal
    const self = readFileSync('/proc/self/stat', 'utf8').split(') ')[1].split(' ').map(Number);
    return { busy, self: self[11] + self[12] + self[13] + self[14] }; // utime stime cutime cstime
  } catch { return null; }
}
function othersCores(a, b, secs) {
  return a && b && secs > 0 ? Math.max(0, (b.busy - a.busy) - (b.self - a.self)) / 100 / secs : null;
}
// Before each measurement, wait (from a budget of --wait-quiet seconds per
// script run) until other processes use < 0.3 of a core.
let quietBudget = WAIT_QUIET_S;
async function waitQuiet() {
  let said = false;
  while (quietBudget > 0) {
    const a = cpuTicks();
    await new Promise((r) => setTimeout(r, 500));
    quietBudget -= 0.5;
    const bg = othersCores(a, cpuTicks(), 0.5);
    if (bg == null || bg < 0.3) return;
    if (!said) { log(`  (waiting for background load ${bg.toFixed(2)} cores to drop; budget ${quietBudget.toFixed(0)} s)`); said = true; }
  }
}
async function bestTime(fn) {
  await fn(); // warm-up (also builds caches / packed weights)
  await waitQuiet();
  const c0 = cpuTicks(), w0 = performance.now();
  let t0 = performance.now();
  await fn();
  const one = Math.max((performance.now() - t0) / 1e3, 1e-7);
  const reps = Math.max(1, Math.ceil(MIN_RUN_S / one));
  let best = Infinity;
  for (let r = 0; r < RUNS; r++) {
    t0 = performance.now();
    for (let i = 0; i < reps; i++) await fn();
    best = Math.min(best, (performance.now() - t0) / 1e3 / reps);
  }
  const bg = othersCores(c0, cpuTicks(), (performance.now() - w0) / 1e3);
  return { seconds: best, reps, bg_cores: bg == null ? null : +bg.toFixed(2) };
}

function record(peer, threads, shape, seconds, notes, extra = {}) {
  const { M, N, K } = shape;
  const row = { peer, threads, M, N, K, gflops: null, notes };
  if (seconds != null && Number.isFinite(seconds)) {
    row.gflops = +((2 * M * N * K) / seconds / 1e9).toFixed(2);
    if (M === 1) row.gbs = +((K * N * 4) / seconds / 1e9).toFixed(2);
    row.ms = +(seconds * 1e3).toFixed(4);
  }
  Object.assign(row, extra);
  results.push(row);
  log(`  ${peer.padEnd(28)} t=${threads} M=${String(M).padEnd(4)} ` +
      `${row.gflops == null ? 'n/a' : row.gflops.toFixed(2).padStart(7) + ' GFLOP/s'}` +
      `${row.gbs != null ? '  ' + row.gbs.toFixed(2) + ' GB/s' : ''}` +
      `${row.bg_cores != null ? `  [bg ${row.bg_cores} cores]` : ''}  ${notes}`);
}
function recordFailure(peer, threads, notes) {
  for (const s of SHAPES) record(peer, threads, s, null, notes);
}
const want = (p) => !ONLY || ONLY.has(p);
const errMsg = (e) => String((e && (e.message || e)) || e).split('\n')[0].slice(0, 300);

// ---------------------------------------------------------------- plain JS ---
async function plainJs() {
  const peer = 'plain-js';
  log(`[${peer}]`);
  for (const shape of SHAPES) {
    const { M, N, K } = shape;
    const d = makeData(shape);
    const out = new Float32Array(M * N);
    const { A, B } = d;
    // i-k-j order: inner loop walks a row of B and a row of out contiguously.
    const run = () => {
      out.fill(0);
      for (let i = 0; i < M; i++) {
        const oi = i * N;
        for (let k = 0; k < K; k++) {
          const a = A[i * K + k];
          const bk = k * N;
          for (let j = 0; j < N; j++) out[oi + j] += a * B[bk + j];
        }
      }
    };
    run();
    const err = maxRelErr(out, d, shape);
    if (!(err < TOL)) { record(peer, 1, shape, null, `wrong result (rel err ${err})`); continue; }
    const { seconds, reps, bg_cores } = await bestTime(run);
    record(peer, 1, shape, seconds,
      `naive i-k-j triple loop over Float32Array (f32 accumulate in f64 JS numbers rounded per store), ` +
      `B[K,N] row-major; ${reps} rep/run; rel err ${err.toExponential(1)}`, { layout: 'A[M,K]·B[K,N]', bg_cores });
  }
}

// ------------------------------------------------------------ tfjs wasm ---
async function tfjsWasm() {
  const peer = 'tfjs-backend-wasm';
  log(`[${peer}]`);
  let tf, wasm;
  try {
    tf = require('@tensorflow/tfjs-core');
    wasm = require('@tensorflow/tfjs-backend-wasm');
    const dist = path.join(path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm/package.json')), 'dist') + path.sep;
    wasm.setWasmPaths(dist);
    wasm.setThreadsCount(2);
    const simd = await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT');
    const mt = await tf.env().getAsync('WASM_HAS_MULTITHREAD_SUPPORT');
    if (!(await tf.setBackend('wasm'))) throw new Error('setBackend(wasm) returned false');
    await tf.ready();
    const nThreads = wasm.getThreadsCount();
    const binary = simd && mt ? 'threaded-simd' : simd ? 'simd' : 'plain';
    const ver = `tfjs-core ${tf.version_core}, backend-wasm ${wasm.version_wasm}`;
    const thrNote = `threads unavailable in Node: tfjs-backend-wasm hard-codes WASM_HAS_MULTITHREAD_SUPPORT=false ` +
      `when IS_NODE (tfjs issue #3830); forcing the flag fails (emscripten spawns its pthread workers from ` +
      `blob: URLs, which Node's worker_threads rejects with ERR_WORKER_PATH)`;
    for (const shape of SHAPES) {
      const { M, N, K } = shape;
      const d = makeData(shape);
      const a = tf.tensor2d(d.A, [M, K]);
      const b = tf.tensor2d(d.B, [K, N]);
      const w = tf.tensor2d(d.W, [N, K]);
      for (const [label, transB, rhs] of [
        ['A[M,K]·B[K,N]', false, b],
        ['A[M,K]·W[N,K]ᵀ (transposeB)', true, w],
      ]) {
        const c0 = tf.matMul(a, rhs, false, transB);
        const err = maxRelErr(c0.dataSync(), d, shape);
        c0.dispose();
        const name = transB ? `${peer} (transposeB)` : peer;
        if (!(err < TOL)) { record(name, nThreads, shape, null, `wrong result (rel err ${err})`); continue; }
        // The wasm backend runs kernels synchronously; the result stays in wasm
        // memory (no read-back in the timed loop).
        const { seconds, reps, bg_cores } = await bestTime(() => { tf.matMul(a, rhs, false, transB).dispose(); });
        const kernel = transB
          ? 'NOT XNNPACK: tfjs-wasm only routes transposeA=transposeB=false to XNNPACK; this is its scalar blocked fallback loop'
          : 'XNNPACK fully-connected (weights packed once, cached by B tensor id)';
        record(name, nThreads, shape, seconds,
          `${ver}; wasm binary ${binary}; ${kernel}; layout ${label}; ${reps} rep/run; rel err ${err.toExponential(1)}`,
          { layout: label, bg_cores });
      }
      a.dispose(); b.dispose(); w.dispose();
    }
    if (nThreads < 2) recordFailure(peer, 2, thrNote);
  } catch (e) {
    recordFailure(peer, 1, `failed to load/run: ${errMsg(e)}`);
  }
}

// --------------------------------------------------- onnxruntime-node ---
// Minimal protobuf writer for a one-node ONNX ModelProto.
function varint(n) {
  const out = [];
  while (n >= 0x80) { out.push((n % 0x80) | 0x80); n = Math.floor(n / 0x80); }
  out.push(n);
  return Buffer.from(out);
}
const pbInt = (field, n) => Buffer.concat([varint(field * 8), varint(n)]);
const pbBytes = (field, data) => {
  const bytes = Buffer.from(data.buffer, data.byteOffset, data.byteLength); // any typed array, as raw bytes
  return Buffer.concat([varint(field * 8 + 2), varint(bytes.length), bytes]);
};
const pbStr = (field, s) => pbBytes(field, Buffer.from(s, 'utf8'));
const pbMsg = (field, ...parts) => pbBytes(field, Buffer.concat(parts));
const FLOAT = 1;

function valueInfo(field, name, dims) {
  // ValueInfoProto{name=1, type=2: TypeProto{tensor_type=1: {elem_type=1, shape=2: {dim=1: {dim_value=1}}}}}
  const shape = Buffer.concat(dims.map((d) => pbMsg(1, pbInt(1, d))));
  return pbMsg(field, pbStr(1, name), pbMsg(2, pbMsg(1, pbInt(1, FLOAT), pbBytes(2, shape))));
}
function initializer(name, dims, data) {
  // TensorProto{dims=1, data_type=2, name=8, raw_data=9} (raw_data is little-endian f32)
  return pbMsg(5, ...dims.map((d) => pbInt(1, d)), pbInt(2, FLOAT), pbStr(8, name), pbBytes(9, data));
}
function buildModel({ M, N, K }, op, weight) {
  // op 'MatMul': Y = X[M,K] · B[K,N];  op 'Gemm': Y = X[M,K] · W[N,K]ᵀ (transB=1)
  const wDims = op === 'Gemm' ? [N, K] : [K, N];
  const node = pbMsg(1,
    pbStr(1, 'X'), pbStr(1, 'B'), pbStr(2, 'Y'), pbStr(3, 'mm'), pbStr(4, op),
    ...(op === 'Gemm' ? [pbMsg(5, pbStr(1, 'transB'), pbInt(3, 1), pbInt(20, 2 /* INT */))] : []));
  const graph = Buffer.concat([
    node, pbStr(2, 'matmul'), initializer('B', wDims, weight),
    valueInfo(11, 'X', [M, K]), valueInfo(12, 'Y', [M, N]),
  ]);
  return Buffer.concat([
    pbInt(1, 8), // ir_version 8
    pbStr(2, 'qiusuo-bench'),
    pbMsg(8, pbInt(2, 13)), // opset_import {domain "", version 13}
    pbMsg(7, graph),
  ]);
}

async function onnxRuntime() {
  const peer = 'onnxruntime-node';
  log(`[${peer}]`);
  let ort;
  try {
    ort = require('onnxruntime-node');
  } catch (e) {
    for (const t of THREADS) recordFailure(peer, t, `failed to load: ${errMsg(e)}`);
    return;
  }
  const ver = `onnxruntime-node ${ort.env?.versions?.node ?? '?'}`;
  for (const threads of THREADS) {
    for (const shape of SHAPES) {
      const { M, N, K } = shape;
      const d = makeData(shape);
      for (const [op, weight, label] of [
        ['MatMul', d.B, 'A[M,K]·B[K,N] (MatMul, B initializer)'],
        ['Gemm', d.W, 'A[M,K]·W[N,K]ᵀ (Gemm transB=1, W initializer)'],
      ]) {
        const name = op === 'Gemm' ? `${peer} (Gemm transB)` : peer;
        try {
          const session = await ort.InferenceSession.create(buildModel(shape, op, weight), {
            intraOpNumThreads: threads, interOpNumThreads: 1, executionMode: 'sequential',
            graphOptimizationLevel: 'all', executionProviders: ['cpu'],
            ...(ORT_SPIN != null ? { extra: { session: { intra_op: { allow_spinning: ORT_SPIN } } } } : {}),
          });
          const feeds = { X: new ort.Tensor('float32', d.A, [M, K]) };
          const r0 = await session.run(feeds);
          const err = maxRelErr(r0.Y.data, d, shape);
          if (!(err < TOL)) { record(name, threads, shape, null, `wrong result (rel err ${err})`); continue; }
          const { seconds, reps, bg_cores } = await bestTime(() => session.run(feeds));
          record(name, threads, shape, seconds,
            `${ver}; CPU EP (MLAS), intraOpNumThreads=${threads}; layout ${label}; ` +
            `time includes session.run overhead + output copy to JS; ${reps} rep/run; rel err ${err.toExponential(1)}`,
            { layout: label, bg_cores });
          await session.release?.();
        } catch (e) {
          record(name, threads, shape, null, `failed: ${errMsg(e)}`);
        }
      }
    }
  }
}

// ------------------------------------------------------- numpy/OpenBLAS ---
async function numpyPeer() {
  const peer = 'numpy+OpenBLAS';
  log(`[${peer}]`);
  const script = path.join(HERE, 'numpy_matmul.py');
  if (!existsSync(PY)) {
    for (const t of THREADS) recordFailure(peer, t, `${PY} not found (apt-get install -y python3-numpy libopenblas0-pthread)`);
    return;
  }
  const base = { ...process.env };
  const asIsCore = base.OPENBLAS_CORETYPE, asIsL2 = base.OPENBLAS_L2_SIZE;
  const variants = [{
    tag: `as-is env (OPENBLAS_CORETYPE=${asIsCore ?? 'unset'}, OPENBLAS_L2_SIZE=${asIsL2 ?? 'unset'})`, env: base,
  }];
  if (asIsCore != null || asIsL2 != null) {
    const env = { ...base }; delete env.OPENBLAS_CORETYPE; delete env.OPENBLAS_L2_SIZE;
    variants.push({ tag: 'OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE unset (autodetect)', env });
  }
  {
    const env = { ...base, OPENBLAS_CORETYPE: 'SkylakeX' }; delete env.OPENBLAS_L2_SIZE;
    variants.push({ tag: 'OPENBLAS_CORETYPE=SkylakeX, OPENBLAS_L2_SIZE unset', env, suffix: ' [SkylakeX]' });
  }
  const cfg = JSON.stringify({ shapes: SHAPES.map(({ M, N, K }) => [M, N, K]), runs: RUNS });
  for (const v of variants) {
    for (const threads of THREADS) {
      const name = peer + (v.suffix ?? '');
      const env = { ...v.env, OPENBLAS_NUM_THREADS: String(threads), OMP_NUM_THREADS: String(threads) };
      await waitQuiet();
      const c0 = cpuTicks(), w0 = performance.now();
      const r = spawnSync(PY, [script, cfg], { env, encoding: 'utf8', timeout: 120_000 });
      const bg = othersCores(c0, cpuTicks(), (performance.now() - w0) / 1e3);
      const bg_cores = bg == null ? null : +bg.toFixed(2);
      if (r.status !== 0 || r.error) {
        const why = r.error ? errMsg(r.error)
          : r.signal ? `killed by ${r.signal}${r.signal === 'SIGILL' ? ' (illegal instruction: this CPU lacks the ISA that core type needs, e.g. AVX-512 for SkylakeX)' : ''}`
          : `exit ${r.status}: ${(r.stderr || '').trim().split('\n').slice(-1)[0]}`;
        recordFailure(name, threads, `${v.tag}: ${why}`);
        continue;
      }
      let j;
      try { j = JSON.parse(r.stdout.trim().split('\n').pop()); } catch (e) {
        recordFailure(name, threads, `${v.tag}: unparsable output: ${errMsg(e)}`);
        continue;
      }
      const b = j.blas || {};
      const kern = b.source === 'threadpoolctl'
        ? `${b.internal_api} ${b.version} kernel=${b.architecture} threads=${b.num_threads} (${b.threading_layer})`
        : `BLAS via numpy.show_config (threadpoolctl unavailable)`;
      for (const x of j.results) {
        const shape = { M: x.M, N: x.N, K: x.K };
        const nm = name + (x.layout.includes('W.T') ? ' (A@W.T)' : '');
        if (!x.ok) { record(nm, threads, shape, null, `${v.tag}: wrong result (rel err ${x.max_rel_err})`); continue; }
        record(nm, threads, shape, x.seconds,
          `numpy ${j.numpy}; ${kern}; ${v.tag}; layout ${x.layout}; ${x.reps_per_run} rep/run; ` +
          `rel err ${Number(x.max_rel_err).toExponential(1)}`, { layout: x.layout, bg_cores });
      }
    }
  }
}

// ------------------------------------------------------------------ main ---
const ticks0 = cpuTicks();
const load0 = os.loadavg()[0];
const t0 = performance.now();
log(`matmul peers on ${os.cpus()[0]?.model} x${os.cpus().length}, node ${process.version}, best of ${RUNS}`);
if (want('tfjs')) await tfjsWasm();
if (want('ort')) await onnxRuntime();
if (want('numpy')) await numpyPeer();
if (want('js')) await plainJs();
const elapsed = (performance.now() - t0) / 1e3;
const ticks1 = cpuTicks();
const backgroundCpu = ticks0 && ticks1 ? Math.max(0, (ticks1.busy - ticks0.busy) - (ticks1.self - ticks0.self)) / 100 : null;

const report = {
  machine: os.cpus()[0]?.model ?? 'unknown',
  cores: os.cpus().length,
  node: process.version,
  date: new Date().toISOString(),
  elapsed_s: +elapsed.toFixed(1),
  loadavg_1m_before: +load0.toFixed(2),
  background_cpu_s: backgroundCpu == null ? null : +backgroundCpu.toFixed(1),
  method: `best of ${RUNS} runs after warm-up; a run repeats the op until >= ${MIN_RUN_S * 1e3} ms; ` +
    `GFLOP/s = 2*M*N*K/s; gbs (M=1 only) = K*N*4 bytes of f32 weight / s. The 4 MiB weight stays ` +
    `in cache (L2+L3) across repeats, so M=1 GB/s is a hot-cache figure, not DRAM bandwidth. ` +
    `bg_cores = average cores used by other processes while that row was timed (numpy rows: over the ` +
    `whole python run); rows with bg_cores well above 0 (esp. 2-thread rows) are contaminated by other load.`,
  results,
};
mkdirSync(path.dirname(OUT), { recursive: true });
writeFileSync(OUT, JSON.stringify(report, null, 2) + '\n');
log(`wrote ${OUT} (${results.length} rows) in ${elapsed.toFixed(1)} s; ` +
  `CPU used by other processes meanwhile: ${backgroundCpu ?? '?'} s (1-min load before: ${load0.toFixed(2)})`);
