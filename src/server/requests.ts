// Validation of chat and text completion requests: every field is checked for type and range, unknown fields are
// refused (as OpenAI does), and the prompt is tokenized and checked against the context — so a request that passes
// here cannot fail for its input later. Errors name the parameter (`param`) in the OpenAI error body.

import type { Tokenizer } from '../tokenizer/bpe.js';
import type { ChatTemplate } from '../tokenizer/chat.js';
import { parseChatMessages } from '../tokenizer/chat.js';
import { encodeChat, encodeText } from '../generate/pipeline.js';
import type { GenerationParams } from '../generate/engine.js';
import { ApiError, invalid } from './protocol.js';

/** What a request is checked against: the served model and the server's limits. */
export interface ServedModel {
  readonly id: string;
  readonly tokenizer: Tokenizer;
  readonly chat: ChatTemplate | null;
  readonly vocabSize: number;
  readonly context: number;      // prompt + completion tokens per request
  readonly maxTokens: number;    // the most completion tokens one request may ask for
}

/** A validated request: token ids to prefill, sampling parameters, and how to answer. */
export interface ParsedRequest {
  prompt: number[];
  params: GenerationParams;
  stream: boolean;
  includeUsage: boolean;
}

const MAX_STOP_STRINGS = 4;

/** Fields accepted at their default (neutral) value only: other values are refused as unsupported. */
const NEUTRAL: Record<string, unknown> = {
  frequency_penalty: 0, presence_penalty: 0, logprobs: false, top_logprobs: 0, logit_bias: {}, tools: [],
  tool_choice: 'none', parallel_tool_calls: true, echo: false, best_of: 1, suffix: '', response_format: { type: 'text' },
};
/** Fields accepted and ignored (they do not change the output). */
const IGNORED = new Set(['user', 'metadata', 'store', 'service_tier']);

const SAMPLING = ['model', 'stream', 'stream_options', 'max_tokens', 'temperature', 'top_p', 'top_k', 'seed', 'stop', 'n'];
const CHAT_FIELDS = new Set([...SAMPLING, 'messages', 'max_completion_tokens']);
const COMPLETION_FIELDS = new Set([...SAMPLING, 'prompt']);

export function parseChatRequest(body: unknown, m: ServedModel): ParsedRequest {
  const b = requestObject(body, CHAT_FIELDS);
  checkModel(b, m);
  if (b.messages === undefined) throw invalid("Missing required parameter: 'messages'.", 'messages', 'missing_required_parameter');
  if (!m.chat) throw invalid(`The model '${m.id}' has no chat template (tokenizer_config.json "chat_template"); use /v1/completions.`, 'messages');
  const messages = withSystemRoles(b.messages);
  let prompt: number[];
  try {
    prompt = encodeChat(m.tokenizer, m.chat, parseChatMessages(messages), m.id);
  } catch (e) {
    throw paramError(e as Error, 'messages');
  }
  if (b.max_tokens != null && b.max_completion_tokens != null && b.max_tokens !== b.max_completion_tokens) {
    throw invalid('Give max_tokens or max_completion_tokens, not two different values.', 'max_completion_tokens');
  }
  const maxParam = b.max_completion_tokens != null ? 'max_completion_tokens' : 'max_tokens';
  return finish(b, m, prompt, maxParam);
}

export function parseCompletionRequest(body: unknown, m: ServedModel): ParsedRequest {
  const b = requestObject(body, COMPLETION_FIELDS);
  checkModel(b, m);
  if (b.prompt === undefined) throw invalid("Missing required parameter: 'prompt'.", 'prompt', 'missing_required_parameter');
  return finish(b, m, completionPrompt(b.prompt, m), 'max_tokens');
}

