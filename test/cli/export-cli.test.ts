// `qiusuo export gguf|hf` and `--model FILE.gguf` as a user runs them: a GGUF of a checkpoint answers forward,
// tokenize, generate and info as the folder does; export hf gives the folder back; bad arguments are one-line errors
// that leave nothing behind.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { qiusuo, assertCliError } from './run-cli.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'qiusuo-export-cli-'));
process.on('exit', () => fs.rmSync(tmp, { recursive: true, force: true }));

test('a GGUF export answers every command as its folder does, and export hf gives the folder back', async () => {
  const dir = path.join(tmp, 'tiny'), file = path.join(tmp, 'tiny.gguf'), back = path.join(tmp, 'back');
  assert.equal((await qiusuo(['init', '--preset', 'tiny', '--out', dir])).code, 0);
  const made = await qiusuo(['export', 'gguf', '--model', dir, '--out', file]);
  assert.equal(made.code, 0, made.stderr);
  assert.match(made.stdout, /^wrote .*tiny\.gguf: \d+ tensors, [\d.]+ MB of weights as f32 \(the MTP module left out/);
  const both = async (args: string[]) => {
    const [a, b] = [await qiusuo([...args, '--model', dir]), await qiusuo([...args, '--model', file])];
    assert.equal(a.code, 0, a.stderr);
    assert.equal(b.code, 0, b.stderr);
    return [a.stdout, b.stdout];
  };
  const [fa, fb] = await both(['forward', '--tokens', '3,100,7,42']);
  assert.equal(fb, fa, 'forward logits');
  const [ta, tb] = await both(['tokenize', '--text', 'Hello, world! 12345 你好']);
  assert.equal(tb, ta, 'token ids');
  const [ga, gb] = await both(['generate', '--prompt', 'The', '--max-tokens', '12', '--temperature', '0']);
  assert.equal(gb, ga, 'greedy continuation');
  const info = JSON.parse((await qiusuo(['info', '--model', file, '--json'])).stdout);
  assert.equal(info.diskBytes, fs.statSync(file).size);
  assert.equal(info.mtpModules, 0);
  const r = await qiusuo(['export', 'hf', '--model', file, '--out', back]);
  assert.equal(r.code, 0, r.stderr);
  const [, fc] = [fa, (await qiusuo(['forward', '--tokens', '3,100,7,42', '--model', back])).stdout];
  assert.equal(fc, fa, 'forward logits of the folder written back');
});

test('export refuses bad arguments in one line and writes nothing', async () => {
  const dir = path.join(tmp, 'tiny-bad');
  assert.equal((await qiusuo(['init', '--preset', 'tiny', '--out', dir])).code, 0);
  const out = path.join(tmp, 'bad.gguf');
  assertCliError(await qiusuo(['export', 'gguf', '--model', dir, '--out', path.join(tmp, 'x.bin')]), /must be a \.gguf file/, 'not .gguf');
  assertCliError(await qiusuo(['export', 'gguf', '--model', path.join(tmp, 'nope'), '--out', out]), /nope/, 'missing model');
  const wrongType = await qiusuo(['export', 'gguf', '--model', dir, '--out', out, '--type', 'q5_k']);
  assert.equal(wrongType.code, 1);
  assert.match(wrongType.stderr, /q5_k.*Allowed choices are f32, f16, bf16, q8_0, q4_0/s);
  assertCliError(await qiusuo(['forward', '--model', path.join(tmp, 'missing.gguf'), '--tokens', '1']), /missing\.gguf/, 'missing GGUF');
  fs.writeFileSync(path.join(tmp, 'junk.gguf'), 'not a gguf at all');
  assertCliError(await qiusuo(['info', '--model', path.join(tmp, 'junk.gguf')]), /junk\.gguf: .*magic/i, 'not a GGUF');
  assert.deepEqual(fs.readdirSync(tmp).filter((f) => f.startsWith('bad')), []);
});
