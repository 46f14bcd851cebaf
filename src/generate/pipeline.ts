// A loaded checkpoint ready for text: model, tokenizer and chat template from one folder, and the prompt encoding
// conventions (plain text gets the tokenizer's special tokens, i.e. BOS, as HF's encode does; chat messages are
// rendered through the template, which writes BOS itself).

import * as fs from 'node:fs';
import * as path from 'node:path';
import type { LoadOptions } from '../model/transformer.js';
import { DeepSeekModel } from '../model/transformer.js';
import { Tokenizer } from '../tokenizer/bpe.js';
import type { ChatMessage } from '../tokenizer/chat.js';
import { ChatTemplate } from '../tokenizer/chat.js';
import { isGgufPath, readTokenizerFiles } from '../model/model-files.js';
import { TIKTOKEN_FILE, isTiktokenFolder, loadTiktokenFolder } from '../tokenizer/tiktoken-files.js';

export interface Pipeline {
  readonly dir: string;
  readonly model: DeepSeekModel;
  readonly tokenizer: Tokenizer;
  readonly chat: ChatTemplate | null;  // null when the folder has no tokenizer_config.json with a chat_template
}

/** The folder's tokenizer.json, or else its tiktoken.model (Moonlight's format); a GGUF's tokenizer metadata. */
export function loadTokenizer(model: string): Tokenizer {
  if (isGgufPath(model)) return Tokenizer.fromJSON(readTokenizerFiles(model)!.json, `${model} (GGUF tokenizer)`);
  const file = path.join(model, 'tokenizer.json');
  if (fs.existsSync(file)) return Tokenizer.fromFile(file);
  if (isTiktokenFolder(model)) return loadTiktokenFolder(model);
  throw new Error(`${file}: not found, nor ${TIKTOKEN_FILE} (the checkpoint needs one of them for text input)`);
}

/** The folder's tokenizer_config.json, or a GGUF's chat template and special tokens; null when there is none. */
export function loadChatTemplate(model: string): ChatTemplate | null {
  if (isGgufPath(model)) return ChatTemplate.fromJSON(readTokenizerFiles(model)!.config, `${model} (GGUF tokenizer)`);
  const file = path.join(model, 'tokenizer_config.json');
  return fs.existsSync(file) ? ChatTemplate.fromFile(file) : null;
}

/** The tokenizer and the chat template together (a GGUF's tokenizer metadata is converted once for both). */
export function loadText(model: string): { tokenizer: Tokenizer; chat: ChatTemplate | null } {
  if (!isGgufPath(model)) return { tokenizer: loadTokenizer(model), chat: loadChatTemplate(model) };
  const files = readTokenizerFiles(model)!, where = `${model} (GGUF tokenizer)`;
  return { tokenizer: Tokenizer.fromJSON(files.json, where), chat: ChatTemplate.fromJSON(files.config, where) };
}

export function loadPipeline(dir: string, opts: LoadOptions = {}): Pipeline {
  const { tokenizer, chat } = loadText(dir);
  const model = DeepSeekModel.load(dir, opts);
  if (tokenizer.vocabSize > model.cfg.vocabSize) {
    throw new Error(`${dir}: the tokenizer has ${tokenizer.vocabSize} tokens but config.json vocab_size is ${model.cfg.vocabSize}`);
  }
  return { dir, model, tokenizer, chat };
}

/**
 * Plain text → ids. With special tokens (the default, as HF's encode), BOS is prepended when tokenizer_config.json
 * says add_bos_token (DeepSeek-V3 does; its tokenizer.json post-processor alone does not add it).
 */
export function encodeText(tokenizer: Tokenizer, chat: ChatTemplate | null, text: string, addSpecialTokens = true): number[] {
  const ids = tokenizer.encode(text, { addSpecialTokens });
  const bos = chat?.bosToken ? tokenizer.tokenToId(chat.bosToken) : undefined;
  if (addSpecialTokens && chat?.addBosToken && bos !== undefined && ids[0] !== bos) ids.unshift(bos);
  return ids;
}

export function encodeChat(tokenizer: Tokenizer, chat: ChatTemplate | null, messages: ChatMessage[], where: string): number[] {
  if (!chat) throw new Error(`${where}: no chat template (tokenizer_config.json with "chat_template")`);
  return tokenizer.encode(chat.render(messages, { addGenerationPrompt: true }), { addSpecialTokens: false });
}