function requestObject(body: unknown, fields: Set<string>): Record<string, unknown> {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw invalid('The request body must be a JSON object.');
  const b = body as Record<string, unknown>;
  for (const [k, v] of Object.entries(b)) {
    if (fields.has(k) || IGNORED.has(k)) continue;
    if (Object.hasOwn(NEUTRAL, k)) {   // own keys only: "toString" is not a field
      if (v === null || JSON.stringify(v) === JSON.stringify(NEUTRAL[k])) continue;
      throw invalid(`'${k}' is not supported by this server (only ${JSON.stringify(NEUTRAL[k])}).`, k, 'unsupported_parameter');
    }
    throw invalid(`Unrecognized request argument supplied: ${k}`, k, 'unrecognized_parameter');
  }
  return b;
}

function checkModel(b: Record<string, unknown>, m: ServedModel): void {
  if (b.model === undefined) throw invalid("Missing required parameter: 'model'.", 'model', 'missing_required_parameter');
  if (typeof b.model !== 'string') throw invalid(`'model' must be a string, got ${typeName(b.model)}.`, 'model', 'invalid_type');
  if (b.model !== m.id) {
    throw new ApiError(404, `The model '${b.model}' does not exist; this server serves '${m.id}'.`, 'not_found_error', 'model', 'model_not_found');
  }
}

/** OpenAI's newer "developer" role is the system role of older chat templates. */
function withSystemRoles(messages: unknown): unknown {
  if (!Array.isArray(messages)) return messages;
  return messages.map((x: unknown) => {
    const msg = x as { role?: unknown } | null;
    return msg && typeof msg === 'object' && msg.role === 'developer' ? { ...msg, role: 'system' } : x;
  });
}

/** A string, a one-string array, or token ids. */
function completionPrompt(p: unknown, m: ServedModel): number[] {
  const ids = (text: string): number[] => encodeText(m.tokenizer, m.chat, text);
  if (typeof p === 'string') return ids(p);
  if (!Array.isArray(p) || p.length === 0) throw invalid("'prompt' must be a string, a list of one string, or a non-empty list of token ids.", 'prompt', 'invalid_type');
  if (p.every((x) => typeof x === 'string')) {
    if (p.length !== 1) throw invalid(`'prompt' lists ${p.length} prompts; this server completes one prompt per request.`, 'prompt');
    return ids(p[0] as string);
  }
  p.forEach((x, i) => {
    if (!Number.isInteger(x) || (x as number) < 0 || (x as number) >= m.vocabSize) {
      throw invalid(`'prompt[${i}]' must be a token id in [0, ${m.vocabSize}), got ${JSON.stringify(x)}.`, `prompt[${i}]`, 'invalid_value');
    }
  });
  return p as number[];
}

function finish(b: Record<string, unknown>, m: ServedModel, prompt: number[], maxParam: string): ParsedRequest {
  if (prompt.length === 0) throw invalid('The prompt is empty.', 'prompt');
  const n = optional(b, 'n', 'integer');
  if (n !== undefined && n !== 1) throw invalid(`'n' must be 1 (one choice per request), got ${n}.`, 'n', 'invalid_value');
  const stream = optional(b, 'stream', 'boolean') ?? false;
  const includeUsage = streamOptions(b.stream_options, stream);
  const temperature = range(b, 'temperature', 0, 2) ?? 1;
  const topP = range(b, 'top_p', 0, 1) ?? 1;
  if (topP === 0) throw invalid("'top_p' must be greater than 0.", 'top_p', 'invalid_value');
  const topK = optional(b, 'top_k', 'integer') ?? 0;
  if (topK < 0) throw invalid(`'top_k' must be ≥ 0 (0 = off), got ${topK}.`, 'top_k', 'invalid_value');
  const seed = optional(b, 'seed', 'integer') ?? Math.floor(Math.random() * 2 ** 32);
  const stop = stopStrings(b.stop);

  const room = m.context - prompt.length;
  if (room < 1) {
    const field = b.prompt !== undefined ? 'prompt' : 'messages';
    throw invalid(`This model's maximum context length is ${m.context} tokens, but the ${field} come${field === 'prompt' ? 's' : ''} to ${prompt.length} tokens.`, field, 'context_length_exceeded');
  }
  let maxTokens = optional(b, maxParam, 'integer');
  if (maxTokens === undefined) {
    maxTokens = Math.min(m.maxTokens, room);
  } else {
    if (maxTokens < 1) throw invalid(`'${maxParam}' must be at least 1, got ${maxTokens}.`, maxParam, 'invalid_value');
    if (maxTokens > m.maxTokens) throw invalid(`'${maxParam}' is ${maxTokens}; this server allows at most ${m.maxTokens}.`, maxParam, 'invalid_value');
    if (prompt.length + maxTokens > m.context) {
      throw invalid(`This model's maximum context length is ${m.context} tokens. However, you requested ${prompt.length + maxTokens} tokens `
        + `(${prompt.length} in the prompt, ${maxTokens} asked for by '${maxParam}').`, maxParam, 'context_length_exceeded');
    }
  }
  return { prompt, stream, includeUsage, params: { maxTokens, temperature, topP, topK, seed: seed >>> 0, stop } };
}

