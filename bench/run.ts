// `npm run bench`: runs every benchmark in its own process (so one's JIT state and heap do not colour another's),
// the peers too (installed on first use into bench/peers from the npm registry), then renders BENCHMARKS.md from
// the JSON results under bench/results/.

import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync, existsSync } from 'node:fs';

function run(cmd: string, args: string[], env: NodeJS.ProcessEnv = {}): void {
  console.log(`\n== ${cmd} ${args.join(' ')}`);
  const r = spawnSync(cmd, args, { stdio: 'inherit', env: { ...process.env, ...env } });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed with exit code ${r.status}`);
}

const only = process.argv.includes('--render-only');
if (!only) {
  for (const b of ['bench/tokenizer.ts', 'bench/fma-peak.ts', 'bench/matmul.ts', 'bench/attention.ts', 'bench/model.ts', 'bench/scaling.ts', 'bench/train.ts', 'bench/serve.ts', 'bench/speculative.ts', 'bench/realsize.ts', 'bench/llamacpp.ts']) run(process.execPath, ['--import', 'tsx', b]);
  if (!existsSync('bench/peers/node_modules')) run('npm', ['--prefix', 'bench/peers', 'ci'], { ONNXRUNTIME_NODE_INSTALL: 'skip' });
  run(process.execPath, ['bench/peers/matmul-peers.mjs']);
  run(process.execPath, ['bench/peers/head-to-head.mjs']);
}

interface Meta { machine: string; cores: number; node: string; date: string }
const read = (name: string) => (existsSync(`bench/results/${name}.json`) ? JSON.parse(readFileSync(`bench/results/${name}.json`, 'utf8')) : null);
const meta = (m: Meta) => `${m.machine}, ${m.cores} cores, Node ${m.node}, ${m.date.slice(0, 10)}`;
const fmt = (x: number | null | undefined, d = 1) => (x === null || x === undefined ? 'n/a' : x.toFixed(d));
/** ", host steal N%" where the run recorded it (bench/steal.ts). */
const steal = (m: { stealPercent?: number | null }) => (typeof m.stealPercent === 'number' ? ` (host steal during the run: ${fmt(m.stealPercent)}%)` : '');

const lines = ['# Benchmarks', '', 'Produced by `npm run bench` (results as JSON in `bench/results/`) on shared 2-vCPU VMs, each section naming its',
  'processor and date. Their speed drifts between runs and within one, two-thread figures most: the sections timed',
  'alternately in rounds show by how much.', ''];

const mm = read('matmul'), peers = read('peers');
if (mm) {
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
}

const att = read('attention');
if (att) {
  lines.push(`## Latent decode attention (${meta(att)})`, '',
    '`bench/attention.ts`: one decode step\'s attention over the latent cache (scores against every cached row, softmax,',
    'weighted sum of latent rows), random data. "chosen" is what the backend runs: the flash form (4 heads per pass',
    'over the cache) below 12 heads, the GEMM form (12 heads per register tile, the cache read once per item) from 12',
    `heads up; the flash form is timed beside it, alternately, median of ${att.rounds} rounds${steal(att)}.`, '',
    '| shape | sequences | heads | cached rows | threads | chosen ms | chosen GFLOP/s | flash form ms | flash form GFLOP/s |',
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|');
  for (const r of att.results) {
    lines.push(`| ${r.shape} (R ${r.R}, rope ${r.dr}) | ${r.B} | ${r.H} | ${r.cached} | ${r.threads} | ${fmt(r.msChosen, 2)} | ${fmt(r.gflopsChosen)} | ${fmt(r.msFlash, 2)} | ${fmt(r.gflopsFlash)} |`);
  }
  lines.push('');
}

