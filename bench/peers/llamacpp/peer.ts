// llama.cpp as a second engine for qiusuo's cross-checks and bench/llamacpp.ts: a GGUF opened through node-llama-cpp's
// CPU prebuilt, with next-token probabilities, greedy generation and prefill/decode timings. node-llama-cpp is imported
// at run time from this folder's own node_modules (scripts/ensure-llamacpp.mjs), so qiusuo never depends on it; the
// few parts used are typed below. Leaves out sampling other than greedy, GPUs, and anything chat-shaped.

import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
// @ts-expect-error: a plain .mjs build script without type declarations
import { ensureLlamaCpp } from '../../../scripts/ensure-llamacpp.mjs';

/** What is read from a context sequence's output at one position (node-llama-cpp's ControlledEvaluateIndexOutput). */
interface IndexOutput { next: { probabilities?: Map<number, number> } }
type ControlledInput = [token: number, options: { generateNext: { probabilities: true } }];

interface Sequence {
  clearHistory(): Promise<void>;
  controlledEvaluate(input: ControlledInput[]): Promise<Array<IndexOutput | undefined>>;
  evaluate(tokens: number[], options: { temperature: 0; yieldEogToken: true }): AsyncGenerator<number, void, void>;
}
interface Context {
  getSequence(): Sequence;
  printTimings(): Promise<void>;
  dispose(): Promise<void>;
}
interface ContextOptions {
  contextSize: number;
  threads: number;
  batchSize: number;
  flashAttention: false;
  experimentalKvCacheKeyType: 'F32';
  experimentalKvCacheValueType: 'F32';
  performanceTracking: true;
}
interface Model {
  tokenize(text: string, specialTokens?: boolean): number[];
  createContext(options: ContextOptions): Promise<Context>;
  dispose(): Promise<void>;
}
type LogLevel = 'disabled' | 'fatal' | 'error' | 'warn' | 'info' | 'log' | 'debug';
interface Llama {
  readonly llamaCppRelease: { repo: string; release: string };
  readonly buildType: 'localBuild' | 'prebuilt';
  readonly gpu: string | false;
  readonly systemInfo: string;
  loadModel(options: { modelPath: string; gpuLayers: 0 }): Promise<Model>;
  dispose(): Promise<void>;
}
interface NodeLlamaCpp {
  getLlama(options: {
    gpu: false; build: 'never'; maxThreads: number; logLevel: LogLevel;
    logger: (level: LogLevel, message: string) => void;
  }): Promise<Llama>;
}

/** Which llama.cpp got loaded: the release bundled with node-llama-cpp and how its binary was obtained. */
export interface LlamaCppBuild { release: string; buildType: string; gpu: string | false; systemInfo: string }

export interface PrefillDecodeTimes {
  /** llama.cpp's own counters (llama_perf_context): time inside llama_decode for the prompt batch, and for the
   *  one-token decode steps; no JavaScript, sampling or N-API overhead. */
  prefillMs: number;
  decodeMs: number;
  /** Wall-clock as node-llama-cpp's caller sees it: prompt → first token, first → last token (sampling included). */
  wallPrefillMs: number;
  wallDecodeMs: number;
  promptTokens: number;
  decodeSteps: number;
}

export interface LlamaCppPeer {
  readonly build: LlamaCppBuild;
  tokenize(text: string, specialTokens?: boolean): number[];
  /** For each position i of `ids`, the distribution of the token after ids[0..i] (float32 softmax over the whole
   *  vocabulary, sorted most likely first; tiny probabilities underflow to absent or 0). */
  nextTokenProbabilities(ids: number[]): Promise<Map<number, number>[]>;
  /** Exactly `n` argmax tokens after `ids`; end-of-generation tokens are included and generation goes on past them. */
  greedy(ids: number[], n: number): Promise<number[]>;
  /** Prefills `promptIds`, then takes `newTokens` one-token decode steps, greedily. */
  timeRun(promptIds: number[], newTokens: number): Promise<PrefillDecodeTimes>;
  dispose(): Promise<void>;
}

export interface LlamaCppOptions {
  threads: number;
  contextSize: number;
  /** node-llama-cpp's folder; by default QIUSUO_LLAMACPP (set by npm test), else the peer folder, installed if needed. */
  libraryDir?: string;
}

/** llama.cpp's log lines (info and up): errors explain failed loads, and printTimings' lines carry the timings. */
class LogLines {
  lines: string[] = [];
  readonly record = (level: LogLevel, message: string): void => { this.lines.push(`${level}: ${message}`); };
  /** The last error and warning lines, to append to an error message (node-llama-cpp's own checks log nothing). */
  complaints(): string {
    const said = this.lines.filter((l) => /^(fatal|error|warn)/.test(l)).slice(-8);
    return said.length === 0 ? '' : `; llama.cpp's log: ${said.join(' | ')}`;
  }
}

async function importNodeLlamaCpp(libraryDir: string | undefined): Promise<NodeLlamaCpp> {
  const dir: string = libraryDir ?? process.env.QIUSUO_LLAMACPP ?? ensureLlamaCpp();
  try {
    return await import(pathToFileURL(join(dir, 'dist', 'index.js')).href) as NodeLlamaCpp;
  } catch (e) {
    throw new Error(`cannot load node-llama-cpp from ${dir}: ${(e as Error).message} (reinstall: rm -rf bench/peers/llamacpp/node_modules, then npm test)`);
  }
}

