// `qiusuo chat`: an interactive terminal conversation that keeps the history and streams each answer.
// Commands: /reset clears the history, /exit (or Ctrl-D) leaves.

import * as readline from 'node:readline/promises';
import type { Pipeline } from '../generate/pipeline.js';
import { encodeChat } from '../generate/pipeline.js';
import type { ChatMessage } from '../tokenizer/chat.js';
import type { GenerationParams, SpeculativeOptions } from '../generate/engine.js';
import { Generator } from '../generate/engine.js';

export async function chatLoop(p: Pipeline, params: GenerationParams, system: string | undefined, context: number, speculative?: SpeculativeOptions): Promise<void> {
  const gen = new Generator(p.model, p.tokenizer, 1, context, { speculative }); // first: it refuses bad settings
  const rl = readline.createInterface({ input: process.stdin, output: process.stdout, terminal: process.stdin.isTTY });
  const history: ChatMessage[] = system ? [{ role: 'system', content: system }] : [];
  process.stdout.write(`qiusuo chat — ${p.dir}. /reset clears the history, /exit leaves.\n> `);
  try {
    // Iterating the lines (rather than rl.question) keeps lines that arrive together, e.g. from a pipe.
    for await (const line of rl) {
      const text = line.trim();
      if (text === '/exit') break;
      if (text === '/reset') { history.splice(system ? 1 : 0); process.stdout.write('(history cleared)\n> '); continue; }
      if (!text) { process.stdout.write('> '); continue; }
      history.push({ role: 'user', content: text });
      try {
        const ids = encodeChat(p.tokenizer, p.chat, history, p.dir);
        const t0 = performance.now();
        const seq = gen.add(ids, params, (d) => process.stdout.write(d));
        gen.runToCompletion();
        const secs = (performance.now() - t0) / 1000;
        process.stdout.write(`\n[${seq.generated.length} tokens, ${(seq.generated.length / secs).toFixed(1)} tok/s]\n`);
        history.push({ role: 'assistant', content: seq.text });
      } catch (e) {
        history.pop();
        process.stdout.write(`error: ${(e as Error).message}\n`);
      }
      process.stdout.write('> ');
    }
  } finally {
    rl.close();
    gen.dispose();
  }
}