const model = read('model');
if (model) {
  lines.push(`## Model: prefill and decode (${meta(model)})`, '',
    `Random \`qiusuo init\` checkpoints, ${model.promptTokens}-token prompts, ${model.newTokens} decode steps through the latent cache${model.repeats ? `; each figure the median of ${model.repeats} runs` : ''}${steal(model)};`,
    'batch = sequences decoded together in one step (tokens/s summed over them). B/param = bytes of weights (and FP8 scales)',
    'resident in the heap per parameter; above 4/2/1 because the checkpoints also hold the MTP layer\'s copies of the',
    'embedding and head (loaded as stored), a large share of these small models.', '',
    '| preset | weights | backend | batch | prefill tok/s | decode tok/s | weights MiB | B/param |', '|---|---|---|---:|---:|---:|---:|---:|');
  for (const r of model.results) {
    lines.push(`| ${r.preset} | ${r.dtype} | ${r.backend} | ${r.batch} | ${fmt(r.prefillTokS)} | ${fmt(r.decodeTokS)} | ${fmt(r.weightMiB, 2)} | ${fmt(r.bytesPerParam, 2)} |`);
  }
  lines.push('');
}

const sc = read('scaling');
if (sc) {
  const range = (r: [number, number]) => `${fmt(r[0], 2)}–${fmt(r[1], 2)}×`;
  const roundsSec = (sc.rounds as { prefillMs: number[]; decodeMs: number[] }[])
    .map((r) => (r.prefillMs[0] + r.prefillMs[1] + sc.decodeSteps * (r.decodeMs[0] + r.decodeMs[1])) / 1000).sort((a, b) => a - b);
  const roundSec = roundsSec[(roundsSec.length - 1) >> 1];
  lines.push(`## Two threads on a whole forward pass (${meta(sc)})`, '',
    `\`bench/scaling.ts\`: a random \`${sc.preset}\` checkpoint loaded twice in one process, with 1 and 2 threads, timed alternately for`,
    `${sc.rounds.length} rounds (a ${sc.promptTokens}-token prefill with its logits, and ${sc.decodeSteps} decode steps). This VM switches between fast and slow`,
    `phases lasting seconds, so each round compares the two within ${fmt(roundSec, 2)} s (the median round); the figure is the median ratio${steal(sc)}.`, '',
    '| pass | 2 threads / 1 thread, median | range over rounds |', '|---|---:|---:|',
    `| prefill ${sc.promptTokens} tokens | **${fmt(sc.speedupPrefill, 2)}×** | ${range(sc.rangePrefill)} |`,
    `| decode step | **${fmt(sc.speedupDecode, 2)}×** | ${range(sc.rangeDecode)} |`, '');
}

