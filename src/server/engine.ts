// The serving engine as a library: `engine.chat.completions.create(...)` and `engine.completions.create(...)` take
// the OpenAI request shapes and give the OpenAI response shapes — a whole response, or with `stream: true` an async
// iterator of chunks — so TypeScript code can embed a model without HTTP. The HTTP server is a thin layer over it.
//
//   const engine = Engine.load('runs/qiusuo/checkpoint-000292');
//   const r = await engine.chat.completions.create({ model: engine.modelId, messages: [{ role: 'user', content: 'Hi' }] });
//   for await (const c of await engine.chat.completions.create({ ...req, stream: true })) process.stdout.write(c.choices[0]?.delta.content ?? '');

import * as path from 'node:path';
import { randomBytes } from 'node:crypto';
import type { LoadOptions } from '../model/transformer.js';
import type { Pipeline } from '../generate/pipeline.js';
import { loadPipeline } from '../generate/pipeline.js';
import type { FinishReason, Sequence, SpeculativeOptions } from '../generate/engine.js';
import { Generator } from '../generate/engine.js';
import { AsyncQueue } from './async-queue.js';
import { Scheduler, type SchedulerStats } from './scheduler.js';
import { parseChatRequest, parseCompletionRequest, type ParsedRequest, type ServedModel } from './requests.js';
import type {
  ChatCompletion, ChatCompletionChunk, ChatCompletionCreateParams, Completion, CompletionCreateParams, Model, ModelList, Usage,
} from './protocol.js';

export interface EngineOptions extends LoadOptions {
  maxBatch?: number;    // sequences decoded together (default 8)
  maxQueue?: number;    // requests waiting for a free slot before 429 (default 64; 0 = none wait)
  context?: number;     // prompt + completion tokens per request (default min(max_position_embeddings, 4096))
  maxTokens?: number;   // the most completion tokens a request may ask for (default min(context, 2048))
  modelName?: string;   // the id clients use (default: the checkpoint folder's or GGUF file's name)
  /**
   * Self-speculative decoding with the checkpoint's MTP module: each step drafts up to `draftTokens` tokens per
   * sequence and verifies them in one batched pass. Greedy text is unchanged, sampled text keeps its distribution;
   * `adaptive` (default true) drafts fewer or none when that is measured to be faster. Throws when the checkpoint
   * has no MTP module (num_nextn_predict_layers 0) or `draftTokens` is not in 1..context-2. Acceptance shows in
   * stats().speculation and /metrics.
   *
   *   const engine = Engine.load(dir, { speculative: { draftTokens: 2 } });
   */
  speculative?: SpeculativeOptions;
}

export interface RequestOptions { signal?: AbortSignal }

export const ENGINE_DEFAULTS = { maxBatch: 8, maxQueue: 64, context: 4096, maxTokens: 2048 };
const FINGERPRINT = 'fp_qiusuo';

/** How one endpoint turns generated text into its response objects. */
interface Shape<Whole, Chunk> {
  prefix: string;
  first(base: Base): Chunk | null;
  delta(base: Base, text: string): Chunk;
  last(base: Base, finish: FinishReason): Chunk;
  usage(base: Base, usage: Usage): Chunk;
  whole(base: Base, text: string, finish: FinishReason, usage: Usage): Whole;
}

interface Base { id: string; created: number; model: string; system_fingerprint: string }

/** The fields every response object starts with, in OpenAI's order. */
function head<O extends string>(b: Base, object: O): Base & { object: O } {
  return { id: b.id, object, created: b.created, model: b.model, system_fingerprint: b.system_fingerprint };
}

