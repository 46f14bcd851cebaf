// `qiusuo serve` (the OpenAI-compatible API, the web chat, optionally a run's dashboard and speculative decoding)
// and `qiusuo dashboard` (a training run's charts alone, or several runs' compared: --run repeated, or --experiment). Both take the API key and the limits against slow clients;
// listening beyond loopback without a key prints a warning. SIGTERM or Ctrl-C closes gracefully: stop accepting,
// let running requests finish within --shutdown-grace, exit 0; a second signal stops at once.

import { Option, type Command } from 'commander';
import type { AddressInfo } from 'node:net';
import { intOption, floatOption, modelOptions, loadOptions, warnUnknownKeys, speculativeOptions, speculativeSettings } from './options.js';
import { Engine, ENGINE_DEFAULTS } from '../server/engine.js';
import type { SpeculativeOptions } from '../generate/engine.js';
import { QiusuoServer, DEFAULT_MAX_BODY_BYTES } from '../server/http.js';
import { DEFAULT_LIMITS, type ServerLimits } from '../server/limits.js';
import { validateApiKey } from '../server/auth.js';
import { runSetFromDirs, runSetFromSuite, type RunSet } from '../server/run-set.js';

export function addServeCommands(program: Command): void {
  const d = ENGINE_DEFAULTS;
  const serve = speculativeOptions(modelOptions(program.command('serve')))
    .description('serve a model behind an OpenAI-compatible API (/v1/chat/completions, /v1/completions) with a web chat at /')
    .requiredOption('--model <path>', 'checkpoint folder or .gguf file');
  listenOptions(serve, 8000)
    .option('--model-name <id>', 'model id clients send (default: the folder or file name)')
    .option('--max-batch <n>', 'sequences decoded together', intOption('--max-batch', 1, 1024), d.maxBatch)
    .option('--max-queue <n>', 'requests waiting for a slot before answering 429', intOption('--max-queue', 0), d.maxQueue)
    .option('--context <n>', 'prompt + completion tokens per request (capped by max_position_embeddings)', intOption('--context', 2), d.context)
    .option('--max-tokens <n>', 'the most completion tokens a request may ask for', intOption('--max-tokens', 1), d.maxTokens)
    .option('--max-body-bytes <n>', 'largest request body', intOption('--max-body-bytes', 1024), DEFAULT_MAX_BODY_BYTES)
    .option('--run <dir>', 'also show this training run at /dashboard (repeat to compare runs)', collect, [])
    .option('--experiment <dir>', 'also compare the runs of this experiment at /dashboard (the folder holding its suite.json)')
    .option('--shutdown-grace <s>', 'seconds running requests get to finish on SIGTERM', floatOption('--shutdown-grace', 0, 3600), 10)
    .option('--quiet', 'no per-request log lines')
    .action(async (o, cmd: Command) => {
      const runs = runSetOf(o);
      const apiKey = apiKeyOf(o, cmd);
      const limits = limitsOf(o);
      const speculative = speculativeOf(o);
      const engine = Engine.load(o.model, {
        ...loadOptions(o), maxBatch: o.maxBatch, maxQueue: o.maxQueue, context: o.context, maxTokens: o.maxTokens, modelName: o.modelName, speculative,
      });
      warnUnknownKeys(o.model, engine.pipeline.model.cfg);
      const server = new QiusuoServer({ engine, runs, maxBodyBytes: o.maxBodyBytes, apiKey, limits, log: o.quiet ? undefined : logLine });
      const a = await listen(server, o.port, o.host, () => engine.close());
      const at = urlOf(a);
      const s = engine.served;
      const stopped = untilSignal(server, o.shutdownGrace * 1000);   // before announcing: a signal right after is handled
      process.stdout.write(`qiusuo serve: model "${s.id}" (${engine.pipeline.model.ctx.backend.name}) on ${at}\n`
        + `  chat ${at}/   API ${at}/v1   context ${s.context} tokens, batch ${o.maxBatch}`
        + `${speculative ? `, speculative (up to ${speculative.draftTokens} draft tokens)` : ''}${runs ? `   dashboard ${at}/dashboard` : ''}`
        + `${apiKey ? '   API key required' : ''}\n`);
      warnIfExposed(a, o.host, apiKey, 'use the model, and read /metrics');
      await stopped;
    });

  const dashboard = program.command('dashboard')
    .description('plot a training run\'s metrics (loss, bits per byte, learning rate, tokens/s, expert load) live in the browser, '
      + 'or compare several runs\' curves')
    .option('--run <dir>', 'the training run folder (the --out of qiusuo train); repeat to compare runs', collect, [])
    .option('--experiment <dir>', 'compare the runs of an experiment (the folder of `qiusuo experiment`\'s output holding suite.json)');
  listenOptions(dashboard, 8001)
    .action(async (o, cmd: Command) => {
      const runs = runSetOf(o);
      if (!runs) throw new Error('give --run DIR (repeat it to compare runs) or --experiment DIR');
      const apiKey = apiKeyOf(o, cmd);
      const server = new QiusuoServer({ runs, apiKey, limits: limitsOf(o) });
      const a = await listen(server, o.port, o.host, async () => {});
      const stopped = untilSignal(server, 0);
      process.stdout.write(`qiusuo dashboard: ${describeRuns(runs, o.run)} on ${urlOf(a)}/dashboard${apiKey ? '   API key required' : ''}\n`);
      warnIfExposed(a, o.host, apiKey, 'read the training run\'s metrics, and /metrics');
      await stopped;
    });
}

