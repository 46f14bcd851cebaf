// Matmul GFLOP/s against the peers, the FMA ceiling, the head-to-head with tfjs-wasm and decode-shaped GB/s
// (matmul.json, peers.json, fma-peak.json, head-to-head.json).

import { read, meta, fmt, steal } from './common.js';

export function renderMatmul(): string[] {
  const mm = read('matmul'), peers = read('peers');
  if (!mm) return [];
  const lines: string[] = [];
  interface MRow { dtype: string; kernel: string; threads: number; T: number; C: number; gflops: number; weightGBs: number }
  interface PRow { peer: string; threads: number; M: number; gflops: number | null; gbs?: number; notes: string }
  const ours = (dtype: string, T: number, kernel: string, threads: number) =>
    (mm.results as MRow[]).find((r) => r.dtype === dtype && r.T === T && r.C === 1024 && r.kernel === kernel && r.threads === threads);
  const peer = (name: string, threads: number, M: number) => (peers?.results as PRow[] | undefined)?.find((r) => r.peer === name && r.threads === threads && r.M === M);
  lines.push(`## Matmul (${meta(mm)}${peers ? `; peers ${peers.date.slice(0, 10)}` : ''})`, '',
    'GFLOP/s of out = x·Wᵀ, x [1024, 1024], W [1024, 1024] (peers: f32 A·B with their fastest layout). Ours: `simd` = WebAssembly',
    'SIMD128, `relaxed` = with relaxed-SIMD fused multiply-add; bf16/fp8 weights are widened inside the kernel.', '',
    '| kernel | threads | f32 | bf16 | fp8 |', '|---|---:|---:|---:|---:|');
  for (const [k, t] of [['ref', 1], ['simd', 1], ['relaxed', 1], ['relaxed', 2]] as const) {
    const f = ours('f32', 1024, k, t);
    if (!f) continue;
    lines.push(`| qiusuo ${k === 'ref' ? 'reference TS' : k} | ${t} | ${fmt(f.gflops)} | ${fmt(ours('bf16', 1024, k, t)?.gflops)} | ${fmt(ours('fp8', 1024, k, t)?.gflops)} |`);
  }
  for (const [name, label, t] of [['plain-js', 'plain JS (naive loop)', 1], ['tfjs-backend-wasm', 'tfjs-backend-wasm (XNNPACK)', 1],
    ['onnxruntime-node (Gemm transB)', 'onnxruntime-node (MLAS)', 1], ['onnxruntime-node (Gemm transB)', 'onnxruntime-node (MLAS)', 2],
    ['numpy+OpenBLAS (A@W.T)', 'numpy + OpenBLAS', 1], ['numpy+OpenBLAS (A@W.T)', 'numpy + OpenBLAS', 2]] as const) {
    const p = peer(name, t, 1024);
    if (p) lines.push(`| ${label} | ${t} | ${fmt(p.gflops)} | | |`);
  }
  const best1 = ours('f32', 1024, 'relaxed', 1) ?? ours('f32', 1024, 'simd', 1);
  const best2 = ours('f32', 1024, 'relaxed', 2) ?? ours('f32', 1024, 'simd', 2);
  const ratio = (a?: number | null, b?: number | null) => (a && b ? `${(a / b).toFixed(2)}×` : 'n/a');
  lines.push('', `Ratios (f32, one thread unless noted): qiusuo / tfjs-wasm ${ratio(best1?.gflops, peer('tfjs-backend-wasm', 1, 1024)?.gflops)}, ` +
    `/ plain JS ${ratio(best1?.gflops, peer('plain-js', 1, 1024)?.gflops)}, / onnxruntime ${ratio(best1?.gflops, peer('onnxruntime-node (Gemm transB)', 1, 1024)?.gflops)}, ` +
    `/ OpenBLAS ${ratio(best1?.gflops, peer('numpy+OpenBLAS (A@W.T)', 1, 1024)?.gflops)}; two threads / one thread ${ratio(best2?.gflops, best1?.gflops)}; ` +
    `two threads / OpenBLAS two threads ${ratio(best2?.gflops, peer('numpy+OpenBLAS (A@W.T)', 2, 1024)?.gflops)}.`, '');
  const peak = read('fma-peak');
  if (peak?.results) {
    interface FRow { threads: number; flavour: string; gflops: number; medianGflops: number; rounds: number }
    const ceiling = (t: number) => (peak.results as FRow[]).find((r) => r.threads === t);
    const share = (m?: MRow, c?: FRow) => (m && c ? `${((100 * m.gflops) / c.gflops).toFixed(0)}%` : 'n/a');
    const [c1, c2] = [ceiling(1), ceiling(2)];
    // A share of the ceiling means something only when both were measured on the same processor.
    const shares = peak.machine === mm.machine
      ? `The f32 matmul above (${mm.date.slice(0, 10)}) reaches ${share(best1, c1)} of it on one thread, ${share(best2, c2)} on two.`
      : `The matmul table above was measured on another processor (${mm.machine}), so no share of this ceiling is given for it.`;
    lines.push(`The ceiling (\`bench/fma-peak.ts\`; ${meta(peak)}${steal(peak)}): the f32x4 multiply-add peak of ten register-only chains in the`
      + ` shipped kernel module (${c1?.flavour ?? 'n/a'} build), best of ${c1?.rounds ?? 'n/a'} rounds: ${fmt(c1?.gflops)} GFLOP/s on one thread, ${fmt(c2?.gflops)} on two`
      + ` (medians ${fmt(c1?.medianGflops)} and ${fmt(c2?.medianGflops)}). ${shares}`, '');
  }
  const h2h = read('head-to-head');
  if (h2h) {
    const rs = h2h.rounds as { qiusuo: number; tfjs: number; ratio: number }[];
    lines.push(`Head to head with tfjs-wasm (${h2h.date.slice(0, 10)}; \`bench/peers/head-to-head.mjs\`): one process, the two timed alternately in`,
      `${rs.length} rounds, because this VM's speed drifts between runs. qiusuo / tfjs-wasm per round: ${rs.map((r) => r.ratio.toFixed(2)).join(', ')};`,
      `**median ${h2h.medianRatio.toFixed(2)}×** (qiusuo ${Math.min(...rs.map((r) => r.qiusuo)).toFixed(1)}–${Math.max(...rs.map((r) => r.qiusuo)).toFixed(1)}, `
      + `tfjs-wasm ${Math.min(...rs.map((r) => r.tfjs)).toFixed(1)}–${Math.max(...rs.map((r) => r.tfjs)).toFixed(1)} GFLOP/s).`, '');
  }
  lines.push('Decode-shaped (x [1, C], weights read once per token): GB/s of weights.', '',
    '| kernel | threads | f32 1024² | bf16 1024² | fp8 1024² | f32 4096² | bf16 4096² | fp8 4096² |', '|---|---:|---:|---:|---:|---:|---:|---:|');
  const dec = (dtype: string, C: number, k: string, t: number) =>
    (mm.results as MRow[]).find((r) => r.dtype === dtype && r.T === 1 && r.C === C && r.kernel === k && r.threads === t)?.weightGBs;
  for (const [k, t] of [['ref', 1], ['simd', 1], ['relaxed', 1], ['relaxed', 2]] as const) {
    if (dec('f32', 1024, k, t) === undefined) continue;
    lines.push(`| qiusuo ${k === 'ref' ? 'reference TS' : k} | ${t} | ${['f32', 'bf16', 'fp8'].map((d) => fmt(dec(d, 1024, k, t))).join(' | ')} | ${['f32', 'bf16', 'fp8'].map((d) => fmt(dec(d, 4096, k, t))).join(' | ')} |`);
  }
  for (const [name, label, t] of [['tfjs-backend-wasm', 'tfjs-backend-wasm', 1], ['onnxruntime-node (Gemm transB)', 'onnxruntime-node', 1],
    ['numpy+OpenBLAS (A@W.T)', 'numpy + OpenBLAS', 1]] as const) {
    const p = peer(name, t, 1);
    if (p) lines.push(`| ${label} | ${t} | ${fmt(p.gbs)} | | | | | |`);
  }
  lines.push('');
  return lines;
}
