// Reads a tiktoken-format tokenizer folder as Moonlight-16B-A3B (and the Kimi line) ships it: tiktoken.model holds
// one "base64-bytes rank" line per token (the rank is the id and the merge priority), tokenizer_config.json names
// the 256 reserved ids after the ranks (added_tokens_decoder), and the pre-tokenizer regex lives in Python
// (tokenization_moonshot.py's pat_str), so it is a constant here, checked against that file when present.
// Leaves out: running the Python, other pat_str values, and writing tiktoken files.

import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { MAX_TOKEN_IDS, type AddedToken } from './added-tokens.js';
import { BpeModel } from './bpe-model.js';
import { Tokenizer } from './bpe.js';
import { BYTE_TO_CHAR } from './byte-level.js';
import { compileOnigRegex } from './onig-regex.js';
import { splitText } from './pre-tokenizer.js';
import { parseJson, preview } from '../util/json.js';

/** Moonlight's pat_str (tokenization_moonshot.py), alternative by alternative, in its own Rust regex syntax. */
export const MOONSHOT_PATTERN_PARTS: readonly string[] = [
  String.raw`[\p{Han}]+`,
  String.raw`[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}&&[^\p{Han}]]*[\p{Ll}\p{Lm}\p{Lo}\p{M}&&[^\p{Han}]]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?`,
  String.raw`[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}&&[^\p{Han}]]+[\p{Ll}\p{Lm}\p{Lo}\p{M}&&[^\p{Han}]]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?`,
  String.raw`\p{N}{1,3}`,
  String.raw` ?[^\s\p{L}\p{N}]+[\r\n]*`,
  String.raw`\s*[\r\n]+`,
  String.raw`\s+(?!\S)`,
  String.raw`\s+`,
];
export const MOONSHOT_PATTERN = MOONSHOT_PATTERN_PARTS.join('|');

/** tokenization_moonshot.py's num_reserved_special_tokens: ids ranks.length .. ranks.length + 255 are special. */
export const NUM_RESERVED_SPECIAL_TOKENS = 256;

export const TIKTOKEN_FILE = 'tiktoken.model';
const CONFIG_FILE = 'tokenizer_config.json';

/** Whether `dir` holds a tiktoken-format tokenizer. */
export function isTiktokenFolder(dir: string): boolean {
  return existsSync(join(dir, TIKTOKEN_FILE));
}

/** The Tokenizer of a tiktoken-format folder; every error names the file (and line) at fault. */
export function loadTiktokenFolder(dir: string): Tokenizer {
  const modelPath = join(dir, TIKTOKEN_FILE);
  const configPath = join(dir, CONFIG_FILE);
  const ranks = parseTiktokenRanks(readText(modelPath, 'tiktoken ranks'), modelPath);
  if (!existsSync(configPath)) throw new Error(`${configPath}: not found (a ${TIKTOKEN_FILE} folder needs it to name its special tokens)`);
  const config = parseJson(readText(configPath, 'tokenizer config'), `${configPath}: not valid JSON`);
  checkPatternSource(dir);
  return tiktokenTokenizer(ranks, reservedTokens(config, ranks.length, configPath), modelPath);
}

/**
 * A Tokenizer from ranks (ranks[r] = the bytes of token r) and the special tokens: tiktoken's encoder with
 * Moonlight's pattern, every special token recognised in text (tiktoken's allowed_special="all").
 */
export function tiktokenTokenizer(ranks: readonly Uint8Array[], specials: AddedToken[], source: string): Tokenizer {
  const vocab = new Map<string, number>();
  ranks.forEach((bytes, rank) => {
    let token = '';
    for (const b of bytes) token += BYTE_TO_CHAR[b]!;
    vocab.set(token, rank);
  });
  const re = compileOnigRegex(MOONSHOT_PATTERN, `${source}: pat_str`);
  return Tokenizer.fromParts({
    vocab,
    model: BpeModel.fromRanks(vocab),
    preTokenizer: (text, out) => splitText(text, re, 'Isolated', false, out),
    normalizer: null,
    postProcessor: (ids) => ids,
    addedTokens: specials,
  }, source);
}

/**
 * Parses tiktoken.model text into the bytes of each rank, as tiktoken's load_tiktoken_bpe reads it (blank lines
 * skipped), but refusing what it would accept silently: bad base64, a repeated rank or token, a gap in the ranks,
 * and a byte with no token of its own (which tiktoken's encoder cannot encode).
 */
