// `qiusuo experiment NAME|all` and `qiusuo experiment list`: the paper's design claims re-measured by ablation suites
// (src/experiment/). One progress line per evaluation (a bar on a terminal), Ctrl-C stops after saving the arm's
// checkpoint, and the same command resumes.

import { Command } from 'commander';
import cliProgress from 'cli-progress';
import { intOption, stopOnCtrlC } from './options.js';
import { runExperiment, scaleOf } from '../experiment/run.js';
import { Interrupted } from '../experiment/arm.js';
import { suites, estimateSeconds } from '../experiment/suites.js';
import type { TrainEvents } from '../train/trainer.js';

const minutes = (s: number) => (s < 90 ? `${Math.round(s)} s` : `${Math.round(s / 60)} min`);

export function addExperimentCommands(program: Command): void {
  const experiment = program.command('experiment')
    .description('re-measure DeepSeek-V3\'s design claims with ablation suites on the Brown corpus: balance, gamma, mtp, precision, moe-vs-dense, or all')
    .argument('<name>', 'a suite (see `qiusuo experiment list`), or "all"')
    .option('--out <dir>', 'output folder: DIR/NAME/report.md, report.json and charts; DIR/arms holds the runs', 'experiments')
    .option('--steps <n>', 'optimizer steps per arm (default: sized to the estimate in `experiment list`)', intOption('--steps', 2))
    .option('--seeds <n>', 'repeat every arm with seeds 0..n−1 and report the spread', intOption('--seeds', 1, 100), 1)
    .option('--quick', 'a tiny model for a few steps: checks the machinery, measures nothing')
    .option('--threads <n>', 'compute threads', intOption('--threads', 1, 256))
    .action(async (name: string, o) => {
      if (name === 'list') return list(!!o.quick, o.steps, o.seeds);
      const stop = stopOnCtrlC('saving the arm\'s checkpoint');
      try {
        const command = `qiusuo experiment ${process.argv.slice(3).join(' ')}`;
        const dirs = await runExperiment(name, { out: o.out, steps: o.steps, seeds: o.seeds, quick: !!o.quick, threads: o.threads, command }, {
          log: (m) => process.stdout.write(`${m}\n`),
          warn: (m) => process.stderr.write(`qiusuo: warning: ${m}\n`),
          arm: (a) => armProgress(`[${a.suite} ${a.index}/${a.of}] ${a.arm} · seed ${a.seed}`),
        }, stop.signal);
        process.stdout.write(`reports: ${dirs.map((d) => `${d}/report.md`).join(', ')}\n`);
      } catch (e) {
        if (e instanceof Interrupted) { process.stderr.write(`qiusuo: ${e.message}\n`); process.exitCode = 130; return; }
        throw e;
      } finally {
        stop.release();
      }
    });
  experiment.addHelpText('after', '\nSuites and their estimated time: qiusuo experiment list');
}

function list(quick: boolean, steps: number | undefined, seeds: number): void {
  const scale = scaleOf({ quick });
  const n = steps ?? scale.steps;
  let all = 0;
  const lines = suites(scale).map((s, i) => {
    all += estimateSeconds(s, scale, n, seeds, quick, i > 0);
    const arms = s.arms.map((a) => a.arm).join(', ') + (s.equalTime ? `; ${s.equalTime.arms.join(', ')} again at equal time` : '');
    return `${s.name.padEnd(13)} ~${minutes(estimateSeconds(s, scale, n, seeds, quick)).padEnd(7)} ${s.title}: ${arms}`;
  });
  process.stdout.write(`${lines.join('\n')}\n${'all'.padEnd(13)} ~${minutes(all).padEnd(7)} the five suites, sharing the base arm\n` +
    `(${n} steps per arm, ${seeds} seed${seeds === 1 ? '' : 's'}, estimates for 2 cores)\n`);
}

/** A progress bar per arm on a terminal; otherwise one line per evaluation. */
function armProgress(label: string): TrainEvents {
  const tty = process.stdout.isTTY === true;
  const bar = tty ? new cliProgress.SingleBar({ format: `${label} |{bar}| step {value}/{total} loss {loss} val bpb {bpb} | {tps} tok/s`, hideCursor: true }, cliProgress.Presets.shades_classic) : null;
  let bpb = '–';
  return {
    log: () => {},
    warn: (m) => { bar?.stop(); process.stderr.write(`qiusuo: warning: ${m}\n`); },
    start: (i) => { process.stdout.write(`${label}: ${(i.activeParams / 1e6).toFixed(2)}M active of ${(i.params / 1e6).toFixed(2)}M parameters${i.startStep > 0 ? `, resuming at step ${i.startStep}` : ''}\n`); bar?.start(i.totalSteps, i.startStep, { loss: '–', bpb, tps: '–' }); },
    step: (m) => {
      if (m.valBpb !== undefined) bpb = m.valBpb.toFixed(3);
      if (bar) { bar.update(m.step, { loss: m.ce.toFixed(3), bpb, tps: m.tokensPerSec.toFixed(0) }); if (m.step === m.totalSteps) bar.stop(); }
      else if (m.valBpb !== undefined) process.stdout.write(`${label}: step ${m.step}/${m.totalSteps} loss ${m.ce.toFixed(3)} val bpb ${bpb} ${m.tokensPerSec.toFixed(0)} tok/s\n`);
    },
  };
}
