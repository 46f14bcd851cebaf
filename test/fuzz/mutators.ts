// Generators of broken inputs shared by the parser fuzz files: byte mutations (truncate, flip, splice, duplicate,
// delete), JSON-text mutations (the same plus duplicated keys, huge numbers, deep nesting) and structural JSON
// mutations (a value at some path replaced by a wrong type, a huge number, a deep nest, or removed). Not a test file.

import { fc } from './harness.js';

/** Numbers at the edges of what parsers assume: negative, fractional, beyond int32/uint32/2^53, overflowing to Infinity. */
export const EDGE_NUMBERS = [0, -1, -0.5, 1.5, 2 ** 31, 2 ** 32, 2 ** 53, 2 ** 53 + 2, 1e21, 1e308, -1e308, 5e-324, 2 ** 63] as const;

/** Number literals as JSON text, including ones JSON.parse turns into Infinity or rounds. */
const NUMBER_TEXTS = ['1e999', '-1e999', '99999999999999999999999', '18446744073709551616', '-0', '1e-400', '0.1e1', '1E2'];

/** `depth` nested arrays around `inner`: deep enough to overflow a naive recursive walk. */
export function nested(depth: number, inner: unknown = 0): unknown {
  let v = inner;
  for (let i = 0; i < depth; i++) v = [v];
  return v;
}

/** A value of a type a parser does not expect, or at a numeric edge. */
export function wrongValue(): fc.Arbitrary<unknown> {
  return fc.oneof(
    fc.constant(null),
    fc.boolean(),
    fc.integer({ min: -3, max: 70 }),
    fc.constantFrom(...EDGE_NUMBERS),
    fc.string({ maxLength: 12 }),
    fc.constantFrom('', '__proto__', 'constructor', 'NaN', 'a\nb', '\u0000', '\ud800'),
    fc.array(fc.oneof(fc.integer({ min: -2, max: 9 }), fc.string({ maxLength: 3 })), { maxLength: 4 }),
    fc.dictionary(fc.string({ maxLength: 4 }), fc.integer(), { maxKeys: 3 }),
    fc.integer({ min: 50, max: 1500 }).map((d) => nested(d)), // deeper nests come from mutatedJsonText (JSON.stringify would overflow here)
    fc.jsonValue({ maxDepth: 3 }),
  );
}

/** Every path (list of keys/indices) inside a JSON value, the root included. */
export function pathsOf(v: unknown, at: (string | number)[] = [], out: (string | number)[][] = []): (string | number)[][] {
  out.push(at);
  if (Array.isArray(v)) v.forEach((x, i) => pathsOf(x, [...at, i], out));
  else if (typeof v === 'object' && v !== null) for (const [k, x] of Object.entries(v)) pathsOf(x, [...at, k], out);
  return out;
}

type Edit = { path: (string | number)[]; op: 'set' | 'delete' | 'addKey'; value: unknown; key: string };

/** `root` with `e` applied, copying only the containers along the edited path (the rest is shared, never written). */
function applyEdit(root: unknown, e: Edit, depth = 0): unknown {
  if (depth === e.path.length) {
    if (e.op === 'set') return e.value;
    if (e.op === 'addKey' && typeof root === 'object' && root !== null && !Array.isArray(root)) return { ...root, [e.key]: e.value };
    return e.op === 'addKey' ? e.value : root;
  }
  const k = e.path[depth]!;
  if (typeof root !== 'object' || root === null || !Object.hasOwn(root, k)) return root; // path gone after an earlier edit
  const last = depth === e.path.length - 1;
  if (Array.isArray(root)) {
    const copy = [...root];
    if (last && e.op === 'delete') copy.splice(Number(k), 1);
    else copy[Number(k)] = applyEdit(root[Number(k)], e, depth + 1);
    return copy;
  }
  const copy: Record<string, unknown> = { ...root };
  if (last && e.op === 'delete') delete copy[k];
  else Object.defineProperty(copy, k, { value: applyEdit((root as Record<string, unknown>)[k], e, depth + 1), enumerable: true, writable: true, configurable: true }); // k may be "__proto__"
  return copy;
}

/**
 * `valid` with 1–3 structural edits: a value replaced by a wrongValue(), a key or element removed, or a key added.
 * `pick` biases which paths are edited (defaults to all of them).
 */
export function mutatedJsonValue(valid: unknown, paths: (string | number)[][] = pathsOf(valid)): fc.Arbitrary<unknown> {
  const edit: fc.Arbitrary<Edit> = fc.record({
    path: fc.constantFrom(...paths),
    op: fc.constantFrom('set', 'set', 'delete', 'addKey'),
    value: wrongValue(),
    key: fc.oneof(fc.string({ maxLength: 6 }), fc.constantFrom('__proto__', 'type', 'id', '')),
  }) as fc.Arbitrary<Edit>;
  return fc.array(edit, { minLength: 1, maxLength: 3 }).map((edits) => {
    let v = valid;
    for (const e of edits) v = applyEdit(v, e);
    return v;
  });
}

