// Translates the Oniguruma regex patterns found in tokenizer.json files (and tiktoken's pat_str, whose Rust regex
// syntax is the same for what tokenizers use) into JavaScript RegExps ("u" mode) that match the same spans: Unicode
// \s \d \w, "." excluding only "\n", line anchors, atomic groups and possessive quantifiers (emulated as
// (?=(?<g>X))\k<g>), nested classes and && intersections (as lookaheads), and (?i:...) groups of literals (as
// classes of case-fold partners). Leaves out: other inline flags, \G \K \R \X, and classes or \p inside (?i:...),
// which throw a clear error instead of silently matching differently.

import { oneLine, preview } from '../util/json.js';

const WHITE = '\\p{White_Space}';
const WORD_SET = '\\p{Alphabetic}\\p{M}\\p{Nd}\\p{Pc}'; // Unicode \w as UTS #18 defines it
const SYNTAX = new Set('^$\\.*+?()[]{}|/');
const MAX_CLASS_DEPTH = 64;

/**
 * Compiles an Oniguruma pattern to a global, Unicode JS RegExp. Throws naming `where` (the file and field it came
 * from) and the pattern if it is unsupported or invalid.
 */
export function compileOnigRegex(pattern: string, where = 'pattern'): RegExp {
  try {
    return new RegExp(translateOnig(pattern), 'gu');
  } catch (e) {
    if (!(e instanceof SyntaxError)) throw new Error(`${where}: ${(e as Error).message}`);
    throw new Error(`${where}: regex ${preview(pattern)}: not valid once translated to JavaScript (${oneLine(e.message)})`);
  }
}

/** A global JS RegExp matching the literal string `s`. */
export function literalRegex(s: string): RegExp {
  return new RegExp(s.replace(/[\\^$.*+?()[\]{}|/]/g, '\\$&'), 'gu');
}

/** The JS RegExp source for an Oniguruma pattern (exported for tests). */
export function translateOnig(pattern: string): string {
  const fail = (what: string): never => {
    throw new Error(`regex ${preview(pattern)}: unsupported Oniguruma construct ${oneLine(what)}`); // `what` quotes the pattern
  };
  const cps = Array.from(pattern);
  let out = '';
  let atomStart = -1;   // index in `out` where the last complete atom begins (for possessive quantifiers)
  let atomicCount = 0;
  const groups: { outStart: number; atomic: string | null; caseless: boolean }[] = [];
  let hasBackref = false;
  const folded = new Map<string, string>();
  const foldClass = (ch: string) => folded.get(ch) ?? folded.set(ch, caseFoldClass(ch)).get(ch)!;

  for (let i = 0; i < cps.length; i++) {
    const c = cps[i]!;
    const caseless = groups.some((g) => g.caseless);
    if (c === '\\') {
      const n = cps[++i];
      if (n === undefined) fail('trailing backslash');
      if (caseless && /[A-Za-z0-9]/.test(n!)) fail(`\\${n} inside (?i:...)`);
      const start = out.length;
      out += caseless ? foldClass(n!) : escape(n!, cps, i, fail);
      if (n === 'p' || n === 'P' || n === 'x' && cps[i + 1] === '{') i = cps.indexOf('}', i);
      if (n! >= '1' && n! <= '9') hasBackref = true;
      atomStart = start;
      continue;
    }
    switch (c) {
      case '[': {
        if (caseless) fail('character class inside (?i:...)');
        atomStart = out.length;
        const cls = parseClass(cps, i, fail);
        out += cls.source;
        i = cls.end;
        break;
      }
      case '(': {
        const rest = cps.slice(i + 1, i + 4).join('');
        const outStart = out.length;
        let atomic: string | null = null;
        let groupCaseless = caseless;
        if (rest.startsWith('?i:')) {
          // Scoped case-insensitivity (tiktoken patterns' contractions); Node 20's RegExp has no modifiers, so the
          // literals inside are expanded to their case-fold partners instead.
          groupCaseless = true;
          out += '(?:';
          i += 3;
        } else if (rest.startsWith('?>')) {
          atomic = `a${atomicCount++}`;
          out += `(?=(?<${atomic}>`;
          i += 2;
        } else if (rest.startsWith('?#')) {
          i = cps.indexOf(')', i);
          break;
        } else if (rest.startsWith('?') && !/^\?(:|=|!|<=|<!|<[A-Za-z])/.test(rest)) {
          fail(`(${rest}…) (inline options or unknown group)`);
        } else {
          out += '(';
        }
        groups.push({ outStart, atomic, caseless: groupCaseless });
        break;
      }
      case ')': {
        const g = groups.pop() ?? fail('unbalanced ")"');
        out += g!.atomic ? `))\\k<${g!.atomic}>` : ')';
        atomStart = g!.outStart;
        break;
      }
      case '*': case '+': case '?': case '{': {
        let q: string = c;
        if (c === '{') {
          const close = cps.indexOf('}', i);
          const body = close < 0 ? '' : cps.slice(i + 1, close).join('');
          if (!/^\d*,?\d*$/.test(body) || body === '' || body === ',') { out += '\\{'; atomStart = out.length - 2; break; }
          q = `{${body}}`;
          i = close;
        }
        const next = cps[i + 1];
        if (next === '?') { out += q + '?'; i++; }
        else if (next === '+' && c !== '{') {
          // Possessive X*+ == atomic (?>X*): match greedily, never give back.
          const name = `a${atomicCount++}`;
          out = `${out.slice(0, atomStart)}(?=(?<${name}>${out.slice(atomStart)}${q}))\\k<${name}>`;
          i++;
        } else if (next === '+') {
          // Ruby syntax: X{n,m}+ is two stacked quantifiers, not possessive.
          out = `${out.slice(0, atomStart)}(?:${out.slice(atomStart)}${q})+`;
          i++;
        } else out += q;
        break;
      }
      case '.': atomStart = out.length; out += '[^\\n]'; break;
      case '^': out += '(?<=^|\\n)'; break;
      case '$': out += '(?=\\n|$)'; break;
      case '/': atomStart = out.length; out += '\\/'; break;
      default: atomStart = out.length; out += caseless && c !== '|' ? foldClass(c) : c;
    }
  }
  if (groups.length) fail('unbalanced "("');
  if (hasBackref && atomicCount > 0) fail('numbered backreference together with atomic/possessive groups');
  return out;
}

