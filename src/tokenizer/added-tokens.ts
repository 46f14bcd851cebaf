// Added tokens of a tokenizer.json ("added_tokens"): parsing, and cutting a text around their occurrences
// (leftmost-longest, honouring single_word, lstrip and rstrip) before the normal pipeline sees it.
// Leaves out: offsets, and adding tokens at runtime.

export interface AddedToken {
  id: number;
  content: string;
  special: boolean;
  singleWord: boolean;
  lstrip: boolean;
  rstrip: boolean;
  normalized: boolean;
}

/**
 * Token ids must lie below this (2^24): the tokenizer keeps per-id tables as long as the largest id, so a stray
 * huge id would otherwise allocate gigabytes. Real vocabularies stay far below (DeepSeek-V3: 129,280).
 */
export const MAX_TOKEN_IDS = 2 ** 24;

export function parseAddedTokens(json: unknown, where: string): AddedToken[] {
  if (json === undefined || json === null) return [];
  if (!Array.isArray(json)) throw new Error(`${where}: "added_tokens" must be an array`);
  return json.map((t: Record<string, unknown>, i) => {
    if (!Number.isInteger(t?.id) || (t.id as number) < 0 || typeof t.content !== 'string' || t.content === '') {
      throw new Error(`${where}: added_tokens[${i}] needs a non-negative integer "id" and a non-empty "content"`);
    }
    if ((t.id as number) >= MAX_TOKEN_IDS) throw new Error(`${where}: added_tokens[${i}] has id ${t.id as number}; ids must be below ${MAX_TOKEN_IDS}`);
    return {
      id: t.id as number,
      content: t.content,
      special: t.special === true,
      singleWord: t.single_word === true,
      lstrip: t.lstrip === true,
      rstrip: t.rstrip === true,
      normalized: t.normalized === true,
    };
  });
}

/** Finds a fixed set of added tokens in text. */
export class AddedTokenMatcher {
  private readonly re: RegExp | null;
  private readonly byContent: Map<string, AddedToken>;

  constructor(tokens: readonly AddedToken[]) {
    this.byContent = new Map(tokens.map((t) => [t.content, t]));
    // Longest first, so at the leftmost position the alternation picks the longest token.
    const contents = [...this.byContent.keys()].sort((a, b) => b.length - a.length);
    const escaped = contents.map((c) => c.replace(/[\\^$.*+?()[\]{}|/]/g, '\\$&'));
    this.re = contents.length ? new RegExp(escaped.join('|'), 'gu') : null;
  }

  /**
   * Calls emit(piece, -1) for the plain text between tokens and emit(content, id) for each token found.
   * lstrip/rstrip tokens swallow the whitespace beside them. Example with "<s>" (id 7, rstrip):
   * "a<s>  b" -> ("a", -1), ("<s>", 7), ("b", -1).
   */
  split(text: string, emit: (piece: string, id: number) => void): void {
    if (!this.re || !text) { if (text) emit(text, -1); return; }
    const re = this.re;
    re.lastIndex = 0;
    let prev = 0;
    for (let m = re.exec(text); m !== null; m = re.exec(text)) {
      const tok = this.byContent.get(m[0])!;
      let start = m.index;
      let end = start + m[0].length;
      if (tok.singleWord && (isWordChar(text, start - 1) || isWordChar(text, end))) {
        re.lastIndex = start + 1;
        continue;
      }
      if (tok.lstrip) while (start > prev && /\s/u.test(text[start - 1]!)) start--;
      if (tok.rstrip) while (end < text.length && /\s/u.test(text[end]!)) end++;
      if (start > prev) emit(text.slice(prev, start), -1);
      emit(tok.content, tok.id);
      prev = end;
      re.lastIndex = end;
    }
    if (prev < text.length) emit(text.slice(prev), -1);
  }
}

function isWordChar(text: string, i: number): boolean {
  return i >= 0 && i < text.length && /[\p{L}\p{N}_]/u.test(text[i]!);
}