const chatShape: Shape<ChatCompletion, ChatCompletionChunk> = {
  prefix: 'chatcmpl-',
  first: (b) => ({ ...head(b, 'chat.completion.chunk'), choices: [{ index: 0, delta: { role: 'assistant', content: '' }, logprobs: null, finish_reason: null }] }),
  delta: (b, content) => ({ ...head(b, 'chat.completion.chunk'), choices: [{ index: 0, delta: { content }, logprobs: null, finish_reason: null }] }),
  last: (b, finish) => ({ ...head(b, 'chat.completion.chunk'), choices: [{ index: 0, delta: {}, logprobs: null, finish_reason: finish }] }),
  usage: (b, usage) => ({ ...head(b, 'chat.completion.chunk'), choices: [], usage }),
  whole: (b, content, finish, usage) => ({
    ...head(b, 'chat.completion'), choices: [{ index: 0, message: { role: 'assistant', content, refusal: null }, logprobs: null, finish_reason: finish }], usage,
  }),
};

const completionShape: Shape<Completion, Completion> = {
  prefix: 'cmpl-',
  first: () => null,
  delta: (b, text) => ({ ...head(b, 'text_completion'), choices: [{ index: 0, text, logprobs: null, finish_reason: null }] }),
  last: (b, finish) => ({ ...head(b, 'text_completion'), choices: [{ index: 0, text: '', logprobs: null, finish_reason: finish }] }),
  usage: (b, usage) => ({ ...head(b, 'text_completion'), choices: [], usage }),
  whole: (b, text, finish, usage) => ({ ...head(b, 'text_completion'), choices: [{ index: 0, text, logprobs: null, finish_reason: finish }], usage }),
};

export class Engine {
  readonly served: ServedModel;
  private readonly gen: Generator;
  private readonly scheduler: Scheduler;
  private readonly created = Math.floor(Date.now() / 1000);
  private closed = false;

  readonly chat = {
    completions: {
      create: ((body: unknown, o?: RequestOptions) => this.create(body, o, parseChatRequest, chatShape)) as {
        (body: ChatCompletionCreateParams & { stream: true }, o?: RequestOptions): Promise<AsyncIterableIterator<ChatCompletionChunk>>;
        (body: ChatCompletionCreateParams & { stream?: false | null }, o?: RequestOptions): Promise<ChatCompletion>;
        (body: unknown, o?: RequestOptions): Promise<ChatCompletion | AsyncIterableIterator<ChatCompletionChunk>>;
      },
    },
  };

  readonly completions = {
    create: ((body: unknown, o?: RequestOptions) => this.create(body, o, parseCompletionRequest, completionShape)) as {
      (body: CompletionCreateParams & { stream: true }, o?: RequestOptions): Promise<AsyncIterableIterator<Completion>>;
      (body: CompletionCreateParams & { stream?: false | null }, o?: RequestOptions): Promise<Completion>;
      (body: unknown, o?: RequestOptions): Promise<Completion | AsyncIterableIterator<Completion>>;
    },
  };

  readonly models = {
    list: (): ModelList => ({ object: 'list', data: [this.modelCard()] }),
  };

  /** Loads a checkpoint folder (config, weights, tokenizer, chat template) and makes room for the batch. */
  static load(dir: string, o: EngineOptions = {}): Engine {
    const pipeline = loadPipeline(dir, o);
    try {
      return new Engine(pipeline, o);
    } catch (e) {
      // An invalid option must not leave the loaded model's workers running; the option's error is the one to report.
      pipeline.model.dispose().catch(() => {});
      throw e;
    }
  }

  constructor(readonly pipeline: Pipeline, o: EngineOptions = {}) {
    const cfg = pipeline.model.cfg;
    const maxBatch = integerAtLeast(1, o.maxBatch ?? ENGINE_DEFAULTS.maxBatch, 'maxBatch');
    const maxQueue = integerAtLeast(0, o.maxQueue ?? ENGINE_DEFAULTS.maxQueue, 'maxQueue');
    const context = Math.min(integerAtLeast(1, o.context ?? ENGINE_DEFAULTS.context, 'context'), cfg.maxPositionEmbeddings);
    const maxTokens = Math.min(integerAtLeast(1, o.maxTokens ?? ENGINE_DEFAULTS.maxTokens, 'maxTokens'), context);
    const id = o.modelName ?? path.basename(path.resolve(pipeline.dir)).replace(/\.gguf$/i, '');
    if (!id) throw new Error('modelName must not be empty');
    this.served = { id, tokenizer: pipeline.tokenizer, chat: pipeline.chat, vocabSize: cfg.vocabSize, context, maxTokens };
    this.gen = new Generator(pipeline.model, pipeline.tokenizer, maxBatch, context, { speculative: o.speculative });
    this.scheduler = new Scheduler(this.gen, maxQueue, o.speculative?.draftTokens);
  }