/**
 * Parses the class starting at cps[start] === "[" and returns the JS source of a one-code-point matcher plus the
 * index of its closing "]". A flat class stays a JS class; nested classes (a union) and && (an intersection, the
 * loosest operator inside the class) become lookaheads: [\p{L}&&[^\p{Han}]] -> (?:(?=[^\p{Han}])[\p{L}]).
 */
function parseClass(cps: string[], start: number, fail: (w: string) => never, depth = 0): { source: string; end: number } {
  // Nesting is recursion here: a hostile pattern of thousands of "[" would exhaust the stack instead of failing.
  if (depth > MAX_CLASS_DEPTH) fail(`character classes nested more than ${MAX_CLASS_DEPTH} deep`);
  let i = start + 1;
  const negated = cps[i] === '^';
  if (negated) i++;
  const first = i;
  const operands: { members: string; nested: string[] }[] = [{ members: '', nested: [] }];
  for (; i < cps.length; i++) {
    const c = cps[i]!;
    const operand = operands[operands.length - 1]!;
    if (c === ']' && i > first) break;
    if (c === '\\') {
      const n = cps[++i];
      if (n === undefined) fail('trailing backslash');
      operand.members += classEscape(n!, cps, i, fail);
      if (n === 'p' || n === 'P' || n === 'x' && cps[i + 1] === '{') i = cps.indexOf('}', i);
    } else if (c === '[' && i > first) {
      const inner = parseClass(cps, i, fail, depth + 1);
      operand.nested.push(inner.source);
      i = inner.end;
    } else if (c === '&' && cps[i + 1] === '&') {
      operands.push({ members: '', nested: [] });
      i++;
    } else {
      operand.members += c === ']' ? '\\]' : c === '/' ? '\\/' : c === '[' ? '\\[' : c;
    }
  }
  if (i >= cps.length) fail('unterminated character class');
  const flat = operands.length === 1 && operands[0]!.nested.length === 0;
  if (flat) return { source: `[${negated ? '^' : ''}${operands[0]!.members}]`, end: i };
  const union = operands.map(({ members, nested }) => {
    const parts = members ? [`[${members}]`, ...nested] : nested;
    return parts.length === 1 ? parts[0]! : `(?:${parts.join('|')})`;
  });
  const last = union.pop()!;
  const inner = union.length ? `(?:${union.map((u) => `(?=${u})`).join('')}${last})` : last;
  return { source: negated ? `(?:(?!${inner})[\\s\\S])` : inner, end: i };
}

