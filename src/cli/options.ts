// Option parsers that turn strings into typed values (each failing with a message that names the option), and the
// option groups several commands share (--threads/--kernels/--weights, config warnings).

import { InvalidArgumentError, Option, type Command } from 'commander';
import cliProgress from 'cli-progress';
import type { KernelsKind } from '../kernels/select.js';
import type { LoadOptions } from '../model/transformer.js';
import type { WeightFormat } from '../model/weight-format.js';
import { WEIGHT_FORMATS } from '../model/weight-format.js';

export function intOption(name: string, min: number, max = Number.MAX_SAFE_INTEGER) {
  return (v: string): number => {
    const n = Number(v);
    if (!/^-?\d+$/.test(v.trim()) || !Number.isSafeInteger(n) || n < min || n > max) {
      throw new InvalidArgumentError(`${name} must be an integer in [${min}, ${max === Number.MAX_SAFE_INTEGER ? '∞' : max}], got "${v}"`);
    }
    return n;
  };
}

/** A number in [min, max], or in (min, max] when minExclusive. */
export function floatOption(name: string, min: number, max: number, minExclusive = false) {
  return (v: string): number => {
    const n = Number(v);
    const low = minExclusive ? n <= min : n < min;
    if (v.trim() === '' || !Number.isFinite(n) || low || n > max) {
      throw new InvalidArgumentError(`${name} must be a number in ${minExclusive ? '(' : '['}${min}, ${max}], got "${v}"`);
    }
    return n;
  };
}

/** "0,5,17" → [0, 5, 17]. */
export function tokenList(v: string): number[] {
  const parts = v.split(',').map((p) => p.trim());
  if (parts.length === 0 || parts.some((p) => !/^\d+$/.test(p))) {
    throw new InvalidArgumentError(`--tokens must be comma-separated non-negative integers, got "${v}"`);
  }
  return parts.map(Number);
}

/** "key=json" pairs for config overrides: --set q_lora_rank=null --set rope_scaling=null. */
export function setOption(v: string, acc: Record<string, unknown> = {}): Record<string, unknown> {
  const eq = v.indexOf('=');
  if (eq <= 0) throw new InvalidArgumentError(`--set takes key=value (value in JSON), got "${v}"`);
  const key = v.slice(0, eq), raw = v.slice(eq + 1);
  try { acc[key] = JSON.parse(raw); } catch { acc[key] = raw; }
  return acc;
}

/** --threads and --kernels, for every command that computes; --weights too for those that load a model. */
export function computeOptions(c: Command): Command {
  return c
    .option('--threads <n>', 'compute threads (default: QIUSUO_THREADS, else one per core)', intOption('--threads', 1, 256))
    .addOption(new Option('--kernels <kind>', 'wasm SIMD kernels or the plain TypeScript reference kernels').choices(['wasm', 'ref']));
}

export function modelOptions(c: Command): Command {
  return computeOptions(c)
    .addOption(new Option('--weights <format>', 'weights in memory: as stored, or bf16, fp8 (E4M3, 128×128 block scales), q8 (Q8_0), q4 (Q4_0; heads Q8_0)')
      .choices([...WEIGHT_FORMATS]).default('stored'));
}

/** How a command loads its model: backend, weight format, and a progress bar on a terminal for large checkpoints. */
export function loadOptions(o: { threads?: number; kernels?: string; weights?: string }): LoadOptions {
  return {
    threads: o.threads, kernels: o.kernels as KernelsKind | undefined, weights: o.weights as WeightFormat | undefined, onProgress: loadProgress(),
    onFallback: (message) => process.stderr.write(`qiusuo: warning: ${message}\n`),
  };
}

/** Checkpoints smaller than this load too fast for a progress bar. */
const PROGRESS_BYTES = 256 << 20;

/** A progress callback drawing bytes read, rate and ETA on stderr (when it is a terminal), removed when done. */
function loadProgress(): ((read: number, total: number) => void) | undefined {
  if (!process.stderr.isTTY) return undefined;
  let bar: cliProgress.SingleBar | null = null;
  const started = performance.now();
  const gb = (n: number) => (n / 1e9).toFixed(2);
  return (read, total) => {
    if (total < PROGRESS_BYTES) return;
    if (!bar) {
      bar = new cliProgress.SingleBar({ stream: process.stderr, format: 'loading |{bar}| {read}/{all} GB | {rate} GB/s | ETA {eta_formatted}', hideCursor: true, clearOnComplete: true, etaBuffer: 50 },
        cliProgress.Presets.shades_classic);
      bar.start(total, 0, { read: gb(0), all: gb(total), rate: '0.00' });
    }
    bar.update(read, { read: gb(read), rate: (read / 1e6 / Math.max(1, performance.now() - started)).toFixed(2) });
    if (read >= total) bar.stop();
  };
}

/** Config keys we do not use are not fatal (newer exporters add some), but the user should know. */
export function warnUnknownKeys(dir: string, cfg: { unknownKeys: string[] }): void {
  for (const k of cfg.unknownKeys) process.stderr.write(`qiusuo: warning: ${dir}/config.json: ignoring unknown key "${k}"\n`);
}

/** --speculative and --draft-tokens, for every command that generates. */
export function speculativeOptions(c: Command): Command {
  return c
    .option('--speculative', 'self-speculative decoding: the MTP module drafts, the main model verifies (same output when greedy)')
    .option('--draft-tokens <n>', 'most tokens drafted per step with --speculative (more than 1 chains the MTP module; default 1)', intOption('--draft-tokens', 1));
}

/** The Generator's speculative settings from those flags (undefined without --speculative). */
export function speculativeSettings(o: { speculative?: boolean; draftTokens?: number }): { draftTokens: number } | undefined {
  if (o.draftTokens !== undefined && !o.speculative) throw new Error('--draft-tokens needs --speculative');
  return o.speculative ? { draftTokens: o.draftTokens ?? 1 } : undefined;
}

/**
 * Ctrl-C as a request to stop cleanly: the first aborts the returned signal (the work saves and returns), saying
 * `saving` on stderr; a second quits at once. Call release() when the work is done.
 */
export function stopOnCtrlC(saving: string): { signal: AbortSignal; release(): void } {
  const controller = new AbortController();
  const onSigint = () => {
    if (controller.signal.aborted) process.exit(130);
    controller.abort();
    process.stderr.write(`\nqiusuo: stopping: ${saving} (Ctrl-C again to quit without saving)\n`);
  };
  process.on('SIGINT', onSigint);
  return { signal: controller.signal, release: () => process.off('SIGINT', onSigint) };
}
