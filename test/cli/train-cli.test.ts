// `qiusuo train` and `qiusuo tokenizer train` as a user runs them: the run prints its summary and leaves a
// checkpoint `qiusuo generate` can load; Ctrl-C (SIGINT) saves a checkpoint and exits 0; the tokenizer command
// writes files @huggingface/tokenizers encodes identically.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Tokenizer as HfTokenizer } from '@huggingface/tokenizers';
import { Tokenizer } from '../../src/tokenizer/bpe.js';

const BIN = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'bin', 'qiusuo.js');
let root: string, data: string;

before(() => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'qiusuo-train-cli-'));
  data = path.join(root, 'corpus.txt');
  const words = ['the', 'river', 'ran', 'past', 'old', 'mill', 'and', 'a', 'boy', 'saw', 'it', 'at', 'dawn'];
  let s = 1;
  const next = () => { s = (s * 1103515245 + 12345) % 2147483648; return s; };
  const docs = Array.from({ length: 6 }, () => Array.from({ length: 300 }, () => words[next() % words.length]).join(' ') + '.');
  fs.writeFileSync(path.join(root, 'corpus.jsonl'), docs.map((text) => JSON.stringify({ text })).join('\n') + '\n');
  data = path.join(root, 'corpus.jsonl');
});
after(() => fs.rmSync(root, { recursive: true, force: true }));

const small = ['--preset', 'tiny', '--set', 'rope_scaling=null', '--seq-len', '16', '--micro-batch', '2', '--batch', '2',
  '--vocab-size', '512', '--val-fraction', '0.2', '--eval-windows', '2', '--threads', '2'];

test('train prints the summary, a sample of the trained checkpoint and that checkpoint, which generate loads', () => {
  const out = path.join(root, 'run');
  const r = spawnSync(process.execPath, [BIN, 'train', '--data', data, '--out', out, '--max-steps', '3', '--eval-every', '3', '--seed', '7', ...small], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /done after 3 steps: val loss [\d.]+ nats\/token, val [\d.]+ bits\/byte, mtp agree [\d.]+% \(unigram model of the same text: [\d.]+\)/);
  assert.match(r.stdout, /step 3\/3 loss [\d.]+ val bpb [\d.]+ mtp agree [\d.]+% /, 'the evaluation line gives the MTP agreement');
  const sample = /\nsample: The([\s\S]*)\ncheckpoint: /.exec(r.stdout)?.[1];
  assert.ok(sample, `a sample line before the checkpoint line: ${r.stdout}`);
  // Both MFU denominators, named, measured with the run's threads; each step line gives both shares.
  assert.match(r.stdout, /MFU against \(2 threads, measured now\): start-up 256³ f32 matmul peak [\d.]+ GFLOP\/s, f32x4 FMA ceiling [\d.]+ GFLOP\/s/);
  assert.match(r.stdout, /step 1\/3 .* MFU [\d.]+% of matmul peak, [\d.]+% of FMA ceiling/);
  const dir = /checkpoint: (\S+)/.exec(r.stdout)?.[1];
  assert.ok(dir && fs.existsSync(path.join(dir, 'model.safetensors')), `checkpoint folder printed (${dir})`);
  // The sample continues "The" with the run's seed at temperature 0.8, top-p 0.95: generating the same way from the
  // saved checkpoint must give the same text, so the sample shows the trained model (not the untrained one, nor
  // another seed).
  const g = spawnSync(process.execPath, [BIN, 'generate', '--model', dir!, '--prompt', 'The', '--max-tokens', '80', '--temperature', '0.8',
    '--top-p', '0.95', '--top-k', '0', '--seed', '7', '--threads', '2'], { encoding: 'utf8' });
  assert.equal(g.status, 0, g.stderr);
  assert.equal(g.stdout, `${sample}\n`);
});

test('Ctrl-C saves a checkpoint and exits cleanly', async () => {
  const out = path.join(root, 'interrupted');
  const child = spawn(process.execPath, [BIN, 'train', '--data', data, '--out', out, '--max-steps', '100000', '--eval-every', '1', ...small]);
  let stdout = '';
  const done = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no step within 60 s: ${stdout}`)), 60_000);
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
      if (/step \d+\//.test(stdout)) { clearTimeout(timer); resolve(); }
    });
  });
  child.kill('SIGINT');
  const code = await Promise.race([done, new Promise<string>((r) => setTimeout(() => r('timeout'), 60_000))]);
  assert.equal(code, 0, `exit code after SIGINT (${stdout})`);
  assert.match(stdout, /stopped after \d+ steps/);
  const latest = fs.readFileSync(path.join(out, 'latest'), 'utf8').trim();
  assert.ok(fs.existsSync(path.join(out, latest, 'trainer_state.json')), 'a complete checkpoint was saved');
});

test('tokenizer train writes a tokenizer that @huggingface/tokenizers encodes identically', () => {
  const out = path.join(root, 'tok');
  const r = spawnSync(process.execPath, [BIN, 'tokenizer', 'train', '--data', data, '--vocab-size', '600', '--out', out], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const json = JSON.parse(fs.readFileSync(path.join(out, 'tokenizer.json'), 'utf8'));
  const cfg = JSON.parse(fs.readFileSync(path.join(out, 'tokenizer_config.json'), 'utf8'));
  const text = 'the boy saw the old mill at dawn, and it ran.';
  assert.deepEqual(Tokenizer.fromJSON(json).encode(text), new HfTokenizer(json, cfg).encode(text).ids);
  assert.equal(Tokenizer.fromJSON(json).vocabSize, 600, 'vocabulary size exact');
});