/**
 * A literal under (?i:...): a class of the characters that case-fold to the same as `ch` (Unicode simple folding,
 * as Rust's regex and Oniguruma use: "s" -> [Ssſ]), or the escaped literal when it has no partners. Case partners
 * lie in the same Unicode plane, so only that plane is scanned (about 2 ms).
 */
function caseFoldClass(ch: string): string {
  const literal = SYNTAX.has(ch) ? `\\${ch}` : ch;
  const same = new RegExp(`^${literal}$`, 'iu');
  const plane = ch.codePointAt(0)! & ~0xffff;
  const partners: string[] = [];
  for (let cp = plane; cp < plane + 0x10000; cp++) {
    if (cp >= 0xd800 && cp <= 0xdfff) continue;
    const s = String.fromCodePoint(cp);
    if (same.test(s)) partners.push(s);
  }
  return partners.length > 1 ? `[${partners.join('')}]` : literal;
}

/** An escape outside a character class. */
function escape(n: string, cps: string[], i: number, fail: (w: string) => never): string {
  switch (n) {
    case 's': return WHITE;
    case 'S': return '\\P{White_Space}';
    case 'd': return '\\p{Nd}';
    case 'D': return '\\P{Nd}';
    case 'w': return `[${WORD_SET}]`;
    case 'W': return `[^${WORD_SET}]`;
    case 'h': return '[0-9A-Fa-f]';
    case 'H': return '[^0-9A-Fa-f]';
    case 'A': return '^';
    case 'z': return '$';
    case 'Z': return '(?=\\n?$)';
    case 'G': case 'K': case 'R': case 'X': case 'y': case 'Y': return fail(`\\${n}`);
    default: return commonEscape(n, cps, i, fail, false);
  }
}

/** An escape inside a character class: must expand to class members, not a group. */
function classEscape(n: string, cps: string[], i: number, fail: (w: string) => never): string {
  switch (n) {
    case 's': return WHITE;
    case 'S': return '\\P{White_Space}';
    case 'd': return '\\p{Nd}';
    case 'D': return '\\P{Nd}';
    case 'w': return WORD_SET;
    case 'h': return '0-9A-Fa-f';
    case 'W': case 'H': return fail(`\\${n} inside a character class`);
    default: return commonEscape(n, cps, i, fail, true);
  }
}

function commonEscape(n: string, cps: string[], i: number, fail: (w: string) => never, inClass: boolean): string {
  if (n === 'p' || n === 'P') {
    const close = cps.indexOf('}', i);
    if (cps[i + 1] !== '{' || close < 0) return fail(`\\${n} without {name}`);
    let name = cps.slice(i + 2, close).join('');
    let neg = n === 'P';
    if (name.startsWith('^')) { neg = !neg; name = name.slice(1); }
    return `\\${neg ? 'P' : 'p'}{${propertyName(name, fail)}}`;
  }
  if (n === 'x' && cps[i + 1] === '{') {
    const close = cps.indexOf('}', i);
    return `\\u{${cps.slice(i + 2, close).join('')}}`;
  }
  if (/[A-Za-z0-9]/.test(n)) return `\\${n}`; // \n \t \r \f \v \b \B \0 \xHH \uHHHH \cX and backrefs
  if (SYNTAX.has(n) || (inClass && n === '-')) return `\\${n}`;
  return n; // identity escape of a non-syntax character (\' \" \# ...): a literal in both engines
}

/** Maps an Oniguruma property name to one JS accepts: as-is (L, Letter, White_Space) or as a script. */
function propertyName(name: string, fail: (w: string) => never): string {
  for (const candidate of [name, `Script=${name}`]) {
    try {
      new RegExp(`\\p{${candidate}}`, 'u');
      return candidate;
    } catch { /* try the next spelling */ }
  }
  return fail(`\\p{${name}}`);
}
