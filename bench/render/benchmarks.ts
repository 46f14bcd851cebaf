// BENCHMARKS.md from the JSON results under bench/results/: the page's opening, then one section per renderer in
// this order, each left out while its JSON is absent. Reads only; the benchmarks themselves are run by bench/run.ts.

import { renderAbSmall } from './ab-small.js';
import { renderAttention } from './attention.js';
import { renderCharts } from './charts.js';
import { renderDecodeProfiles } from './decode-profile.js';
import { renderExperiments } from './experiments.js';
import { renderFuzz } from './fuzz.js';
import { renderLlamacpp } from './llamacpp.js';
import { renderLowAcc } from './low-acc.js';
import { renderMatmul } from './matmul.js';
import { renderModel } from './model.js';
import { renderOptimizer } from './optimizer.js';
import { renderQuantError } from './quant-error.js';
import { renderRealsize } from './realsize.js';
import { renderScaling } from './scaling.js';
import { renderServe } from './serve.js';
import { renderSoak } from './soak.js';
import { renderSpeculative } from './speculative.js';
import { renderTokenizer } from './tokenizer.js';
import { renderTrain } from './train.js';
import { renderTrainPrecision } from './train-precision.js';

const OPENING = ['# Benchmarks', '', 'Produced by `npm run bench` (results as JSON in `bench/results/`) on shared 2-vCPU VMs, each section naming its',
  'processor and date. Their speed drifts between runs and within one, two-thread figures most: the sections timed',
  'alternately in rounds show by how much.', ''];

const SECTIONS = [renderMatmul, renderAttention, renderModel, renderScaling, renderTrain, renderOptimizer, renderLowAcc, renderTrainPrecision,
  renderServe, renderSoak, renderTokenizer, renderSpeculative, renderFuzz, renderRealsize, renderAbSmall, renderDecodeProfiles,
  renderLlamacpp, renderQuantError, renderCharts, renderExperiments];

/** The whole page, as BENCHMARKS.md holds it. */
export function renderBenchmarks(): string {
  return [...OPENING, ...SECTIONS.flatMap((render) => render())].join('\n');
}
