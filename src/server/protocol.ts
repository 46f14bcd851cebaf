// The OpenAI wire format as qiusuo speaks it: request and response shapes of /v1/chat/completions,
// /v1/completions and /v1/models, and the error every bad request is answered with
// ({"error": {"message", "type", "param", "code"}} plus an HTTP status). Leaves out: validation (requests.ts).

import type { ChatMessage } from '../tokenizer/chat.js';
import type { FinishReason } from '../generate/engine.js';

export interface ChatCompletionCreateParams {
  model: string;
  messages: ChatMessage[] | { role: string; content: unknown }[];
  stream?: boolean | null;
  stream_options?: { include_usage?: boolean } | null;
  max_tokens?: number | null;
  max_completion_tokens?: number | null;
  temperature?: number | null;
  top_p?: number | null;
  top_k?: number | null;                 // an extension (as vLLM): sample among the k most likely tokens
  seed?: number | null;
  stop?: string | string[] | null;
  n?: number | null;
  [key: string]: unknown;
}

export interface CompletionCreateParams extends Omit<ChatCompletionCreateParams, 'messages' | 'max_completion_tokens'> {
  prompt: string | string[] | number[];
}

export interface Usage { prompt_tokens: number; completion_tokens: number; total_tokens: number }

export interface ChatCompletion {
  id: string;
  object: 'chat.completion';
  created: number;
  model: string;
  system_fingerprint: string;
  choices: { index: 0; message: { role: 'assistant'; content: string; refusal: null }; logprobs: null; finish_reason: FinishReason }[];
  usage: Usage;
}

export interface ChatCompletionChunk {
  id: string;
  object: 'chat.completion.chunk';
  created: number;
  model: string;
  system_fingerprint: string;
  choices: { index: 0; delta: { role?: 'assistant'; content?: string }; logprobs: null; finish_reason: FinishReason | null }[];
  usage?: Usage | null;
}

/** The legacy completions endpoint: the same object for a whole response and for each streamed chunk. */
export interface Completion {
  id: string;
  object: 'text_completion';
  created: number;
  model: string;
  system_fingerprint: string;
  choices: { index: 0; text: string; logprobs: null; finish_reason: FinishReason | null }[];
  usage?: Usage | null;
}

export interface Model {
  id: string;
  object: 'model';
  created: number;
  owned_by: 'qiusuo';
  context_length: number;          // tokens of prompt + completion one request may use
  max_completion_tokens: number;   // the server's limit on max_tokens
}

export interface ModelList { object: 'list'; data: Model[] }

export type ErrorType = 'invalid_request_error' | 'not_found_error' | 'rate_limit_error' | 'server_error';

/** An error with its HTTP status and OpenAI error body; thrown by validation and the scheduler, sent by the server. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly type: ErrorType = 'invalid_request_error',
    readonly param: string | null = null,
    readonly code: string | null = null,
  ) {
    super(message);
    this.name = 'ApiError';
  }

  toJSON(): { error: { message: string; type: ErrorType; param: string | null; code: string | null } } {
    return { error: { message: this.message, type: this.type, param: this.param, code: this.code } };
  }
}

export const invalid = (message: string, param: string | null = null, code: string | null = null): ApiError =>
  new ApiError(400, message, 'invalid_request_error', param, code);
