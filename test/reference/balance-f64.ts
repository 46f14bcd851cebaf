// The balance loss of DeepSeekMoE training written out from the paper's formula (§2.1.3) in float64, for the tests:
//   L = α·Σ_i f_i·P_i,  f_i = N_r/(K_r·T)·Σ_t 1[i chosen for t],  P_i = (1/T)·Σ_t s'_{i,t},  s'_{i,t} = s_{i,t}/Σ_j s_{j,t}.
// Over the rows of one sequence it is the sequence-wise loss, over a batch the classic one. Shares no code with src/.

/** scores: T rows of the unbiased affinities s (sigmoid or softmax) of all E experts; chosen: T rows of K experts. */
export function balanceLossF64(scores: readonly (readonly number[])[], chosen: readonly (readonly number[])[], alpha: number): number {
  const T = scores.length, E = scores[0].length, K = chosen[0].length;
  const f = new Array<number>(E).fill(0), P = new Array<number>(E).fill(0);
  for (const row of chosen) for (const i of row) f[i] += E / (K * T);
  for (const s of scores) {
    const sum = s.reduce((a, x) => a + x, 0);
    s.forEach((x, i) => { P[i] += x / sum / T; });
  }
  return alpha * f.reduce((a, fi, i) => a + fi * P[i], 0);
}
