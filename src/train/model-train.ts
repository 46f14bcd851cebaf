// One training forward + backward pass over a batch: the main next-token loss, the MTP losses (depth k predicts
// token i+k+1 from the embedding of token i+k and the previous stage's normed state: model.norm(h_L) for depth 1,
// depth k−1's shared_head.norm output beyond; weight λ/D), and the balance loss
// of every MoE layer. Gradients accumulate into `grads` (call zeroGrads first); returns the losses and each MoE
// layer's expert counts for auxiliary-loss-free balancing.

import type { Tensor } from '../tensor/tensor.js';
import { Scope, rows, toF32Array } from '../tensor/tensor.js';
import type { ModelContext } from '../model/context.js';
import type { BackwardKernels } from '../kernels/backend.js';
import type { ModelWeights, LayerWeights } from '../model/weights.js';
import type { TrainStep } from './context.js';
import type { BlockTape } from './block-train.js';
import { blockTrainForward, blockTrainBackward } from './block-train.js';
import type { BalanceOptions } from './ffn-train.js';

export interface LossOptions {
  mtpWeight: number;          // λ (paper: 0.3, later 0.1); the MTP losses are averaged over depth
  balance: BalanceOptions;
}

export interface StepLosses {
  loss: number;               // the objective that was differentiated
  ce: number;                 // main next-token cross-entropy (nats/token)
  mtpCe: number[];            // per MTP depth
  balance: number;            // sum over MoE layers
  expertCounts: Float32Array[]; // per MoE layer (main layers, then MTP layers): tokens routed to each expert
}

interface Head { logits: Tensor; n: Tensor; h: Tensor; targets: Tensor; count: number }