const tr = read('train');
if (tr) {
  interface TRow { preset: string; precision: string; threads: number; tokensPerStep: number; steps: number; warmup: number; tokS: number; stepSec: number;
    mfu: number; mfuFma: number; peaks: { matmul: number; fma: number }; stealPercent: number | null; loadAverage: number }
  const rows = tr.results as TRow[];
  const f32 = (t: number) => rows.find((r) => r.precision === 'f32' && r.threads === t);
  const stepsOf = (p: string) => rows.find((r) => r.precision === p);
  const stealMax = Math.max(...rows.map((r) => r.stealPercent ?? 0));
  lines.push(`## Training step (${meta(tr)})`, '',
    `\`bench/train.ts\`: the default \`qiusuo train\` model (${rows[0].preset}) on the Brown corpus, ${rows[0].tokensPerStep} tokens per optimizer step, every row`,
    `in one process; each row the mean over steps ${[...new Set(rows.map((r) => r.precision))].map((p) => `${stepsOf(p)!.warmup + 1}–${stepsOf(p)!.steps} (${p})`).join(', ')}.`,
    'fp8 simulates the paper\'s FP8 values in f32 arithmetic: slower, not faster. MFU = model FLOPs (6 × active non-embedding',
    'parameters + attention) per second over a peak the run measures at start-up with its threads: the f32x4 multiply-add',
    'ceiling (`src/bench/fma-peak.ts`; `mfuFma` in metrics.jsonl) and the 256³ f32 matmul peak (`mfu`). Host steal up to',
    `${fmt(stealMax)}%; "load" is the machine's 1-minute load average at the row's end: other processes on these ${tr.cores} cores slow a row,`,
    'two-thread rows most.', '',
    '| precision | threads | tokens/s | s/step | step time / f32 | MFU vs measured FMA ceiling | FMA ceiling GFLOP/s | MFU vs start-up matmul peak | matmul peak GFLOP/s | load |',
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
  for (const r of rows) {
    const base = f32(r.threads);
    lines.push(`| ${r.precision} | ${r.threads} | ${fmt(r.tokS, 0)} | ${fmt(r.stepSec, 2)} | ${base ? `${fmt(r.stepSec / base.stepSec, 2)}×` : 'n/a'} | `
      + `${fmt(r.mfuFma * 100)}% | ${fmt(r.peaks.fma)} | ${fmt(r.mfu * 100)}% | ${fmt(r.peaks.matmul)} | ${fmt(r.loadAverage)} |`);
  }
  lines.push('');
}

const sv = read('serve');
if (sv) {
  lines.push(`## Serving under load (${meta(sv)})`, '',
    `\`qiusuo serve\` (default threads, --max-batch 16) on a random \`${sv.preset}\` checkpoint in its own process; streaming chat clients on`,
    `loopback in another, ${sv.newTokens} new tokens each (sampled, so EOS may end one early). tokens/s = completion tokens of all`,
    'requests ÷ wall time from the first request to the last [DONE], prefill included. The clients share the 2 cores.', '',
    '| clients | completion tokens | wall s | tokens/s | mean time to first token | lost |', '|---:|---:|---:|---:|---:|---:|');
  for (const r of sv.runs) lines.push(`| ${r.clients} | ${r.completionTokens} | ${fmt(r.wallSec, 2)} | ${fmt(r.tokS)} | ${fmt(r.meanTtftMs, 0)} ms | ${r.lost} |`);
  lines.push('', `Best 16-client aggregate / best one-client: **${fmt(sv.speedup16, 2)}×** (target ≥ 3×).`, '');
}

const soak = read('soak');
if (soak) {
  const kinds: [string, string][] = [['stream', 'streaming'], ['whole', 'whole answer'], ['abort', 'stream aborted by the client'], ['bad', 'bad request'], ['burst', 'burst']];
  const n = (kind: string, outcome: string) => soak.outcomes[kind]?.[outcome] ?? 0;
  const m = soak.rssMiB;
  lines.push(`## Soak (${meta(soak)})`, '',
    `\`npm run soak\` (\`bench/soak.ts\`; not part of \`npm run bench\`, as it takes ${fmt(soak.seconds / 60, 0)} minutes): \`qiusuo serve --max-batch ${soak.maxBatch} --max-queue ${soak.maxQueue}\``,
    `on a random \`${soak.preset}\` checkpoint in its own process; in another, ${soak.steadyClients} clients in a loop (40% streaming, 25% whole answers, 15% streams`,
    `aborted after 1–6 chunks, 20% bad requests) and every ${soak.burstEverySec} s a burst of ${soak.burst} requests at once, more than batch + queue hold.`,
    'Server and clients share the VM\'s 2 cores with other work: tokens/s and times to first token move several-fold between runs.', '',
    '| requests | ok | aborted by the client | refused (4xx) | busy (429) | lost | hung |', '|---|---:|---:|---:|---:|---:|---:|');
  for (const [k, label] of kinds) lines.push(`| ${label} | ${n(k, 'ok')} | ${n(k, 'aborted')} | ${n(k, 'refused')} | ${n(k, 'busy')} | ${n(k, 'lost')} | ${n(k, 'hung')} |`);
  const span = (r: [number, number] | null) => (r ? `${fmt(r[0], 0)}–${fmt(r[1], 0)}` : 'n/a');
  lines.push('', `${soak.requests} requests in ${fmt(soak.wallS, 0)} s: **${soak.lost} lost, ${soak.hung} hung**; ${fmt(soak.tokS)} completion tokens/s; time to first token `
    + `(streaming) p50 ${fmt(soak.ttftP50Ms, 0)} ms, p99 ${fmt(soak.ttftP99Ms, 0)} ms.`, '',
    `Server RSS: ${fmt(m.start, 0)} MiB at start. Under load it is a garbage-collection sawtooth (${span(m.loadedFirstFifth)} MiB in the fifth after the`,
    `${fmt(soak.warmupS, 0)}-s warm-up, ${span(m.loadedLastFifth)} MiB in the last fifth; peak ${fmt(m.peak, 0)} MiB), so growth compares RSS at rest (the lowest over 10 s`,
    `without requests): ${fmt(m.restAfterWarmup, 0)} MiB after the warm-up, ${fmt(m.restEnd, 0)} MiB at the end, **${m.growthPct >= 0 ? '+' : ''}${fmt(m.growthPct)}%** (target < 5%).`,
    `Target ${soak.targetMet ? 'met' : '**not met**'}.`, '');
}

const tok = read('tokenizer');
if (tok) {
  lines.push(`## Tokenizer: DeepSeek-V3's tokenizer.json (${meta(tok)})`, '',
    `\`bench/tokenizer.ts\`: encode throughput on seeded mixed text (English, Chinese, code, emoji, digit and whitespace runs),`,
    `${[...new Map((tok.results as { text: string; textMB: number }[]).map((r) => [r.text, r.textMB])).entries()].map(([t, mb]) => `${fmt(mb, 2)} MB "${t}"`).join(' and ')};`,
    `the first pass starts with an empty pre-token cache, warm = best of ${tok.warmRuns}. The bench fails unless the two give the same`,
    'ids, element by element, on every pass.', '',
    '| text | tokenizer | load ms | tokens | MB/s first pass | MB/s warm |', '|---|---|---:|---:|---:|---:|');
  for (const r of tok.results) {
    lines.push(`| ${r.text} | ${r.name} | ${r.loadMs.toFixed(0)} | ${r.tokens} | ${r.coldMBs.toFixed(2)} | ${r.warmMBs.toFixed(2)} |`);
  }
  lines.push('');
}

const sp = read('speculative');
if (sp) {
  interface SRow { model: string; batch: number; arm: string; decode_tok_s: number; speedup: number; ratios: number[];
    acceptance: number | null; acceptance_by_position: number[] | null; accepted_per_step: number | null;
    time_share: { draft: number; verify: number; accept: number } | null; plain_step_ms: number; draft_ms: number | null; verify_ms: number | null }
  const pct = (x: number | null | undefined) => (x === null || x === undefined ? '' : `${(100 * x).toFixed(0)}%`);
  lines.push(`## Speculative decoding with the MTP module (${meta(sp)}${steal(sp)})`, '',
    `\`bench/speculative.ts\`: greedy generation of ${sp.newTokens} tokens from ${sp.promptTokens}-token prompts of held-out Brown documents, on`,
    'the model `npx qiusuo train` produces (nano) and the small preset trained for the same time. Plain decoding and each',
    `speculative setting are timed alternately in ${sp.rounds} rounds after warm-up ones (the tokens are the same in every arm:`,
    'greedy speculation is exact); decode tok/s is the median, the speed-up the median of the per-round ratios to plain',
    'decoding. Acceptance: drafts kept at each draft position; tok/verify: tokens a sequence gains per verify pass. Time',
    'split of the speculative runs: MTP draft phase / main-model verify pass / acceptance, rollback and streaming. Cycle',
    'cost (fixed K): one draft phase plus one verify pass, in plain decode steps; speculation pays when tok/verify exceeds it.', '',
    '| model | batch | decoding | decode tok/s | speed-up (rounds: min–max) | acceptance by position | tok/verify | draft / verify / accept | cycle cost: draft + verify |',
    '|---|---:|---|---:|---:|---|---:|---|---|');
  for (const r of sp.results as SRow[]) {
    const range = r.arm === 'plain' ? '' : ` (${Math.min(...r.ratios).toFixed(2)}–${Math.max(...r.ratios).toFixed(2)})`;
    lines.push(`| ${r.model} | ${r.batch} | ${r.arm} | ${fmt(r.decode_tok_s)} | ${r.arm === 'plain' ? '1.00×' : `**${r.speedup.toFixed(2)}×**${range}`} | `
      + `${r.accepted_per_step ? (r.acceptance_by_position ?? []).map(pct).join(', ') : ''} | ${r.accepted_per_step ? fmt(r.accepted_per_step, 2) : ''} | `
      + `${r.time_share ? `${pct(r.time_share.draft)} / ${pct(r.time_share.verify)} / ${pct(r.time_share.accept)}` : ''} | `
      + `${r.draft_ms !== null && r.verify_ms !== null ? `${fmt(r.draft_ms / r.plain_step_ms, 2)} + ${fmt(r.verify_ms / r.plain_step_ms, 2)}` : ''} |`);
  }
  lines.push('');
}

if (sp?.cost) {
  interface CRow { model: string; ms: Record<string, number>; k1_cycle_steps: number; k2_cycle_steps: number }
  const st = (r: CRow, k: string) => fmt(r.ms[k] / r.ms.plain, 2);
  lines.push('What a cycle costs, with no acceptance involved (same run): one sequence, each part timed in alternating rounds',
    '(median), in plain decode steps. A cycle of K = 1 is a two-token verify pass plus a draft phase (two rows through the MTP',
    'layer, its head on one); K = 2 adds a chained draft and verifies three tokens. Speculation pays when a sequence gains',
    'more tokens per verify pass than its cycle costs: K = 1 needs an acceptance above the cycle cost minus one. The 0.9B',
    'model is random BF16 (459M parameters active, 0.9 GB read per step), the memory-bound case of real checkpoints.', '',
    '| model | plain step | verify 2 / 3 / 4 tokens | draft | chained draft | K=1 cycle (break-even acceptance) | K=2 cycle |',
    '|---|---:|---|---:|---:|---|---:|');
  for (const r of sp.cost as CRow[]) {
    lines.push(`| ${r.model} | ${fmt(r.ms.plain, 2)} ms | ${st(r, 'verify2')} / ${st(r, 'verify3')} / ${st(r, 'verify4')} | ${st(r, 'draft')} | ${st(r, 'chain')} | `
      + `**${fmt(r.k1_cycle_steps, 2)}** (${fmt(100 * (r.k1_cycle_steps - 1), 0)}%) | ${fmt(r.k2_cycle_steps, 2)} |`);
  }
  lines.push('');
}

const fz = read('fuzz');
if (fz) {
  interface FRow { parser: string; cases: number; failures: number; seconds: number; interrupted: boolean }
  const rows = fz.results as FRow[];
  const parserOf = (r: FRow) => r.parser.replace(/ \(.*\)$/, ''); // "config.json (text)" -> "config.json"
  const parsers = [...new Set(rows.map(parserOf))];
  const total = (p: string) => rows.filter((r) => parserOf(r) === p).reduce((n, r) => n + r.cases, 0);
  lines.push(`## Fuzzing (${meta(fz)})`, '',
    `\`npm run fuzz\`: every property of \`test/**/*.fuzz.test.ts\` (fast-check), ${fz.runsTarget.toLocaleString('en-US')} cases or ${fz.secondsPerProperty} s each,`,
    `whichever comes first; seed ${fz.seed}, ${fmt(fz.wallSeconds / 60)} minutes in all. A case passes when the parser accepts the input and`,
    'the result holds what its validator promises, or refuses it with one clean line naming the file, key or field; a case',
    `over 5 s fails as a hang. **${rows.reduce((n, r) => n + r.failures, 0)} failed properties.** Cases per parser: ${parsers.map((p) => `${p} ${total(p).toLocaleString('en-US')}`).join(', ')}.`, '',
    '| property | cases | failures | seconds |', '|---|---:|---:|---:|');
  for (const r of rows) lines.push(`| ${r.parser} | ${r.cases.toLocaleString('en-US')} | ${r.failures} | ${fmt(r.seconds, 0)} |`);
  lines.push('');
}

const rs = read('realsize');
if (rs) {
  interface RRow { batch: number; prefill_tok_s: number; decode_tok_s: number; step_bytes: number }
  interface RRun { model: string; format: string; load_s: number; read_s: number; convert_s: number; weight_bytes: number; arenas: number;
    rss_bytes: number; cache_bytes_b4: number; rows: RRow[] }
  const gib = (n: number) => `${(n / 1024 ** 3).toFixed(2)} GiB`;
  lines.push(`## Real-size models (${meta(rs)}${steal(rs)})`, '',
    '`bench/realsize.ts`: random checkpoints of `moonlight-16b-a3b`\'s shape (BF16 on disk; all 27 layers, 31.9 GB, or 8 layers,',
    '9.6 GB) loaded with a `--weights` format, each in its own process; `stored` keeps BF16, over 4 GiB, in weight arenas. Prompts',
    'of 32 random tokens, 16 decode steps, median of 2 runs. RSS after the runs against the weights plus the batch-4 cache. Step bytes: the',
    'weight bytes one decode step reads (every matrix but the routed experts, plus the experts the tokens choose: 6 per layer',
    'for one token, the expected distinct ones for four); bound: read bandwidth ÷ step bytes × batch. Read bandwidth: one pass',
    `over 1 GiB in wasm on ${rs.cores} threads, best of ${rs.bandwidth_rounds.length}: **${fmt(rs.bandwidth_gbs, 2)} GB/s**.`, '',
    '| model | --weights | weights | arenas | RSS / (weights + cache) | load s (read + convert) | batch | prefill tok/s | decode tok/s | step bytes | bound tok/s | of bound |',
    '|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
  for (const r of rs.results as RRun[]) {
    for (const row of r.rows) {
      const bound = (rs.bandwidth_gbs * 1e9 * row.batch) / row.step_bytes;
      const first = row === r.rows[0];
      lines.push(`| ${first ? r.model : ''} | ${first ? r.format : ''} | ${first ? gib(r.weight_bytes) : ''} | ${first ? r.arenas : ''} | `
        + `${first ? (r.rss_bytes / (r.weight_bytes + r.cache_bytes_b4)).toFixed(2) : ''} | ${first ? `${fmt(r.load_s, 0)} (${fmt(r.read_s, 0)} + ${fmt(r.convert_s, 0)})` : ''} | `
        + `${row.batch} | ${fmt(row.prefill_tok_s)} | ${fmt(row.decode_tok_s, 2)} | ${gib(row.step_bytes)} | ${fmt(bound, 2)} | **${(100 * row.decode_tok_s / bound).toFixed(0)}%** |`);
    }
  }
  lines.push('');
}

const ab = read('ab-small');
if (ab) {
  interface ABRun { side: 'old' | 'new'; round: number; r: { prefill_tok_s: number; decode_tok_s: number } }
  const runs = ab.runs as ABRun[];
  const med = (side: string, k: 'prefill_tok_s' | 'decode_tok_s') => {
    const xs = runs.filter((x) => x.side === side).map((x) => x.r[k]).sort((a, b) => a - b);
    return xs[(xs.length - 1) >> 1];
  };
  lines.push(`## Small models before and after weight arenas (${meta(ab)})`, '',
    `\`bash bench/ab-small.sh OLD MODEL\`: \`bench generate\` on ${ab.model}, the build at ${ab.old} and this one alternating, ${runs.length / 2} rounds; ${ab.note}.`, '',
    '| build | prefill tok/s (median) | decode tok/s (median) |', '|---|---:|---:|',
    `| ${ab.old} | ${fmt(med('old', 'prefill_tok_s'))} | ${fmt(med('old', 'decode_tok_s'))} |`,
    `| this | ${fmt(med('new', 'prefill_tok_s'))} | ${fmt(med('new', 'decode_tok_s'))} |`, '');
}

for (const [file, title] of [['decode-profile', 'small models'], ['decode-profile-realsize', 'a real-size model']] as const) {
  const dp = read(file);
  if (!dp) continue;
  interface Profile { model: string; threads: number; plainTokS: number; usPerToken: number; kinds: Record<string, number> }
  const before = file === 'decode-profile' ? read('decode-profile-before') : null;
  const name = (p: Profile) => p.model.split('/').slice(-2).join('/');
  const twin = (p: Profile): Profile | undefined => (before?.profiles as Profile[] | undefined)?.find((b) => b.model === p.model && b.threads === p.threads);
  lines.push(`## Where a batch-1 decode step goes: ${title} (${meta(dp)}${steal(dp)})`, '',
    `\`bench/decode-profile.ts MODEL...\`: every backend op of a loaded model timed (${dp.tokens} decode steps after a 64-token prompt, median of`,
    `${dp.runs} runs), split into the calling thread's kernel time, the pool's dispatch and wait for its workers, and the JS around them`,
    '(JS overhead: in the ops and between them; the timers themselves add a few tenths of a µs per op). µs per token by kind.',
    before ? `Before: ${before.label ?? 'an earlier build'}, profiled in the same minutes.` : '',
    'A quiet machine flatters 2 threads: while other processes are busy, a worker waits for its time slice and the pool\'s wait',
    'takes over (`bench/decode-ab.ts` alternates builds and thread counts in one process to compare them then).', '',
    `| model | threads | kind | µs/token${before ? ' before | µs/token' : ''} |`, `|---|---:|---|---:${before ? '|---:' : ''}|`);
  for (const p of dp.profiles as Profile[]) {
    const b = twin(p);
    const row = (kind: string, us: number, was: number | undefined) => lines.push(`| ${name(p)} | ${p.threads} | ${kind} |${before ? ` ${fmt(was)} |` : ''} ${fmt(us)} |`);
    row('**tok/s, untimed** (not µs)', p.plainTokS, b?.plainTokS);
    for (const [kind, us] of Object.entries(p.kinds).sort((x, y) => y[1] - x[1])) row(kind, us, b?.kinds[kind]);
  }
  lines.push('');
}

const lc = read('llamacpp');
if (lc) {
  interface Side { threads: number; prefill_tok_s: number; decode_tok_s: number; wall_decode_tok_s?: number }
  interface LRow { model: string; type: string; file_bytes: number; prompt: number; new_tokens: number; rounds: number; together: boolean; qiusuo: Side[]; llamacpp: Side[]; best: Record<string, number> }
  const sides = (xs: Side[]) => xs.map((x) => `${x.threads}t ${fmt(x.decode_tok_s)}`).join(' / ');
  lines.push(`## qiusuo against llama.cpp on the same GGUF (${meta(lc)}${steal(lc)})`, '',
    '`bench/llamacpp.ts`: one GGUF file per model run by both engines at batch 1 (llama.cpp = node-llama-cpp 3.21.1\'s CPU build,',
    'llama.cpp v0.4.0, AVX-512 variant, F32 KV cache, no flash attention), prefill of a random prompt then greedy decode steps;',
    'each engine at 1 and 2 threads, the faster taken; medians over rounds after a warm-up. Small models alternate the engines round by',
    'round in one process (`together`); a real-size model runs one engine at one thread count after another (qiusuo holds its weights',
    'and llama.cpp repacks Q4_0/Q8_0 weights into its own buffers: two copies do not fit 24 GiB). llama.cpp\'s figures are its own counters',
    '(time inside llama_decode); qiusuo\'s are wall time around its JavaScript. Target: decode ≥ 0.8× llama.cpp (≥ 1.0× at real size).', '',
    '| model | GGUF | file | prompt + new | rounds | qiusuo decode tok/s (threads) | llama.cpp decode tok/s (threads) | decode ratio | qiusuo prefill | llama.cpp prefill | prefill ratio |',
    '|---|---|---:|---:|---|---|---|---:|---:|---:|---:|');
  for (const r of lc.results as LRow[]) {
    lines.push(`| ${r.model} | ${r.type} | ${(r.file_bytes / 2 ** 20).toFixed(0)} MiB | ${r.prompt} + ${r.new_tokens} | ${r.rounds}${r.together ? ', together' : ', apart'} | ${sides(r.qiusuo)} | ${sides(r.llamacpp)} | `
      + `**${r.best.decode_ratio.toFixed(2)}×** | ${fmt(r.best.qiusuo_prefill, 0)} | ${fmt(r.best.llamacpp_prefill, 0)} | ${r.best.prefill_ratio.toFixed(2)}× |`);
  }
  lines.push('');
}

const qe = read('quant-error');
if (qe) {
  interface QRow { model: string; format: string; top1: number; kl: number; val_ce: number }
  lines.push(`## What the compact formats cost in accuracy (${meta(qe)})`, '',
    `\`bench/quant-error.ts\`: next-token distributions over ${qe.windows} held-out Brown windows of ${qe.window} tokens, each format against the same`,
    'trained checkpoint at `--weights bf16`: top-1 agreement, mean KL(bf16 ‖ format) per token (nats), and validation cross-entropy.', '',
    '| model | --weights | top-1 agreement | KL | val cross-entropy |', '|---|---|---:|---:|---:|');
  for (const r of qe.results as QRow[]) lines.push(`| ${r.model} | ${r.format} | ${(100 * r.top1).toFixed(1)}% | ${r.kl.toExponential(1)} | ${r.val_ce.toFixed(4)} |`);
  lines.push('');
}

writeFileSync('BENCHMARKS.md', lines.join('\n'));
console.log('\nwrote BENCHMARKS.md');
