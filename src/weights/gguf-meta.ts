// Typed getters for GGUF metadata: each returns the value of one key if it has one of the accepted types and throws a
// message naming the file and the key otherwise; the `...Opt` twins return undefined when the key is absent (a
// present key of the wrong type still throws). Leaves out any meaning of the keys.

import { NUMERIC_TYPES, type GgufScalar, type GgufScalarType, type GgufValue } from './gguf-types.js';
import type { GgufFile } from './gguf-read.js';

function typeName(v: GgufValue): string {
  return v.type === 'array' ? `array of ${v.itemType}` : v.type;
}

function scalarOpt(f: GgufFile, key: string, types: readonly GgufScalarType[]): GgufScalar | undefined {
  const v = f.metadata.get(key);
  if (v === undefined) return undefined;
  if (v.type === 'array' || !types.includes(v.type)) {
    throw new Error(`${f.path}: metadata key "${key}" has type ${typeName(v)}, expected ${types.join('|')}`);
  }
  return v.value;
}

function required<T>(f: GgufFile, key: string, v: T | undefined): T {
  if (v === undefined) throw new Error(`${f.path}: metadata key "${key}" is missing`);
  return v;
}

export function metaStringOpt(f: GgufFile, key: string): string | undefined {
  return scalarOpt(f, key, ['string']) as string | undefined;
}
export function metaString(f: GgufFile, key: string): string {
  return required(f, key, metaStringOpt(f, key));
}

/** A number of one of `types` (default: any numeric type). */
export function metaNumberOpt(f: GgufFile, key: string, types: readonly GgufScalarType[] = NUMERIC_TYPES): number | undefined {
  return scalarOpt(f, key, types) as number | undefined;
}
export function metaNumber(f: GgufFile, key: string, types: readonly GgufScalarType[] = NUMERIC_TYPES): number {
  return required(f, key, metaNumberOpt(f, key, types));
}

export function metaBoolOpt(f: GgufFile, key: string): boolean | undefined {
  return scalarOpt(f, key, ['bool']) as boolean | undefined;
}
export function metaBool(f: GgufFile, key: string): boolean {
  return required(f, key, metaBoolOpt(f, key));
}

/** The items of an array whose item type is one of `itemTypes` (default: any). */
export function metaArrayOpt(f: GgufFile, key: string, itemTypes?: readonly GgufScalarType[]): GgufScalar[] | undefined {
  const v = f.metadata.get(key);
  if (v === undefined) return undefined;
  if (v.type !== 'array' || (itemTypes !== undefined && !itemTypes.includes(v.itemType))) {
    const expected = itemTypes === undefined ? 'an array' : `array of ${itemTypes.join('|')}`;
    throw new Error(`${f.path}: metadata key "${key}" has type ${typeName(v)}, expected ${expected}`);
  }
  return v.value;
}
export function metaArray(f: GgufFile, key: string, itemTypes?: readonly GgufScalarType[]): GgufScalar[] {
  return required(f, key, metaArrayOpt(f, key, itemTypes));
}
