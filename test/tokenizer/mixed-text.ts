// Deterministic test text for the tokenizer: a table of hard cases (scripts, code, emoji, digits, whitespace,
// special tokens, lone surrogates) and a seeded generator that mixes them into texts of any size.
// Leaves out: expected ids (the tests take them from @huggingface/tokenizers).

/** Named cases; each is encoded alone and also used as a fragment of the mixed text. */
export const CASES: readonly { name: string; text: string }[] = [
  { name: 'empty', text: '' },
  { name: 'english', text: 'The quick brown fox jumps over the lazy dog. It\'s, they\'re, we\'ll, I\'d, DON\'T.' },
  { name: 'chinese', text: '深度求索发布了新的语言模型，它在数学和代码任务上表现出色。' },
  { name: 'japanese', text: 'こんにちは、世界！カタカナとひらがなと漢字が混ざった文章です。ｶﾀｶﾅ' },
  { name: 'korean', text: '안녕하세요 세계' },
  { name: 'accents', text: 'naïve café, Ångström, résumé — déjà vu; e\u0301 (combining)' },
  { name: 'python', text: 'def fib(n: int) -> int:\n    if n < 2:\n        return n\n    return fib(n - 1) + fib(n - 2)\n' },
  { name: 'javascript', text: 'const f = (x) => {\n\treturn x?.y ?? [1, 2, 3].map((v) => v ** 2);\n};\n// done\n' },
  { name: 'emoji', text: '😀 👍🏽 👩🏾‍💻 👨‍👩‍👧‍👦 🏳️‍🌈 🇯🇵🇫🇷 ❤️ 🫠' },
  { name: 'digits', text: '1 12 123 1234 1234567 3.14159 1,000,000 0x1F abc123def v2 ٣٤٥ ①②' },
  { name: 'digits-long', text: '12345678901234567890' },
  { name: 'spaces', text: 'a  b   c    d' },
  { name: 'tabs-newlines', text: 'a\tb\t\tc\nd\n\ne\r\nf\r\n\r\n' },
  { name: 'mixed-whitespace', text: '  \t \n  \n\t\t x \u00a0y\u3000z\u2003w' },
  { name: 'trailing-whitespace', text: 'end with spaces   ' },
  { name: 'only-newlines', text: '\n\n\n' },
  { name: 'unicode-whitespace', text: 'x\u0085y \ufeffz\u2028w\u2029v \u200b' },
  { name: 'punctuation', text: '!!! ??? ... --- (a) [b] {c} <d> "e" \'f\' `g` ~h @i #j $k %l ^m &n *o _p +q =r |s \\t /u :v ;w' },
  { name: 'cjk-punctuation', text: '「引用」『二重』【括弧】、。・…—' },
  { name: 'special-tokens', text: '<｜begin▁of▁sentence｜>You are helpful.<｜User｜>Hi<｜Assistant｜>Hello!<｜end▁of▁sentence｜>' },
  { name: 'special-adjacent', text: 'x<｜User｜><｜User｜> <｜Assistant｜>\n<｜tool▁sep｜>y' },
  { name: 'special-lookalike', text: '<｜User> <|User|> <｜User｜ <｜fim▁hole｜>' },
  { name: 'lone-surrogates', text: 'a\ud800b\udc00c\ud83d' },
  { name: 'control-chars', text: '\u0000\u0001\u001f\u007f\u009f' },
  { name: 'long-word', text: 'a'.repeat(300) + ' ' + 'xyz'.repeat(200) },
  { name: 'long-space-run', text: ' '.repeat(500) + 'x' },
];

/** Small deterministic PRNG (mulberry32). */
export function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A text of at least `minChars` UTF-16 units mixing the cases (less `exclude`d names) with joiners and numbers. */
export function mixedText(minChars: number, seed = 1, exclude: readonly string[] = []): string {
  const rand = rng(seed);
  const cases = CASES.filter((c) => !exclude.includes(c.name) && c.text !== '');
  const joiners = [' ', '\n', '', '  ', '\t', '\n\n', '. ', '，'];
  const parts: string[] = [];
  let length = 0;
  while (length < minChars) {
    const pick = rand();
    let piece: string;
    if (pick < 0.1) piece = String(Math.floor(rand() * 10 ** Math.floor(rand() * 9)));
    else {
      const c = cases[Math.floor(rand() * cases.length)]!.text;
      // Take a random slice sometimes, to create unusual boundaries.
      piece = rand() < 0.3 ? c.slice(Math.floor(rand() * c.length)) : c;
    }
    piece += joiners[Math.floor(rand() * joiners.length)]!;
    parts.push(piece);
    length += piece.length;
  }
  return parts.join('');
}

/** What decode(encode(text)) gives: text with lone surrogates replaced by U+FFFD. */
export function wellFormed(text: string): string {
  return text.replace(/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g, '\ufffd');
}
