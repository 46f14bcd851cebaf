// Router table: every expected selection and weight below is worked out by hand in the comments.
import { test } from "node:test";
import assert from "node:assert/strict";
import { refRoute, refRouteScores, type RefRouteConfig } from "./deepseek-f64.js";

function close(actual: number[], expected: number[], tol: number, what: string): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  for (let i = 0; i < expected.length; i++) {
    assert.ok(Math.abs(actual[i]! - expected[i]!) <= tol, `${what}[${i}]: got ${actual[i]}, expected ${expected[i]}`);
  }
}

const v3 = (over: Partial<RefRouteConfig>): RefRouteConfig => ({
  model_type: "deepseek_v3",
  n_routed_experts: 4,
  num_experts_per_tok: 2,
  n_group: 1,
  topk_group: 1,
  topk_method: "noaux_tc",
  scoring_func: "sigmoid",
  norm_topk_prob: true,
  routed_scaling_factor: 2.5,
  ...over,
});

test("V3: bias changes the selection but not the weights", () => {
  // s = [0.9, 0.8, 0.7, 0.1], bias = [0, 0, 0.3, 0] -> c = [0.9, 0.8, 1.0, 0.1]
  // top-2 by c: expert 2 (1.0), expert 0 (0.9). Unbiased top-2 would be {0, 1}.
  // weights use s: [0.7, 0.9] / (1.6 + 1e-20) * 2.5 = [1.09375, 1.40625]
  const r = refRouteScores([0.9, 0.8, 0.7, 0.1], v3({}), [0, 0, 0.3, 0]);
  assert.deepEqual(r.indices, [2, 0]);
  close(r.weights, [1.09375, 1.40625], 1e-15, "weights");
  // gap between 2nd and 3rd selection score: 0.9 - 0.8 = 0.1
  assert.ok(Math.abs(r.minTieGap - 0.1) < 1e-15, "Math.abs(r.minTieGap - 0.1) < 1e-15");
  // no bias: {0, 1}, weights [0.9, 0.8]/1.7*2.5
  const nb = refRouteScores([0.9, 0.8, 0.7, 0.1], v3({}));
  assert.deepEqual(nb.indices, [0, 1]);
  close(nb.weights, [(0.9 / 1.7) * 2.5, (0.8 / 1.7) * 2.5], 1e-15, "no-bias weights");
});

test("V3: group limitation excludes a high-scoring expert in a weak group", () => {
  // 8 experts, 4 groups of 2, keep 2 groups, top-2.
  // s = [0.95, 0.05 | 0.6, 0.58 | 0.5, 0.55 | 0.1, 0.2]
  // group score = sum of top-2: [1.00, 1.18, 1.05, 0.30] -> keep groups 1 and 2
  // expert 0 (0.95, the best overall) is excluded; masked c = [0,0,.6,.58,.5,.55,0,0] -> top-2 = 2, 3
  const cfg = v3({ n_routed_experts: 8, n_group: 4, topk_group: 2, norm_topk_prob: false, routed_scaling_factor: 1 });
  const s = [0.95, 0.05, 0.6, 0.58, 0.5, 0.55, 0.1, 0.2];
  const r = refRouteScores(s, cfg);
  assert.deepEqual(r.groups, [1, 2]);
  assert.deepEqual(r.indices, [2, 3]);
  // norm_topk_prob false, scale 1: weights are the raw scores
  close(r.weights, [0.6, 0.58], 0, "raw weights");
  // margins: group cut 1.05 - 1.00 = 0.05; expert cut 0.58 - 0.55 = 0.03 -> 0.03
  assert.ok(Math.abs(r.minTieGap - 0.03) < 1e-12, "Math.abs(r.minTieGap - 0.03) < 1e-12");
  // norm_topk_prob true + scale 2.5: [0.6, 0.58] / 1.18 * 2.5 = [1.271186.., 1.228813..]
  const rn = refRouteScores(s, { ...cfg, norm_topk_prob: true, routed_scaling_factor: 2.5 });
  close(rn.weights, [(0.6 / 1.18) * 2.5, (0.58 / 1.18) * 2.5], 1e-15, "normalised");
  close(rn.weights, [1.2711864, 1.2288136], 1e-7, "normalised literal");
  // norm false, scale 2.5: [1.5, 1.45]
  const rs = refRouteScores(s, { ...cfg, routed_scaling_factor: 2.5 });
  close(rs.weights, [1.5, 1.45], 1e-15, "scaled only");
  // without group limitation (topk_group = n_group) expert 0 wins
  assert.deepEqual(refRouteScores(s, { ...cfg, topk_group: 4 }).indices, [0, 2]);
});

test("V3: sigmoid from logits, group scores use biased c", () => {
  // logits z = [1, 0, 2, -1] -> s = [σ1, 0.5, σ2, σ(-1)] = [0.731059, 0.5, 0.880797, 0.268941]
  // bias [0, 0, -0.5, 0.6] -> c = [0.731059, 0.5, 0.380797, 0.868941]
  // groups of 2 (keep 1): g0 = 1.231059, g1 = 1.249738 -> keep g1 (without bias g0 = 1.231 > g1 = 1.150)
  // top-2 in g1 by c: 3 (0.869), 2 (0.381); weights s = [0.268941, 0.880797] / 1.149738 * 2.5
  const sig = (z: number) => 1 / (1 + Math.exp(-z));
  const r = refRoute([1, 0, 2, -1], v3({ n_group: 2, topk_group: 1 }), [0, 0, -0.5, 0.6]);
  assert.deepEqual(r.indices, [3, 2]);
  const sum = sig(-1) + sig(2);
  close(r.weights, [(sig(-1) / sum) * 2.5, (sig(2) / sum) * 2.5], 1e-15, "weights");
  close(r.weights, [0.5847882, 1.9152118], 1e-7, "weights literal");
  assert.deepEqual(refRoute([1, 0, 2, -1], v3({ n_group: 2, topk_group: 1 })).indices, [0, 1]);
});