export function parseTiktokenRanks(text: string, where: string): Uint8Array[] {
  const ranks: (Uint8Array | undefined)[] = [];
  const lineOfRank: number[] = [];
  const rankOfToken = new Map<string, number>();
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.endsWith('\r') ? lines[i]!.slice(0, -1) : lines[i]!;
    if (line === '') continue;
    const at = `${where}:${i + 1}`;
    const fields = line.split(' ');
    if (fields.length !== 2) throw new Error(`${at}: expected "base64-bytes rank", got ${preview(line)}`);
    const [b64, rankText] = fields as [string, string];
    if (!/^[A-Za-z0-9+/]+={0,2}$/.test(b64) || Buffer.from(b64, 'base64').toString('base64') !== b64) {
      throw new Error(`${at}: ${preview(b64)} is not canonical base64`);
    }
    if (!/^\d+$/.test(rankText) || Number(rankText) >= MAX_TOKEN_IDS) {
      throw new Error(`${at}: rank ${preview(rankText)} is not an integer in 0..${MAX_TOKEN_IDS - 1}`);
    }
    const rank = Number(rankText);
    if (ranks[rank] !== undefined) throw new Error(`${at}: rank ${rank} was already given on line ${lineOfRank[rank]! + 1}`);
    const earlier = rankOfToken.get(b64);
    if (earlier !== undefined) throw new Error(`${at}: token ${b64} already has rank ${earlier} (line ${lineOfRank[earlier]! + 1})`);
    ranks[rank] = Uint8Array.from(Buffer.from(b64, 'base64'));
    lineOfRank[rank] = i;
    rankOfToken.set(b64, rank);
  }
  if (ranks.length === 0) throw new Error(`${where}: no ranks (the file is empty)`);
  const gap = ranks.findIndex((r) => r === undefined);
  if (gap >= 0) throw new Error(`${where}: rank ${gap} is missing (ranks must run 0..${ranks.length - 1} without gaps)`);
  const single = new Set<number>();
  for (const r of ranks) if (r!.length === 1) single.add(r![0]!);
  for (let b = 0; b < 256; b++) {
    if (!single.has(b)) throw new Error(`${where}: byte 0x${b.toString(16).padStart(2, '0')} has no rank (every single byte needs one)`);
  }
  return ranks as Uint8Array[];
}

/**
 * The 256 special tokens after `nRanks` ranks, as tokenization_moonshot.py builds them: the content named by
 * tokenizer_config.json's added_tokens_decoder, else "<|reserved_token_{id}|>". Moonlight: [BOS] 163584, [EOS]
 * 163585, <|im_end|> 163586, <|im_user|> 163587, <|im_assistant|> 163588, <|im_system|> 163594, <|im_middle|>
 * 163601, [PAD] 163838, [UNK] 163839.
 */
export function reservedTokens(config: unknown, nRanks: number, where: string): AddedToken[] {
  if (typeof config !== 'object' || config === null || Array.isArray(config)) throw new Error(`${where}: expected a JSON object`);
  const decoder = (config as Record<string, unknown>).added_tokens_decoder ?? {};
  if (typeof decoder !== 'object' || decoder === null || Array.isArray(decoder)) throw new Error(`${where}: "added_tokens_decoder" must be an object`);
  const named = new Map<number, { content: string; special: boolean }>();
  for (const [key, value] of Object.entries(decoder)) {
    const id = Number(key);
    const v = value as Record<string, unknown> | null;
    if (!/^\d+$/.test(key) || id < nRanks || id >= nRanks + NUM_RESERVED_SPECIAL_TOKENS) {
      throw new Error(`${where}: added_tokens_decoder id ${preview(key)} is not one of the ${NUM_RESERVED_SPECIAL_TOKENS} reserved ids ${nRanks}..${nRanks + NUM_RESERVED_SPECIAL_TOKENS - 1} after the ranks`);
    }
    if (typeof v?.content !== 'string' || v.content === '') throw new Error(`${where}: added_tokens_decoder[${key}] needs a non-empty "content"`);
    named.set(id, { content: v.content, special: v.special !== false });
  }
  const tokens: AddedToken[] = [];
  const idOf = new Map<string, number>();
  for (let id = nRanks; id < nRanks + NUM_RESERVED_SPECIAL_TOKENS; id++) {
    const { content, special } = named.get(id) ?? { content: `<|reserved_token_${id}|>`, special: true };
    const other = idOf.get(content);
    if (other !== undefined) throw new Error(`${where}: special token ${preview(content)} is given both id ${other} and id ${id}`);
    idOf.set(content, id);
    // tiktoken matches a special token exactly: no stripping of the spaces around it, no normalisation.
    tokens.push({ id, content, special, singleWord: false, lstrip: false, rstrip: false, normalized: false });
  }
  return tokens;
}

/**
 * The folder's tokenization_*.py, when there is one, must spell the same pat_str as MOONSHOT_PATTERN: a different
 * pattern would split text differently and silently change every id.
 */
function checkPatternSource(dir: string): void {
  for (const name of readdirSync(dir).filter((n) => /^tokenization_.*\.py$/.test(n)).sort()) {
    const path = join(dir, name);
    const source = readText(path, 'tokenizer code');
    if (!source.includes('pat_str')) continue;
    const missing = MOONSHOT_PATTERN_PARTS.find((part) => !source.includes(part));
    if (missing !== undefined) {
      throw new Error(`${path}: its pat_str differs from Moonlight's (no alternative ${preview(missing)}); only Moonlight's pre-tokenizer pattern is supported`);
    }
  }
}

function readText(path: string, what: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (e) {
    throw new Error(`${path}: cannot read ${what} (${(e as Error).message})`);
  }
}