type Kind = 'integer' | 'number' | 'boolean';
type KindValue<K extends Kind> = K extends 'boolean' ? boolean : number;

/** A field that may be absent or null; otherwise of the given kind. */
function optional<K extends Kind>(b: Record<string, unknown>, key: string, kind: K): KindValue<K> | undefined {
  const v = b[key];
  if (v === undefined || v === null) return undefined;
  const ok = kind === 'boolean' ? typeof v === 'boolean'
    : kind === 'integer' ? Number.isSafeInteger(v) : typeof v === 'number' && Number.isFinite(v);
  if (!ok) throw invalid(`'${key}' must be ${kind === 'integer' ? 'an integer' : `a ${kind}`}, got ${typeName(v)}${typeof v === 'number' ? ` ${v}` : ''}.`, key, 'invalid_type');
  return v as KindValue<K>;
}

function range(b: Record<string, unknown>, key: string, lo: number, hi: number): number | undefined {
  const v = optional(b, key, 'number');
  if (v !== undefined && (v < lo || v > hi)) throw invalid(`'${key}' must be in [${lo}, ${hi}], got ${v}.`, key, 'invalid_value');
  return v;
}

function streamOptions(v: unknown, stream: boolean): boolean {
  if (v === undefined || v === null) return false;
  if (!stream) throw invalid("'stream_options' is only allowed when 'stream' is true.", 'stream_options');
  if (typeof v !== 'object' || Array.isArray(v)) throw invalid("'stream_options' must be an object.", 'stream_options', 'invalid_type');
  const o = v as Record<string, unknown>;
  for (const k of Object.keys(o)) if (k !== 'include_usage') throw invalid(`Unrecognized option in 'stream_options': ${k}`, `stream_options.${k}`, 'unrecognized_parameter');
  if (o.include_usage !== undefined && typeof o.include_usage !== 'boolean') {
    throw invalid("'stream_options.include_usage' must be a boolean.", 'stream_options.include_usage', 'invalid_type');
  }
  return o.include_usage === true;
}

function stopStrings(v: unknown): string[] {
  if (v === undefined || v === null) return [];
  const list = typeof v === 'string' ? [v] : v;
  if (!Array.isArray(list) || list.some((s) => typeof s !== 'string')) throw invalid("'stop' must be a string or a list of strings.", 'stop', 'invalid_type');
  if (list.length > MAX_STOP_STRINGS) throw invalid(`'stop' has ${list.length} strings; at most ${MAX_STOP_STRINGS} are allowed.`, 'stop', 'invalid_value');
  if (list.some((s) => s === '')) throw invalid("'stop' strings must not be empty.", 'stop', 'invalid_value');
  return list as string[];
}

/** "messages[2].role: expected …" → an error whose param is "messages[2].role". */
function paramError(e: Error, fallback: string): ApiError {
  if (e instanceof ApiError) return e;
  const m = /^([\w.[\]]+): (.*)$/s.exec(e.message);
  return m ? invalid(`'${m[1]}': ${m[2]}`, m[1]) : invalid(e.message, fallback);
}

function typeName(v: unknown): string {
  return v === null ? 'null' : Array.isArray(v) ? 'an array' : typeof v === 'object' ? 'an object' : `a ${typeof v}`;
}