/** --run (repeatable) or --experiment, checked; undefined when neither is given. */
function runSetOf(o: { run: string[]; experiment?: string }): RunSet | undefined {
  if (o.experiment !== undefined && o.run.length > 0) throw new Error('give --run or --experiment, not both');
  if (o.experiment !== undefined) return runSetFromSuite(o.experiment);
  return o.run.length > 0 ? runSetFromDirs(o.run) : undefined;
}

function describeRuns(runs: RunSet, dirs: string[]): string {
  if (runs.experiment !== null) return `experiment "${runs.experiment}" (${runs.runs.length} runs)`;
  return dirs.length === 1 ? dirs[0] : `${dirs.length} runs (${runs.runs.map((r) => r.label).join(', ')})`;
}

const collect = (v: string, all: string[]): string[] => [...all, v];

/** Where to listen, the API key, and the limits against slow or hostile clients (seconds on the command line). */
function listenOptions(c: Command, port: number): Command {
  const s = (ms: number): number => ms / 1000;
  return c
    .option('--host <host>', 'address to listen on (beyond loopback, give --api-key)', '127.0.0.1')
    .option('--port <n>', 'port (0 = any free port)', intOption('--port', 0, 65535), port)
    .addOption(new Option('--api-key <key>', 'require "Authorization: Bearer KEY" on every route but /health and the page files').env('QIUSUO_API_KEY'))
    .option('--header-timeout <s>', 'seconds a client has to send a request\'s headers', floatOption('--header-timeout', 0, 3600, true), s(DEFAULT_LIMITS.headerTimeoutMs))
    .option('--read-timeout <s>', 'seconds a client has to send a whole request, headers and body', floatOption('--read-timeout', 0, 3600, true), s(DEFAULT_LIMITS.readTimeoutMs))
    .option('--keep-alive-timeout <s>', 'seconds an idle kept-alive connection stays open', floatOption('--keep-alive-timeout', 0, 3600, true), s(DEFAULT_LIMITS.keepAliveTimeoutMs))
    .option('--max-connections <n>', 'open connections; more are closed at once', intOption('--max-connections', 1, 1_000_000), DEFAULT_LIMITS.maxConnections)
    .option('--max-request-time <s>', 'seconds a request may run (waiting, generating, streaming) before it is stopped with 504',
      floatOption('--max-request-time', 0, 7 * 86400, true), s(DEFAULT_LIMITS.maxRequestMs));
}

