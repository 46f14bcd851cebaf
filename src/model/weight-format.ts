// `--weights stored|bf16|fp8|q8|q4`: what each tensor of a checkpoint becomes in memory, decided before any byte is
// read, so the loader can size arenas and check the machine's memory first and `info` can report every choice.
// - stored keeps what the checkpoint holds; GGUF's Q4_K / Q6_K, which no kernel reads, become Q8_0 (their rows are
//   whole 256-value blocks, so always whole Q8_0 blocks).
// - bf16 narrows the projection matrices and heads that are wider (f32, f16) or decodes FP8 ones.
// - fp8 is DeepSeek's own format: the projections (attention, dense FFN, experts) as E4M3 with 128×128 block scales.
// - q8 / q4: the projections as ggml's Q8_0 / Q4_0; the output heads as Q8_0 in both (as llama.cpp keeps its output
//   matrix wider than its 4-bit layers: every token reads the whole head).
// Norms, the router, e_score_correction_bias, the embedding and MTP's eh_proj keep their stored width in every
// format. A matrix whose rows are not a multiple of 32 cannot take Q8_0/Q4_0: it falls back to bf16 (or stays FP8)
// and the plan names it.

import type { DType } from '../tensor/tensor.js';
import { byteSize } from '../tensor/tensor.js';
import type { StoredDType } from '../weights/dtypes.js';
import type { ExpectedTensor } from '../weights/names.js';
import type { ConvertTarget } from '../weights/quantize.js';
import { e4m3ScaleShape } from '../weights/quantize.js';

export type WeightFormat = 'stored' | 'bf16' | 'fp8' | 'q8' | 'q4';
export const WEIGHT_FORMATS: readonly WeightFormat[] = ['stored', 'bf16', 'fp8', 'q8', 'q4'];

export function parseWeightFormat(v: string, where: string): WeightFormat {
  if (!(WEIGHT_FORMATS as readonly string[]).includes(v)) throw new Error(`${where} must be one of ${WEIGHT_FORMATS.join(', ')}, got "${v}"`);
  return v as WeightFormat;
}

const STORED: Record<Exclude<StoredDType, 'Q4_K' | 'Q6_K'>, DType> = { F32: 'f32', BF16: 'bf16', F16: 'f16', F8_E4M3: 'e4m3', Q8_0: 'q8_0', Q4_0: 'q4_0' };
const HEAD = /^(lm_head|model\.layers\.\d+\.shared_head\.head)\.weight$/;

/** A tensor as the checkpoint holds it. */
export interface StoredTensor { readonly dtype: StoredDType; readonly shape: readonly number[]; readonly scaleShape: readonly number[] | null }

/** A tensor as it will be held. */
export interface ResidentTensor {
  readonly dtype: DType;
  /** The conversion the loader applies, or null to read the stored bytes as they are. */
  readonly convert: ConvertTarget | null;
  /** Shape of the f32 block scales of an e4m3 tensor (stored or made), else null. */
  readonly scaleShape: readonly number[] | null;
  /** Bytes of the tensor and of its scales. */
  readonly bytes: number;
  readonly scaleBytes: number;
  /** Why the tensor did not take the format, when it did not. */
  readonly fallback?: string;
}

/** What `stored` becomes under `format`; `expected` says which parameter it is (names.ts). */
export function residentOf(name: string, expected: ExpectedTensor, stored: StoredTensor, format: WeightFormat): ResidentTensor {
  const keep = (): ResidentTensor => (stored.dtype === 'Q4_K' || stored.dtype === 'Q6_K'
    ? made('q8_0', 'q8_0', stored.shape, null)
    : made(STORED[stored.dtype], null, stored.shape, stored.scaleShape));
  const projection = expected.fp8Allowed, head = HEAD.test(name);
  if (format === 'stored' || stored.shape.length !== 2 || !(projection || head)) return keep();
  const bf16 = (fallback?: string): ResidentTensor =>
    (stored.dtype === 'BF16' ? { ...keep(), fallback } : { ...made('bf16', 'bf16', stored.shape, null), fallback });
  switch (format) {
    case 'bf16': return bf16();
    case 'fp8':
      if (!projection) return keep();
      return stored.dtype === 'F8_E4M3' ? keep() : made('e4m3', 'e4m3', stored.shape, e4m3ScaleShape(stored.shape));
    case 'q8':
    case 'q4': {
      const target: ConvertTarget = format === 'q4' && projection ? 'q4_0' : 'q8_0';
      if (stored.shape[1] % 32 === 0) return made(target, target, stored.shape, null);
      const why = `rows of ${stored.shape[1]} values are not a multiple of 32`;
      return stored.dtype === 'F8_E4M3' ? { ...keep(), fallback: `${why}: kept FP8` } : bf16(`${why}: bf16`);
    }
  }
}

function made(dtype: DType, convert: ConvertTarget | null, shape: readonly number[], scaleShape: readonly number[] | null): ResidentTensor {
  const scaleBytes = scaleShape ? byteSize('f32', scaleShape) : 0;
  return { dtype, convert, scaleShape, bytes: byteSize(dtype, shape), scaleBytes };
}