/** tokens: B sequences of T+1 ids, row-major. */
export function trainForwardBackward(ctx: ModelContext, bw: BackwardKernels, w: ModelWeights, g: ModelWeights,
  tokens: Int32Array, B: number, T: number, opts: LossOptions): StepLosses {
  const cfg = ctx.cfg, b = ctx.backend, D = cfg.hiddenSize, V = cfg.vocabSize, eps = cfg.rmsNormEps;
  if (tokens.length !== B * (T + 1)) throw new Error(`trainForwardBackward: expected ${B}×${T + 1} tokens, got ${tokens.length}`);
  const depth = w.mtp.length;
  if (T < depth + 1) throw new Error(`trainForwardBackward: sequences of ${T} tokens are too short for ${depth} MTP module(s)`);
  const s = new Scope(ctx.heap);
  try {
    const tok = (seq: number, i: number) => tokens[seq * (T + 1) + i];
    /** ids [B·n] of tokens offset..offset+n−1 of every sequence. */
    const ids = (offset: number, n: number) => s.i32(Array.from({ length: B * n }, (_, r) => tok((r / n) | 0, offset + (r % n))));
    const step = (n: number): TrainStep => ({ ctx, bw, s, B, T: n, positions: s.i32(Array.from({ length: B * n }, (_, r) => r % n)) });
    const counts: Float32Array[] = [];

    // Main model forward.
    const st = step(T), N = B * T;
    const inputs = ids(0, T);
    let h = s.tensor([N, D]);
    b.embedding(h, inputs, w.embed, N, D);
    const tapes: BlockTape[] = [];
    for (const lw of w.layers) {
      const r = blockTrainForward(st, h, lw, opts.balance);
      tapes.push(r.tape);
      h = r.h;
    }
    const head = (stk: TrainStep, hk: Tensor, normW: Tensor, headW: Tensor, targetOffset: number): Head => {
      const n = stk.B * stk.T, nt = s.tensor([n, D]), logits = s.tensor([n, V]);
      b.rmsnorm(nt, hk, normW, n, D, eps);
      b.matmul(logits, nt, headW, n, D, V);
      return { logits, n: nt, h: hk, targets: ids(targetOffset, stk.T), count: n };
    };
    const ceMean = (hd: Head) => {
      const losses = s.tensor([hd.count]);
      bw.crossEntropyForward(losses, hd.logits, hd.targets, hd.count, V);
      return toF32Array(losses).reduce((a, x) => a + x, 0) / hd.count;
    };
    const mainHead = head(st, h, w.norm, w.head, 1);
    const ce = ceMean(mainHead);

    // MTP forward: depth k (1-based) runs on T−k rows per sequence.
    interface MtpRun { st: TrainStep; hPrev: Tensor; e: Tensor; en: Tensor; hn: Tensor; cat: Tensor; x: Tensor; tape: BlockTape; head: Head; ids: Tensor }
    const mtpRuns: MtpRun[] = [];
    const mtpCe: number[] = [];
    let hPrevFull = mainHead.n, prevRows = T; // depth 1 takes model.norm(h_L), the state that feeds lm_head
    w.mtp.forEach((m, k0) => {
      const k = k0 + 1, n = T - k, stk = step(n), Nk = B * n;
      const hPrev = s.tensor([Nk, D]);
      for (let i = 0; i < B; i++) b.copy(rows(hPrev, i * n, n), rows(hPrevFull, i * prevRows, n), n * D);
      const e = s.tensor([Nk, D]), en = s.tensor([Nk, D]), hn = s.tensor([Nk, D]), cat = s.tensor([Nk, 2 * D]), x = s.tensor([Nk, D]);
      const eIds = ids(k, n);
      b.embedding(e, eIds, m.embed, Nk, D);
      b.rmsnorm(en, e, m.enorm, Nk, D, eps);
      b.rmsnorm(hn, hPrev, m.hnorm, Nk, D, eps);
      b.concat(cat, en, hn, Nk, D, D); // embedding FIRST (as the released weights expect)
      b.matmul(x, cat, m.ehProj, Nk, 2 * D, D);
      const r = blockTrainForward(stk, x, m.layer, opts.balance);
      const hd = head(stk, r.h, m.norm, m.head, k + 1);
      mtpCe.push(ceMean(hd));
      mtpRuns.push({ st: stk, hPrev, e, en, hn, cat, x, tape: r.tape, head: hd, ids: eIds });
      hPrevFull = hd.n; prevRows = n;         // a deeper module takes this one's output after shared_head.norm
    });

    const moeTapes = [...tapes, ...mtpRuns.map((r) => r.tape)];
    let balance = 0;
    for (const t of moeTapes) if ('moe' in t.ffn) balance += t.ffn.moe.balanceLoss;
    const mtpScale = depth > 0 ? opts.mtpWeight / depth : 0;
    const loss = ce + mtpScale * mtpCe.reduce((a, x) => a + x, 0) + balance;

    // Backward: heads and MTP modules first (each MTP depth sends gradient into the normed state it took: the main
    // head's model.norm output, or the previous depth's shared_head.norm output). dnIn: that gradient, or null.
    const headBackward = (hd: Head, normW: Tensor, headW: Tensor, gNorm: Tensor, gHead: Tensor, scale: number, dh: Tensor, dnIn: Tensor | null) => {
      const dlogits = s.tensor([hd.count, V]), dn = s.tensor([hd.count, D]);
      if (dnIn) b.copy(dn, dnIn, hd.count * D);
      bw.crossEntropyBackward(dlogits, hd.logits, hd.targets, scale / hd.count, hd.count, V);
      bw.matmulBackward(dn, gHead, dlogits, hd.n, headW, hd.count, D, V);
      bw.rmsnormBackward(dh, gNorm, dn, hd.h, normW, hd.count, D, eps);
    };
    const dnMain = s.tensor([N, D]);  // ∂L/∂model.norm(h_L) from MTP depth 1
    let dnNext: Tensor | null = null; // ∂L/∂(depth k's shared_head.norm output) from depth k+1
    for (let k0 = depth - 1; k0 >= 0; k0--) {
      const m = w.mtp[k0], gm = g.mtp[k0], r = mtpRuns[k0], n = r.st.T, Nk = B * n;
      const dh = s.tensor([Nk, D]);
      headBackward(r.head, m.norm, m.head, gm.norm, gm.head, mtpScale, dh, dnNext);
      const dx = s.tensor([Nk, D]);
      blockTrainBackward(r.st, dx, dh, m.layer, gm.layer, r.tape, opts.balance, 1);
      const dcat = s.tensor([Nk, 2 * D]), den = s.tensor([Nk, D]), dhn = s.tensor([Nk, D]), de = s.tensor([Nk, D]), dhPrev = s.tensor([Nk, D]);
      bw.matmulBackward(dcat, gm.ehProj, dx, r.cat, m.ehProj, Nk, 2 * D, D);
      bw.concatBackward(den, dhn, dcat, Nk, D, D);
      bw.rmsnormBackward(de, gm.enorm, den, r.e, m.enorm, Nk, D, eps);
      bw.embeddingBackward(gm.embed, de, r.ids, Nk, D);
      bw.rmsnormBackward(dhPrev, gm.hnorm, dhn, r.hPrev, m.hnorm, Nk, D, eps);
      // Scatter the first n rows of each sequence back to the previous stage's layout (T − k + 1 rows per sequence).
      const prevN = n + 1, target = k0 === 0 ? dnMain : s.tensor([B * prevN, D]);
      for (let i = 0; i < B; i++) b.add(rows(target, i * prevN, n), rows(target, i * prevN, n), rows(dhPrev, i * n, n), n * D);
      dnNext = k0 === 0 ? null : target;
    }
    const dhMain = s.tensor([N, D]);
    headBackward(mainHead, w.norm, w.head, g.norm, g.head, 1, dhMain, depth > 0 ? dnMain : null);
    let dh = dhMain;
    for (let i = w.layers.length - 1; i >= 0; i--) {
      const dPrev = s.tensor([N, D]);
      blockTrainBackward(st, dPrev, dh, w.layers[i], g.layers[i], tapes[i], opts.balance, 1);
      dh = dPrev;
    }
    bw.embeddingBackward(g.embed, dh, inputs, N, D);

    const countLayer = (t: BlockTape, lw: LayerWeights, rowsN: number) => {
      if (!('moe' in t.ffn) || lw.ffn.kind !== 'moe') return;
      const c = s.tensor([cfg.nRoutedExperts]);
      bw.expertCounts(c, t.ffn.moe.experts, rowsN, cfg.numExpertsPerTok, cfg.nRoutedExperts);
      counts.push(toF32Array(c));
    };
    tapes.forEach((t, i) => countLayer(t, w.layers[i], N));
    mtpRuns.forEach((r, k0) => countLayer(r.tape, w.mtp[k0].layer, B * r.st.T));
    return { loss, ce, mtpCe, balance, expertCounts: counts };
  } finally {
    s.release();
  }
}