test("ties: the lower index wins (experts and groups)", () => {
  assert.deepEqual(refRouteScores([0.5, 0.7, 0.7, 0.7], v3({})).indices, [1, 2]);
  assert.equal(refRouteScores([0.5, 0.7, 0.7, 0.7], v3({})).minTieGap, 0);
  // equal groups {0,1} and {2,3}: group 0 kept
  const r = refRouteScores([0.3, 0.6, 0.6, 0.3], v3({ n_group: 2, topk_group: 1 }));
  assert.deepEqual(r.groups, [0]);
  assert.deepEqual(r.indices, [1, 0]);
  assert.equal(r.minTieGap, 0);
});

test("V3: masked experts get selection score 0 (HF masked_fill 0.0), even against negative c", () => {
  // s = [0.2, 0.1, 0.3, 0.05], bias -0.5 each -> c = [-0.3, -0.4, -0.2, -0.45]
  // groups: g0 = -0.7, g1 = -0.65 -> keep g1; masked c = [0, 0, -0.2, -0.45] -> top-2 = 0, 1
  const r = refRouteScores([0.2, 0.1, 0.3, 0.05], v3({ n_group: 2, topk_group: 1, norm_topk_prob: false, routed_scaling_factor: 1 }), [
    -0.5, -0.5, -0.5, -0.5,
  ]);
  assert.deepEqual(r.groups, [1]);
  assert.deepEqual(r.indices, [0, 1]);
  close(r.weights, [0.2, 0.1], 0, "weights");
});

test("V3 top-1 with norm_topk_prob normalises to 1 (HF: no top_k > 1 condition)", () => {
  const r = refRouteScores([0.2, 0.6, 0.3, 0.1], v3({ num_experts_per_tok: 1 }));
  assert.deepEqual(r.indices, [1]);
  close(r.weights, [2.5], 1e-15, "weight");
});

test("V2: softmax + greedy", () => {
  // logits [1, 2, 3, 0] -> softmax; Z = e + e^2 + e^3 + 1
  // top-2: experts 2, 1 with s = e^3/Z, e^2/Z
  const Z = Math.E + Math.E ** 2 + Math.E ** 3 + 1;
  const cfg: RefRouteConfig = {
    model_type: "deepseek_v2",
    n_routed_experts: 4,
    num_experts_per_tok: 2,
    topk_method: "greedy",
    scoring_func: "softmax",
    norm_topk_prob: false,
    routed_scaling_factor: 16,
  };
  const r = refRoute([1, 2, 3, 0], cfg);
  assert.deepEqual(r.indices, [2, 1]);
  close(r.weights, [(Math.E ** 3 / Z) * 16, (Math.E ** 2 / Z) * 16], 1e-14, "scaled");
  // norm_topk_prob (top_k > 1): e^3/(e^3+e^2) = 1/(1+e^-1) = 0.7310586, and (DeepSeek-V2's rule) NOT scaled
  const rn = refRoute([1, 2, 3, 0], { ...cfg, norm_topk_prob: true });
  close(rn.weights, [0.7310586, 0.2689414], 1e-6, "normalised, not scaled");
  // top-1 in V2: no normalisation even with norm_topk_prob
  const r1 = refRoute([1, 2, 3, 0], { ...cfg, num_experts_per_tok: 1, norm_topk_prob: true });
  close(r1.weights, [(Math.E ** 3 / Z) * 16], 1e-14, "top-1");
  // defaults for deepseek_v2 without topk_method/scoring_func: greedy + softmax; "gready" spelling accepted
  assert.deepEqual(refRoute([1, 2, 3, 0], { model_type: "deepseek_v2", n_routed_experts: 4, num_experts_per_tok: 2 }).indices, [2, 1]);
  assert.deepEqual(refRoute([1, 2, 3, 0], { ...cfg, topk_method: "gready" }).indices, [2, 1]);
});

test("V2: group_limited_greedy uses the group MAX (not the top-2 sum)", () => {
  // logits [0, 2.0 | 1.5, 1.6 | -1, 0], 3 groups of 2, keep 1, top-2.
  // group max (in logits, softmax is monotone): g0 = 2.0, g1 = 1.6, g2 = 0 -> keep g0 -> experts 1, 0
  // (top-2 sum would prefer g1: e^1.5 + e^1.6 = 9.43 > 1 + e^2 = 8.39)
  const z = [0, 2.0, 1.5, 1.6, -1, 0];
  const Z = z.reduce((a, v) => a + Math.exp(v), 0);
  const cfg: RefRouteConfig = {
    model_type: "deepseek_v2",
    n_routed_experts: 6,
    num_experts_per_tok: 2,
    n_group: 3,
    topk_group: 1,
    topk_method: "group_limited_greedy",
    scoring_func: "softmax",
    norm_topk_prob: false,
    routed_scaling_factor: 1,
  };
  const r = refRoute(z, cfg);
  assert.deepEqual(r.groups, [0]);
  assert.deepEqual(r.indices, [1, 0]);
  close(r.weights, [Math.exp(2) / Z, 1 / Z], 1e-15, "weights");
  // group margin: (e^2 - e^1.6)/Z; expert margin: 1/Z - 0 (masked) -> min is the group margin
  assert.ok(Math.abs(r.minTieGap - Math.min((Math.exp(2) - Math.exp(1.6)) / Z, 1 / Z)) < 1e-15, "Math.abs(r.minTieGap - Math.min((Math.exp(2) - Math.exp(1.6)) / Z, 1 / Z)) < 1e-15");
});