/** The key from --api-key or QIUSUO_API_KEY, checked; its value is never printed. */
function apiKeyOf(o: { apiKey?: string }, cmd: Command): string | undefined {
  if (o.apiKey === undefined) return undefined;
  return validateApiKey(o.apiKey, cmd.getOptionValueSource('apiKey') === 'env' ? 'QIUSUO_API_KEY' : '--api-key');
}

/** --speculative and --draft-tokens, checked against --context; the checkpoint's MTP module is checked on loading. */
function speculativeOf(o: { speculative?: boolean; draftTokens?: number; context: number }): SpeculativeOptions | undefined {
  const spec = speculativeSettings(o);
  if (spec && spec.draftTokens > o.context - 2) {
    throw new Error(`--draft-tokens (${spec.draftTokens}) must be at most --context - 2 (${o.context - 2}): a verify pass of K drafts needs K + 2 positions`);
  }
  return spec;
}

function limitsOf(o: { headerTimeout: number; readTimeout: number; keepAliveTimeout: number; maxConnections: number; maxRequestTime: number }): ServerLimits {
  const ms = (s: number): number => Math.max(1, Math.round(s * 1000));
  if (o.headerTimeout > o.readTimeout) throw new Error(`--header-timeout (${o.headerTimeout} s) must be at most --read-timeout (${o.readTimeout} s): the headers are part of the request`);
  return {
    headerTimeoutMs: ms(o.headerTimeout), readTimeoutMs: ms(o.readTimeout), keepAliveTimeoutMs: ms(o.keepAliveTimeout),
    maxConnections: o.maxConnections, maxRequestMs: ms(o.maxRequestTime),
  };
}

/** Listening beyond loopback with no key: say who can do what. */
function warnIfExposed(a: AddressInfo, host: string, apiKey: string | undefined, what: string): void {
  const loopback = /^127\./.test(a.address) || a.address === '::1' || /^::ffff:127\./i.test(a.address);
  if (apiKey || loopback) return;
  process.stderr.write(`qiusuo: warning: listening on ${host} (${a.address}), which is not a loopback address, with no API key: anyone who can `
    + `reach this machine's port ${a.port} can ${what}. Give --api-key KEY (or QIUSUO_API_KEY), or --host 127.0.0.1.\n`);
}

function logLine(line: string): void { process.stderr.write(`${new Date().toISOString()} ${line}\n`); }

const urlOf = (a: AddressInfo): string => `http://${a.family === 'IPv6' ? `[${a.address}]` : a.address}:${a.port}`;

/** Binds the port, naming it in the error when taken; frees the model if it cannot. */
async function listen(server: QiusuoServer, port: number, host: string, cleanup: () => Promise<void>): Promise<AddressInfo> {
  try {
    return await server.listen(port, host);
  } catch (e) {
    await cleanup();
    const code = (e as NodeJS.ErrnoException).code;
    throw new Error(`cannot listen on ${host}:${port}: ${code === 'EADDRINUSE' ? 'the port is in use (try --port 0 or another port)' : (e as Error).message}`);
  }
}

/** Resolves after the first SIGTERM/SIGINT has closed the server gracefully; a second one exits at once. */
function untilSignal(server: QiusuoServer, graceMs: number): Promise<void> {
  return new Promise((resolve) => {
    let signals = 0;
    const onSignal = (sig: NodeJS.Signals): void => {
      signals += 1;
      if (signals > 1) { process.stderr.write(`qiusuo: ${sig} again: stopping now\n`); process.exit(1); }
      process.stderr.write(`qiusuo: ${sig}: no longer accepting requests; finishing running ones (up to ${graceMs / 1000}s)\n`);
      void server.close(graceMs).then(() => {
        process.off('SIGTERM', onSignal);
        process.off('SIGINT', onSignal);
        process.stderr.write('qiusuo: stopped\n');
        resolve();
      });
    };
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
  });
}
