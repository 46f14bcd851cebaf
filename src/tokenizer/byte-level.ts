// GPT-2 byte-level alphabet: each of the 256 byte values is shown as one printable character, so that
// byte-level BPE vocabularies are plain strings (space 0x20 is "Ġ", newline 0x0A is "Ċ"). Plus UTF-8 encoding
// of JS strings into byte lists. Leaves out: the merge loop (bpe-model.ts) and text decoding (bpe.ts).

/** byteToChar[b] is the printable character standing for byte b. */
export const BYTE_TO_CHAR: readonly string[] = buildByteToChar();

/** Inverse of BYTE_TO_CHAR: character code -> byte, for the 256 byte characters. */
export const CHAR_TO_BYTE: ReadonlyMap<string, number> = new Map(BYTE_TO_CHAR.map((c, b) => [c, b]));

function buildByteToChar(): string[] {
  // Printable Latin-1 bytes stand for themselves; the other 68 are shifted to U+0100.. in byte order.
  const printable = (b: number) => (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
  const out: string[] = new Array(256);
  let next = 0;
  for (let b = 0; b < 256; b++) out[b] = String.fromCharCode(printable(b) ? b : 256 + next++);
  return out;
}

/**
 * Appends the UTF-8 bytes of `text` to `out`. Lone surrogates become U+FFFD (EF BF BD), as TextEncoder does.
 * Example: utf8Bytes("é€", []) -> [0xC3, 0xA9, 0xE2, 0x82, 0xAC].
 */
export function utf8Bytes(text: string, out: number[]): number[] {
  for (let i = 0; i < text.length; i++) {
    let c = text.charCodeAt(i);
    if (c < 0x80) { out.push(c); continue; }
    if (c < 0x800) { out.push(0xc0 | (c >> 6), 0x80 | (c & 63)); continue; }
    if (c >= 0xd800 && c <= 0xdfff) {
      const d = i + 1 < text.length ? text.charCodeAt(i + 1) : 0;
      if (c <= 0xdbff && d >= 0xdc00 && d <= 0xdfff) {
        c = 0x10000 + ((c - 0xd800) << 10) + (d - 0xdc00);
        i++;
        out.push(0xf0 | (c >> 18), 0x80 | ((c >> 12) & 63), 0x80 | ((c >> 6) & 63), 0x80 | (c & 63));
        continue;
      }
      c = 0xfffd;
    }
    out.push(0xe0 | (c >> 12), 0x80 | ((c >> 6) & 63), 0x80 | (c & 63));
  }
  return out;
}

/** The byte-level string of `text`: its UTF-8 bytes, each shown as its alphabet character ("a b" -> "aĠb"). */
export function toByteLevel(text: string): string {
  return utf8Bytes(text, []).map((b) => BYTE_TO_CHAR[b]).join('');
}

/**
 * Bytes a token string stands for when decoding, as HF's ByteLevel decoder does: if every character is in the
 * byte alphabet, the bytes they stand for; otherwise (e.g. "<｜User｜>") the token's own UTF-8 bytes.
 */
export function tokenBytes(token: string): Uint8Array {
  const bytes: number[] = [];
  for (const ch of token) {
    const b = CHAR_TO_BYTE.get(ch);
    if (b === undefined) return Uint8Array.from(utf8Bytes(token, []));
    bytes.push(b);
  }
  return Uint8Array.from(bytes);
}
