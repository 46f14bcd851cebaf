// Chat templates: renders a list of messages into the prompt string a model was trained on, using the Jinja
// "chat_template" of a tokenizer_config.json (via @huggingface/jinja), plus validation of JSON chat messages.
// Special tokens appear in the output as text; Tokenizer.encode maps them to their ids. Leaves out: tokenizing.

import { readFileSync } from 'node:fs';
import { Template } from '@huggingface/jinja';
import { oneLine, parseJson } from '../util/json.js';

export interface ToolCall {
  type: 'function';
  function: { name: string; arguments: string };
}

export interface ChatMessage {
  role: 'system' | 'user' | 'assistant' | 'tool';
  content: string | null;
  tool_calls?: ToolCall[];
  tool_call_id?: string;
}

export interface RenderOptions {
  addGenerationPrompt?: boolean;
  tools?: unknown[];
}

const ROLES: readonly ChatMessage['role'][] = ['system', 'user', 'assistant', 'tool'];

export class ChatTemplate {
  readonly bosToken: string | null;
  readonly eosToken: string | null;
  /** tokenizer_config.json "add_bos_token" (informational: chat templates write the BOS themselves). */
  readonly addBosToken: boolean;
  private readonly template: Template;

  static fromFile(tokenizerConfigPath: string): ChatTemplate {
    let text: string;
    try {
      text = readFileSync(tokenizerConfigPath, 'utf8');
    } catch (e) {
      throw new Error(`${tokenizerConfigPath}: cannot read tokenizer config (${(e as Error).message})`);
    }
    return ChatTemplate.fromJSON(parseJson(text, `${tokenizerConfigPath}: tokenizer config is not valid JSON`), tokenizerConfigPath);
  }

  static fromJSON(cfg: unknown, source = 'tokenizer_config.json'): ChatTemplate {
    return new ChatTemplate(cfg, source);
  }

  private constructor(cfg: unknown, private readonly source: string) {
    if (typeof cfg !== 'object' || cfg === null || Array.isArray(cfg)) throw new Error(`${source}: expected a JSON object`);
    const c = cfg as Record<string, unknown>;
    const text = templateText(c.chat_template);
    if (text === null) throw new Error(`${source}: no "chat_template" string`);
    try {
      this.template = new Template(text);
    } catch (e) {
      throw new Error(`${source}: chat_template does not parse (${jinjaReason(e)})`);
    }
    this.bosToken = tokenText(c.bos_token, 'bos_token', source);
    this.eosToken = tokenText(c.eos_token, 'eos_token', source);
    this.addBosToken = c.add_bos_token === true;
  }

  /** The prompt string for `messages`; with addGenerationPrompt it ends where the assistant's reply begins. */
  render(messages: ChatMessage[], opts: RenderOptions = {}): string {
    const vars: Record<string, unknown> = {
      messages: messages.map((m) => ({ ...m })),
      bos_token: this.bosToken ?? '',
      eos_token: this.eosToken ?? '',
      add_generation_prompt: opts.addGenerationPrompt === true,
    };
    if (opts.tools !== undefined) vars.tools = opts.tools;
    try {
      return this.template.render(vars);
    } catch (e) {
      throw new Error(`${this.source}: chat_template failed to render (${jinjaReason(e)})`);
    }
  }
}

/**
 * Why the Jinja engine refused a template, on one line. On some malformed templates the engine fails inside itself
 * (a TypeError or RangeError) rather than reporting a syntax error; that says nothing useful, so it is named as such.
 */
function jinjaReason(e: unknown): string {
  if (e instanceof TypeError || e instanceof RangeError) return 'malformed template: the Jinja engine failed on it';
  return oneLine(e instanceof Error ? e.message : String(e));
}

/** chat_template is a string, or (newer configs) a list of {name, template} where "default" is used. */
function templateText(v: unknown): string | null {
  if (typeof v === 'string') return v;
  if (Array.isArray(v)) {
    const d = v.find((t) => t?.name === 'default');
    return typeof d?.template === 'string' ? d.template : null;
  }
  return null;
}

/** A token given as a string, as {content: string} (AddedToken form), or null. */
function tokenText(v: unknown, field: string, source: string): string | null {
  if (v === null || v === undefined) return null;
  if (typeof v === 'string') return v;
  const content = (v as { content?: unknown }).content;
  if (typeof content === 'string') return content;
  throw new Error(`${source}: "${field}" must be a string or {"content": string}`);
}

/**
 * Validates a JSON array of chat messages (OpenAI shape). content may be a string, a list of {type:"text",
 * text} parts (joined), or null for an assistant message that has tool_calls. Unknown fields are ignored.
 * Errors name the index and field, e.g. "messages[2].role: expected one of system, user, assistant, tool".
 */
export function parseChatMessages(json: unknown): ChatMessage[] {
  if (!Array.isArray(json)) throw new Error('messages: expected an array');
  if (json.length === 0) throw new Error('messages: expected at least one message');
  return json.map((raw: unknown, i) => {
    const at = `messages[${i}]`;
    if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new Error(`${at}: expected an object`);
    const m = raw as Record<string, unknown>;
    if (!ROLES.includes(m.role as ChatMessage['role'])) throw new Error(`${at}.role: expected one of ${ROLES.join(', ')}`);
    const role = m.role as ChatMessage['role'];
    const msg: ChatMessage = { role, content: null };
    if (m.tool_calls !== undefined && m.tool_calls !== null) {
      if (role !== 'assistant') throw new Error(`${at}.tool_calls: only assistant messages may have tool calls`);
      msg.tool_calls = parseToolCalls(m.tool_calls, `${at}.tool_calls`);
    }
    msg.content = parseContent(m.content, `${at}.content`);
    if (msg.content === null && !(role === 'assistant' && msg.tool_calls?.length)) {
      throw new Error(`${at}.content: expected a string (null only for an assistant message with tool_calls)`);
    }
    if (m.tool_call_id !== undefined) {
      if (typeof m.tool_call_id !== 'string') throw new Error(`${at}.tool_call_id: expected a string`);
      msg.tool_call_id = m.tool_call_id;
    }
    return msg;
  });
}

function parseContent(v: unknown, at: string): string | null {
  if (v === null || v === undefined) return null;
  if (typeof v === 'string') return v;
  if (Array.isArray(v)) {
    return v.map((part: unknown, k) => {
      const p = part as { type?: unknown; text?: unknown } | null;
      if (p?.type !== 'text' || typeof p.text !== 'string') throw new Error(`${at}[${k}]: expected {"type": "text", "text": string}`);
      return p.text;
    }).join('');
  }
  throw new Error(`${at}: expected a string, a list of text parts, or null`);
}

function parseToolCalls(v: unknown, at: string): ToolCall[] {
  if (!Array.isArray(v)) throw new Error(`${at}: expected an array`);
  return v.map((c: unknown, k) => {
    const call = c as { type?: unknown; function?: { name?: unknown; arguments?: unknown } } | null;
    if (call?.type !== 'function') throw new Error(`${at}[${k}].type: expected "function"`);
    if (typeof call.function?.name !== 'string') throw new Error(`${at}[${k}].function.name: expected a string`);
    if (typeof call.function.arguments !== 'string') throw new Error(`${at}[${k}].function.arguments: expected a JSON string`);
    return { type: 'function', function: { name: call.function.name, arguments: call.function.arguments } };
  });
}