  get modelId(): string { return this.served.id; }

  stats(): SchedulerStats { return this.scheduler.stats(); }

  /** Finishes running requests for up to `graceMs` (failing the rest with 503), then frees the model. */
  async close(graceMs = 0): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.scheduler.drain(graceMs);
    this.gen.dispose();
    await this.pipeline.model.dispose();
  }

  private modelCard(): Model {
    return {
      id: this.served.id, object: 'model', created: this.created, owned_by: 'qiusuo',
      context_length: this.served.context, max_completion_tokens: this.served.maxTokens,
    };
  }

  private async create<W, C>(body: unknown, o: RequestOptions | undefined, parse: (b: unknown, m: ServedModel) => ParsedRequest, shape: Shape<W, C>): Promise<W | AsyncIterableIterator<C>> {
    o?.signal?.throwIfAborted();
    const req = parse(body, this.served);
    const base: Base = { id: shape.prefix + randomBytes(12).toString('hex'), created: Math.floor(Date.now() / 1000), model: this.served.id, system_fingerprint: FINGERPRINT };
    const usageOf = (seq: Sequence): Usage => ({ prompt_tokens: seq.promptTokens, completion_tokens: seq.generated.length, total_tokens: seq.promptTokens + seq.generated.length });
    return req.stream ? this.stream(req, shape, base, usageOf, o?.signal) : this.whole(req, shape, base, usageOf, o?.signal);
  }

  private whole<W, C>(req: ParsedRequest, shape: Shape<W, C>, base: Base, usageOf: (s: Sequence) => Usage, signal?: AbortSignal): Promise<W> {
    return new Promise((resolve, reject) => {
      let cancel = (): void => {};
      const onAbort = (): void => { cancel(); reject(signal!.reason); };
      cancel = this.scheduler.submit(req.prompt, req.params, {
        text: () => {},
        done: (seq) => { signal?.removeEventListener('abort', onAbort); resolve(shape.whole(base, seq.text, seq.finish!, usageOf(seq))); },
        fail: (e) => { signal?.removeEventListener('abort', onAbort); reject(e); },
      });
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  private stream<W, C>(req: ParsedRequest, shape: Shape<W, C>, base: Base, usageOf: (s: Sequence) => Usage, signal?: AbortSignal): AsyncIterableIterator<C> {
    let cancel = (): void => {};
    const onAbort = (): void => { cancel(); chunks.fail(signal!.reason); };
    const chunks = new AsyncQueue<C>(() => { cancel(); signal?.removeEventListener('abort', onAbort); });
    const first = shape.first(base);
    if (first) chunks.push(first);
    cancel = this.scheduler.submit(req.prompt, req.params, {
      text: (d) => chunks.push(shape.delta(base, d)),
      done: (seq) => {
        chunks.push(shape.last(base, seq.finish!));
        if (req.includeUsage) chunks.push(shape.usage(base, usageOf(seq)));
        chunks.end();
        signal?.removeEventListener('abort', onAbort);
      },
      fail: (e) => { chunks.fail(e); signal?.removeEventListener('abort', onAbort); },
    });
    signal?.addEventListener('abort', onAbort, { once: true });
    return chunks;
  }
}

function integerAtLeast(min: number, n: number, name: string): number {
  if (!Number.isSafeInteger(n) || n < min) throw new Error(`${name} must be an integer ≥ ${min}, got ${n}`);
  return n;
}
