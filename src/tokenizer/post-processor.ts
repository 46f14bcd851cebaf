// The "post_processor" of a tokenizer.json, reduced to what it does to the ids of one sequence when special
// tokens are requested: ByteLevel adds nothing, TemplateProcessing follows its "single" template, Bert/Roberta
// wrap in cls ... sep, Sequence chains them. Leaves out: pairs, type ids and offsets.

import { MAX_SEQUENCE_DEPTH } from './pre-tokenizer.js';
import { preview } from '../util/json.js';

export type PostProcessor = (ids: number[]) => number[];

export function buildPostProcessor(json: unknown, where: string, depth = 0): PostProcessor {
  if (json === null || json === undefined) return (ids) => ids;
  const o = json as Record<string, unknown>;
  switch (o.type) {
    case 'ByteLevel': return (ids) => ids;
    case 'Sequence': {
      if (!Array.isArray(o.processors)) throw new Error(`${where}: Sequence post-processor needs "processors"`);
      if (depth >= MAX_SEQUENCE_DEPTH) throw new Error(`${where}: Sequence post-processors nested more than ${MAX_SEQUENCE_DEPTH} deep`);
      const parts = o.processors.map((p, i) => buildPostProcessor(p, `${where}.processors[${i}]`, depth + 1));
      return (ids) => parts.reduce((acc, f) => f(acc), ids);
    }
    case 'TemplateProcessing': return templateProcessing(o, where);
    case 'BertProcessing': case 'RobertaProcessing': {
      const cls = (o.cls as [string, number] | undefined)?.[1];
      const sep = (o.sep as [string, number] | undefined)?.[1];
      if (!Number.isInteger(cls) || !Number.isInteger(sep)) throw new Error(`${where}: ${o.type} needs cls and sep [token, id]`);
      return (ids) => [cls!, ...ids, sep!];
    }
    default: throw new Error(`${where}: unsupported post_processor type ${preview(o.type)}`);
  }
}

/** Example: single [{SpecialToken:{id:"<s>"}}, {Sequence:{id:"A"}}] with "<s>" -> ids [0] turns [5, 6] into [0, 5, 6]. */
function templateProcessing(o: Record<string, unknown>, where: string): PostProcessor {
  if (!Array.isArray(o.single)) throw new Error(`${where}: TemplateProcessing needs a "single" template`);
  const specials = (o.special_tokens ?? {}) as Record<string, { ids?: unknown }>;
  const pieces: (number[] | 'A')[] = o.single.map((piece: Record<string, { id?: unknown }> | null, i) => {
    if (typeof piece !== 'object' || piece === null) throw new Error(`${where}: single template piece ${i} must be an object`);
    if (piece.Sequence) {
      if (piece.Sequence.id !== 'A') throw new Error(`${where}: single template piece ${i} must use sequence "A"`);
      return 'A';
    }
    const name = piece.SpecialToken?.id;
    const ids = typeof name === 'string' ? specials[name]?.ids : undefined;
    if (!Array.isArray(ids) || !ids.every(Number.isInteger)) {
      throw new Error(`${where}: template special token ${preview(name)} has no ids in "special_tokens"`);
    }
    return ids as number[];
  });
  return (ids) => pieces.flatMap((p) => (p === 'A' ? ids : p));
}