/** Bytes edited 1–4 times: truncated, a byte flipped, random bytes spliced in, a slice duplicated or deleted. */
export function mutatedBytes(valid: Uint8Array): fc.Arbitrary<Uint8Array> {
  const n = Math.max(1, valid.length);
  const edit = fc.oneof(
    fc.record({ op: fc.constant('truncate' as const), at: fc.nat(n) }),
    fc.record({ op: fc.constant('flip' as const), at: fc.nat(n - 1), bits: fc.integer({ min: 1, max: 255 }) }),
    fc.record({ op: fc.constant('splice' as const), at: fc.nat(n), bytes: fc.uint8Array({ maxLength: 16 }) }),
    fc.record({ op: fc.constant('duplicate' as const), at: fc.nat(n), len: fc.nat(64) }),
    fc.record({ op: fc.constant('delete' as const), at: fc.nat(n), len: fc.nat(64) }),
  );
  return fc.array(edit, { minLength: 1, maxLength: 4 }).map((edits) => {
    let b = Buffer.from(valid);
    for (const e of edits) {
      const at = Math.min(e.at, b.length);
      switch (e.op) {
        case 'truncate': b = b.subarray(0, at); break;
        case 'flip': if (at < b.length) { b = Buffer.from(b); b[at] ^= e.bits; } break;
        case 'splice': b = Buffer.concat([b.subarray(0, at), e.bytes, b.subarray(at)]); break;
        case 'duplicate': b = Buffer.concat([b.subarray(0, at + e.len), b.subarray(at, at + e.len), b.subarray(at + e.len)]); break;
        case 'delete': b = Buffer.concat([b.subarray(0, at), b.subarray(at + e.len)]); break;
      }
    }
    return new Uint8Array(b);
  });
}

/**
 * JSON text edited 1–3 times: byte mutations, a `"key": value` member duplicated (JSON.parse keeps the last one),
 * a number replaced by an extreme literal, or a value wrapped in deep nesting.
 */
export function mutatedJsonText(valid: string): fc.Arbitrary<string> {
  const member = /"(?:[^"\\]|\\.)*"\s*:\s*(?:"(?:[^"\\]|\\.)*"|-?\d[\d.eE+-]*|true|false|null)/g;
  const members = [...valid.matchAll(member)].map((m) => ({ at: m.index, text: m[0] }));
  const numbers = [...valid.matchAll(/-?\d[\d.eE+-]*/g)].map((m) => ({ at: m.index, len: m[0].length }));
  const textEdit = fc.oneof(
    fc.record({ op: fc.constant('dupKey' as const), k: fc.nat(Math.max(0, members.length - 1)), value: wrongValue() }),
    fc.record({ op: fc.constant('number' as const), k: fc.nat(Math.max(0, numbers.length - 1)), lit: fc.constantFrom(...NUMBER_TEXTS) }),
    fc.record({ op: fc.constant('nest' as const), k: fc.nat(Math.max(0, numbers.length - 1)), depth: fc.oneof({ arbitrary: fc.integer({ min: 100, max: 2000 }), weight: 3 }, { arbitrary: fc.integer({ min: 10_000, max: 20_000 }), weight: 1 }) }),
  );
  const bytes = mutatedBytes(Buffer.from(valid)).map((b) => Buffer.from(b).toString('utf8'));
  return fc.oneof(
    bytes,
    fc.array(textEdit, { minLength: 1, maxLength: 3 }).map((edits) => {
      const at = (e: (typeof edits)[number]): number => (e.op === 'dupKey' ? members[e.k]?.at : numbers[e.k]?.at) ?? 0;
      let t = valid;
      for (const e of [...edits].sort((a, b) => at(b) - at(a))) { // back to front, so earlier positions stay valid
        if (e.op === 'dupKey' && members[e.k]) {
          const m = members[e.k]!;
          const key = m.text.slice(0, m.text.indexOf(':'));
          t = `${t.slice(0, m.at)}${m.text}, ${key}: ${JSON.stringify(e.value) ?? 'null'}${t.slice(m.at + m.text.length)}`;
        } else if (e.op === 'number' && numbers[e.k]) {
          const m = numbers[e.k]!;
          t = t.slice(0, m.at) + e.lit + t.slice(m.at + m.len);
        } else if (e.op === 'nest' && numbers[e.k]) {
          const m = numbers[e.k]!;
          t = t.slice(0, m.at) + '['.repeat(e.depth) + t.slice(m.at, m.at + m.len) + ']'.repeat(e.depth) + t.slice(m.at + m.len);
        }
      }
      return t;
    }),
  );
}
