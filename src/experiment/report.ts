// A suite's report: report.json (the shape tools read: experiment, runs, claims), report.md (the claims table, the
// arms' numbers with their seed spread, the charts, the commands, the machine) and the SVG charts beside them.
// Every file is written temp-then-rename.

import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { writeFileAtomically, writeJsonAtomically } from '../weights/safetensors.js';
import type { ArmRecord } from './arm.js';
import type { SuiteSpec } from './suites.js';
import type { Claim } from './claims.js';
import type { Curves, Point } from './curves.js';
import { armValue, show } from './seeds.js';
import { lineChart, heatmaps, barChart } from './charts.js';

export interface ReportInput {
  suite: SuiteSpec;
  records: (ArmRecord & { dir: string })[];   // dir relative to the suite folder
  claims: Claim[];
  curves: Curves;
  command: string;
  steps: number;
  seeds: number;
  baseAbout: string;
}

interface Chart { file: string; caption: string; svg: string }

export async function writeReport(suiteDir: string, r: ReportInput): Promise<void> {
  fs.mkdirSync(suiteDir, { recursive: true });
  const charts = await chartsFor(r);
  for (const c of charts) writeFileAtomically(path.join(suiteDir, c.file), (fd) => fs.writeSync(fd, c.svg));
  writeJsonAtomically(path.join(suiteDir, 'report.json'), {
    experiment: r.suite.name, command: r.command, machine: machine(), date: new Date().toISOString(), steps: r.steps, seeds: r.seeds,
    runs: r.records, claims: r.claims.map(({ claim, paper, ours, holds }) => ({ claim, paper, ours, holds })),
  });
  writeFileAtomically(path.join(suiteDir, 'report.md'), (fd) => fs.writeSync(fd, markdown(r, charts)));
}

export function machine(): string {
  const cpus = os.cpus();
  return `${cpus[0]?.model.trim() ?? 'unknown CPU'}, ${cpus.length} cores, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}, ${os.platform()}`;
}

const holdsText = (c: Claim) => (c.measurement ? 'a measurement' : c.holds === true ? '**holds**' : c.holds === false ? '**does not hold** at this scale'
  : 'inconclusive: no difference beyond the seed spread');

function markdown(r: ReportInput, charts: Chart[]): string {
  const arms = [...new Set(r.records.map((x) => `${x.arm}|${x.budget}`))].map((k) => k.split('|') as [string, ArmRecord['budget']]);
  const v = (arm: string, budget: ArmRecord['budget'], f: (x: ArmRecord) => number | null, d = 3) => show(armValue(r.records, arm, f, budget), d);
  const mv = (x: ArmRecord) => (x.maxvio_global.length ? x.maxvio_global.reduce((a, y) => a + y, 0) / x.maxvio_global.length : null);
  const lines = [
    `# ${r.suite.title}: \`qiusuo experiment ${r.suite.name}\``,
    '',
    `Every arm trains the same model from the same initialisation on the same data order for ${r.steps} optimizer steps ` +
    `(${r.seeds === 1 ? 'seed 0' : `seeds 0–${r.seeds - 1}`}); only the setting in the table below differs. Base: ${r.baseAbout}.`,
    '',
    '| claim | paper | ours | at this scale |',
    '|---|---|---|---|',
    ...r.claims.map((c) => `| ${c.claim} | ${c.paper} | ${c.ours} | ${holdsText(c)} |`),
    '',
    r.seeds > 1 ? `Values are means over ${r.seeds} seeds ± their standard deviation. A seed fixes the data split, tokenizer, initialisation and data order, so differences are taken seed by seed; a claim holds or fails only when the mean difference is larger than the spread of those paired differences.`
      : 'One seed: differences are shown without a seed spread, so small ones may be noise (run with `--seeds 3` to measure it).',
    '',
    '| arm | setting | steps | val loss | val bits/byte | MaxVio_global | MaxVio_batch (end) | specialization | MTP agreement | tokens/s | active / total params |',
    '|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
    ...arms.map(([arm, budget]) => {
      const about = r.suite.arms.find((a) => a.arm === arm)?.about ?? '';
      const first = r.records.find((x) => x.arm === arm && x.budget === budget)!;
      return `| ${arm}${budget === 'equal-time' ? ' (equal time)' : ''} | ${about} | ${v(arm, budget, (x) => x.steps, 0)} | ${v(arm, budget, (x) => x.val_loss, 4)} | ${v(arm, budget, (x) => x.val_bpb, 4)} | ` +
        `${v(arm, budget, mv)} | ${v(arm, budget, (x) => x.maxvio_batch_final)} | ${v(arm, budget, (x) => x.specialization, 4)} | ${v(arm, budget, (x) => x.mtp_agreement)} | ` +
        `${v(arm, budget, (x) => x.tok_s, 0)} | ${(first.active_params / 1e6).toFixed(2)}M / ${(first.params / 1e6).toFixed(2)}M |`;
    }),
    '',
    ...charts.flatMap((c) => [`![${c.caption}](${c.file})`, '', `*${c.caption}*`, '']),
    '## How this was made',
    '',
    `- Command: \`${r.command}\``,
    `- Machine: ${machine()}; ${new Date().toISOString().slice(0, 10)}.`,
    '- Validation loss and bits/byte: the main head on the first held-out windows; MaxVio_global: (max − mean)/mean expert load over those windows, mean over MoE layers; ' +
    'MaxVio_batch: the same per training batch; specialization: mean over layers of the mean over Brown genres of KL(genre load ‖ overall load), in nats; ' +
    'MTP agreement: how often the MTP module\'s greedy token equals the main model\'s next one. Sources of the paper numbers: `../shared/docs/paper-claims.md`.',
    `- Arms' run folders (metrics.jsonl, checkpoints): ${[...new Set(r.records.map((x) => `\`${x.dir}\``))].join(', ')}. Compare them live with \`qiusuo dashboard --experiment ${r.suite.name}\` from the output folder.`,
    '',
  ];
  return lines.join('\n');
}

