// The reference backend: plain TypeScript kernels that define every op (double-precision accumulation).

import type { Backend } from '../backend.js';
import { matmul } from './matmul.js';
import { embedding, rmsnorm, copy, add, siluMul, concat } from './elementwise.js';
import { rope, latentCacheWrite } from './rope.js';
import { mlaAttention, mlaAbsorbQuery, mlaLatentAttention, mlaAbsorbOutput } from './attention.js';
import { route } from './route.js';
import { moe } from './moe.js';

export const refBackend: Backend = {
  name: 'ref',
  embedding, rmsnorm, matmul, copy, add, siluMul, concat, rope, latentCacheWrite,
  mlaAttention, mlaAbsorbQuery, mlaLatentAttention, mlaAbsorbOutput, route, moe,
};
