// The reference backward kernels (plain TypeScript, double-precision accumulation): the definition a faster
// training backend is tested against. Each kernel sits next to its forward in the file of that op.

import type { BackwardKernels } from '../backend.js';
import { matmulBackward } from './matmul.js';
import { rmsnormBackward, siluMulBackward, embeddingBackward, concatBackward } from './elementwise.js';
import { ropeBackward } from './rope.js';
import { softmaxForward, crossEntropyForward, crossEntropyBackward } from './loss.js';
import { mlaTrainAttention, mlaTrainAttentionBackward } from './attention.js';
import { routeBackward } from './route.js';
import { moeBackward } from './moe.js';
import { expertCounts, balanceLoss } from './balance.js';
import { adamw, sumSquares, scaleInPlace, balanceBiasUpdate } from './optim.js';
import { fakeQuantize } from './quantize.js';
import { matmulLowAcc } from './matmul-low-acc.js';

export const refBackward: BackwardKernels = {
  name: 'ref',
  matmulBackward, rmsnormBackward, ropeBackward, siluMulBackward, embeddingBackward, concatBackward,
  softmaxForward, crossEntropyForward, crossEntropyBackward,
  mlaTrainAttention, mlaTrainAttentionBackward, routeBackward, moeBackward, expertCounts, balanceLoss,
  adamw, sumSquares, scaleInPlace, balanceBiasUpdate, fakeQuantize, matmulLowAcc,
};
