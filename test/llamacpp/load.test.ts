// The llama.cpp peer loads: node-llama-cpp's CPU prebuilt starts without building, downloading or a GPU, and is the
// llama.cpp release the cross-checks were written against; a file llama.cpp cannot read fails naming it and the reason.
// No skipping: where node-llama-cpp is missing, npm test installs it first or stops with the command to run.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { llamaCppBuild, openLlamaCpp } from '../../bench/peers/llamacpp/peer.js';

test("node-llama-cpp starts llama.cpp's CPU prebuilt, release v0.4.0", async () => {
  const build = await llamaCppBuild();
  assert.equal(build.release, 'v0.4.0');
  assert.equal(build.buildType, 'prebuilt');
  assert.equal(build.gpu, false);
  assert.match(build.systemInfo, /\bCPU\b/);
});

test('a file that is not a GGUF fails with its path and the reason', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'qiusuo-llamacpp-load-'));
  const file = path.join(dir, 'not-a-model.gguf');
  fs.writeFileSync(file, 'this is not a GGUF file, only text that is long enough to have a header');
  try {
    await assert.rejects(openLlamaCpp(file, { threads: 1, contextSize: 64 }),
      (e: Error) => e.message.startsWith(`llama.cpp cannot load ${file}: Invalid GGUF magic`));
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('a folder without node-llama-cpp fails, naming the folder and how to reinstall', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'qiusuo-no-llamacpp-'));
  try {
    await assert.rejects(llamaCppBuild({ libraryDir: dir }),
      (e: Error) => e.message.startsWith(`cannot load node-llama-cpp from ${dir}: `) && e.message.includes('rm -rf bench/peers/llamacpp/node_modules, then npm test'));
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
