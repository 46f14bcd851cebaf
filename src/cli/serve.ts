// `qiusuo serve` (the OpenAI-compatible API, the web chat, optionally a run's dashboard) and `qiusuo dashboard`
// (a training run's charts alone). SIGTERM or Ctrl-C closes gracefully: stop accepting, let running requests
// finish within --shutdown-grace, exit 0; a second signal stops at once.

import type { Command } from 'commander';
import { intOption, floatOption, computeOptions, backendOptions, warnUnknownKeys } from './options.js';
import { Engine, ENGINE_DEFAULTS } from '../server/engine.js';
import { QiusuoServer, DEFAULT_MAX_BODY_BYTES } from '../server/http.js';
import { checkRunDir } from '../server/run-log.js';

export function addServeCommands(program: Command): void {
  const d = ENGINE_DEFAULTS;
  computeOptions(program.command('serve'))
    .description('serve a model behind an OpenAI-compatible API (/v1/chat/completions, /v1/completions) with a web chat at /')
    .requiredOption('--model <dir>', 'checkpoint folder')
    .option('--host <host>', 'address to listen on', '127.0.0.1')
    .option('--port <n>', 'port (0 = any free port)', intOption('--port', 0, 65535), 8000)
    .option('--model-name <id>', 'model id clients send (default: the folder name)')
    .option('--max-batch <n>', 'sequences decoded together', intOption('--max-batch', 1, 1024), d.maxBatch)
    .option('--max-queue <n>', 'requests waiting for a slot before answering 429', intOption('--max-queue', 0), d.maxQueue)
    .option('--context <n>', 'prompt + completion tokens per request (capped by max_position_embeddings)', intOption('--context', 2), d.context)
    .option('--max-tokens <n>', 'the most completion tokens a request may ask for', intOption('--max-tokens', 1), d.maxTokens)
    .option('--max-body-bytes <n>', 'largest request body', intOption('--max-body-bytes', 1024), DEFAULT_MAX_BODY_BYTES)
    .option('--run <dir>', 'also show this training run at /dashboard')
    .option('--shutdown-grace <s>', 'seconds running requests get to finish on SIGTERM', floatOption('--shutdown-grace', 0, 3600), 10)
    .option('--quiet', 'no per-request log lines')
    .action(async (o) => {
      if (o.run) checkRunDir(o.run);
      const engine = Engine.load(o.model, {
        ...backendOptions(o), maxBatch: o.maxBatch, maxQueue: o.maxQueue, context: o.context, maxTokens: o.maxTokens, modelName: o.modelName,
      });
      warnUnknownKeys(o.model, engine.pipeline.model.cfg);
      const server = new QiusuoServer({ engine, runDir: o.run, maxBodyBytes: o.maxBodyBytes, log: o.quiet ? undefined : logLine });
      const at = await listen(server, o.port, o.host, () => engine.close());
      const s = engine.served;
      process.stdout.write(`qiusuo serve: model "${s.id}" (${engine.pipeline.model.ctx.backend.name}) on ${at}\n`
        + `  chat ${at}/   API ${at}/v1   context ${s.context} tokens, batch ${o.maxBatch}${o.run ? `   dashboard ${at}/dashboard` : ''}\n`);
      await untilSignal(server, o.shutdownGrace * 1000);
    });

  program.command('dashboard')
    .description('plot a training run\'s metrics (loss, bits per byte, learning rate, tokens/s, expert load) live in the browser')
    .requiredOption('--run <dir>', 'the training run folder (the --out of qiusuo train)')
    .option('--host <host>', 'address to listen on', '127.0.0.1')
    .option('--port <n>', 'port (0 = any free port)', intOption('--port', 0, 65535), 8001)
    .action(async (o) => {
      checkRunDir(o.run);
      const server = new QiusuoServer({ runDir: o.run });
      const at = await listen(server, o.port, o.host, async () => {});
      process.stdout.write(`qiusuo dashboard: ${o.run} on ${at}/dashboard\n`);
      await untilSignal(server, 0);
    });
}

function logLine(line: string): void { process.stderr.write(`${new Date().toISOString()} ${line}\n`); }

/** Binds the port, naming it in the error when taken; frees the model if it cannot. */
async function listen(server: QiusuoServer, port: number, host: string, cleanup: () => Promise<void>): Promise<string> {
  try {
    const a = await server.listen(port, host);
    return `http://${a.family === 'IPv6' ? `[${a.address}]` : a.address}:${a.port}`;
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