/** Starts llama.cpp's CPU prebuilt; never builds from source or downloads, never touches a GPU. */
async function startLlama(threads: number, log: LogLines, libraryDir?: string): Promise<Llama> {
  const { getLlama } = await importNodeLlamaCpp(libraryDir);
  return getLlama({ gpu: false, build: 'never', maxThreads: threads, logLevel: 'info', logger: log.record });
}

/**
 * The one llama.cpp instance that opened models share, kept for the life of the process: its log callback is
 * process-wide in llama.cpp, and a second instance (even after the first was disposed) sent its timings to the
 * console instead of its logger. Each model's context sets its own thread count.
 */
const shared = new Map<string, { llama: Promise<Llama>; log: LogLines }>();

function acquireLlama(libraryDir?: string): { llama: Promise<Llama>; log: LogLines } {
  const key = libraryDir ?? '';
  let one = shared.get(key);
  if (!one) {
    const log = new LogLines();
    one = { llama: startLlama(availableParallelism(), log, libraryDir), log };
    shared.set(key, one);
    one.llama.catch(() => shared.delete(key));
  }
  return one;
}

function describe(llama: Llama): LlamaCppBuild {
  return { release: llama.llamaCppRelease.release, buildType: llama.buildType, gpu: llama.gpu, systemInfo: llama.systemInfo };
}

/** Loads node-llama-cpp's llama.cpp binary without a model and says which one it is. */
export async function llamaCppBuild(options: { libraryDir?: string } = {}): Promise<LlamaCppBuild> {
  return describe(await acquireLlama(options.libraryDir).llama);
}

/** `llama_perf_context_print`'s "<label> time = X ms / N tokens|runs" line. */
function perfLine(lines: string[], label: string): { ms: number; count: number } {
  const re = new RegExp(`:\\s+${label} time =\\s*([0-9.]+) ms /\\s*(\\d+) (?:tokens|runs)`);
  for (const line of lines) {
    const m = re.exec(line);
    if (m) return { ms: Number(m[1]), count: Number(m[2]) };
  }
  throw new Error(`llama.cpp printed no "${label} time" line; it printed: ${lines.join(' | ').slice(0, 500)}`);
}

/** Opens `ggufPath` in llama.cpp with exact settings: F32 KV cache, no flash attention, CPU only. */
export async function openLlamaCpp(ggufPath: string, options: LlamaCppOptions): Promise<LlamaCppPeer> {
  const { llama: starting, log } = acquireLlama(options.libraryDir);
  const llama = await starting;
  let model: Model;
  let context: Context;
  try {
    model = await llama.loadModel({ modelPath: ggufPath, gpuLayers: 0 });
  } catch (e) {
    throw new Error(`llama.cpp cannot load ${ggufPath}: ${(e as Error).message}${log.complaints()}`);
  }
  try {
    context = await model.createContext({
      contextSize: options.contextSize, threads: options.threads,
      // One batch holds a whole prompt, so the prefill is one llama_decode as in qiusuo.
      batchSize: options.contextSize,
      flashAttention: false, experimentalKvCacheKeyType: 'F32', experimentalKvCacheValueType: 'F32',
      performanceTracking: true,
    });
  } catch (e) {
    await model.dispose();
    throw new Error(`llama.cpp loaded ${ggufPath} but cannot make a context: ${(e as Error).message}${log.complaints()}`);
  }
  const sequence = context.getSequence();

  async function greedy(ids: number[], n: number): Promise<number[]> {
    await sequence.clearHistory();
    const out: number[] = [];
    if (n <= 0) return out;
    for await (const token of sequence.evaluate(ids, { temperature: 0, yieldEogToken: true })) {
      out.push(token);
      if (out.length === n) break;
    }
    return out;
  }

  return {
    build: describe(llama),
    tokenize: (text, specialTokens) => model.tokenize(text, specialTokens),

    async nextTokenProbabilities(ids) {
      await sequence.clearHistory();
      const results = await sequence.controlledEvaluate(ids.map((t): ControlledInput => [t, { generateNext: { probabilities: true } }]));
      return ids.map((_, i) => {
        const probabilities = results[i]?.next.probabilities;
        if (probabilities === undefined) throw new Error(`llama.cpp returned no probabilities at position ${i} of ${ids.length}`);
        return probabilities;
      });
    },

    greedy,

    async timeRun(promptIds, newTokens) {
      await sequence.clearHistory();
      await context.printTimings(); // resets llama.cpp's counters
      log.lines = [];
      const start = performance.now();
      let firstToken = start;
      let produced = 0;
      for await (const _ of sequence.evaluate(promptIds, { temperature: 0, yieldEogToken: true })) {
        if (produced++ === 0) firstToken = performance.now();
        if (produced === newTokens + 1) break; // the first token comes from the prefill; each later one is a decode step
      }
      const end = performance.now();
      await context.printTimings();
      const prefill = perfLine(log.lines, 'prompt eval');
      const decode = perfLine(log.lines, 'eval');
      if (prefill.count !== promptIds.length || decode.count !== newTokens) {
        throw new Error(`llama.cpp counted ${prefill.count} prompt tokens and ${decode.count} decode steps, expected ${promptIds.length} and ${newTokens}`);
      }
      return {
        prefillMs: prefill.ms, decodeMs: decode.ms,
        wallPrefillMs: firstToken - start, wallDecodeMs: end - firstToken,
        promptTokens: promptIds.length, decodeSteps: newTokens,
      };
    },

    async dispose() {
      await context.dispose();
      await model.dispose();
    },
  };
}