async function chartsFor(r: ReportInput): Promise<Chart[]> {
  const c = r.curves, arms = r.suite.arms.map((a) => a.arm).filter((a) => c.has(a));
  const series = (f: (arm: string) => Point[], names = arms) => names.map((a) => ({ name: a, points: f(a) })).filter((s) => s.points.length > 0);
  const out: Chart[] = [];
  const line = async (file: string, caption: string, spec: Parameters<typeof lineChart>[0]) => {
    if (spec.series.length > 0) out.push({ file, caption, svg: await lineChart(spec) });
  };
  await line('val-bpb.svg', 'Validation bits per byte over training', { title: 'Validation bits/byte', xTitle: 'step', yTitle: 'bits/byte', series: series((a) => c.valBpb(a)) });
  if (r.suite.name === 'balance' || r.suite.name === 'gamma') {
    await line('maxvio-batch.svg', 'MaxVio_batch per step (mean over MoE layers)', { title: 'MaxVio_batch', xTitle: 'step', yTitle: '(max − mean) / mean load', series: series((a) => c.maxVioBatch(a)) });
  }
  if (r.suite.name === 'balance') {
    const bars = arms.map((a) => armValue(r.records, a, (x) => x.specialization)).map((s, i) => ({ name: arms[i]!, value: s?.mean ?? NaN, ...(s?.sd ? { error: s.sd } : {}) })).filter((b) => Number.isFinite(b.value));
    if (bars.length > 0) out.push({ file: 'specialization.svg', caption: 'Specialization: mean KL divergence of per-genre expert load from the overall load', svg: await barChart({ title: 'Expert specialization by Brown genre', yTitle: 'KL (nats)', bars }) });
    for (const a of arms) {
      const rec = r.records.find((x) => x.arm === a && x.genre_loads);
      if (!rec?.genre_loads) continue;
      const g = rec.genre_loads;
      out.push({
        file: `genre-load-${a}.svg`, caption: `Expert load per Brown genre, ${a} (seed ${rec.seed}): load / balanced load, one panel per MoE layer`,
        svg: await heatmaps({
          title: `${a}: expert load per genre`, rowTitle: 'genre', colTitle: 'expert', rows: g.genres, cols: g.layers[0]![0]!.map((_, e) => String(e)),
          panels: g.layers.map((values, l) => ({ name: `MoE layer ${l + 1}`, values })), colorTitle: 'load / balanced', domain: [0, 3], midpoint: 1,
        }),
      });
    }
  }
  if (r.suite.name === 'mtp' || r.suite.name === 'precision') {
    await line('train-loss.svg', 'Main-head training loss per step', { title: 'Training loss (main head)', xTitle: 'step', yTitle: 'nats/token', series: series((a) => c.trainLoss(a)) });
  }
  if (r.suite.name === 'precision') {
    await line('relative-error.svg', 'Relative training-loss error against bf16 (EMA 0.9), as the paper\'s Figure 10', {
      title: 'Relative loss error vs BF16', xTitle: 'step', yTitle: '|L − L_bf16| / L_bf16', logY: true,
      series: series((a) => c.relativeErrorCurve(a).filter((p) => p[1] > 0), arms.filter((a) => a !== 'bf16')),
    });
  }
  if (r.suite.name === 'moe-vs-dense') {
    const timed = [...arms, ...arms.map((a) => `${a}@time`).filter((a) => c.has(a))];
    await line('val-bpb-time.svg', 'Validation bits per byte against training time (equal-time runs marked @time)', { title: 'Validation bits/byte by time', xTitle: 'training seconds', yTitle: 'bits/byte', series: series((a) => c.valBpbByTime(a), timed) });
  }
  return out;
}
