// `npm run build:wasm`: compiles kernels.as (and the .as files it exports) with AssemblyScript into
// dist/kernels/wasm/kernels-simd.wasm and kernels-relaxed.wasm (the same source; the second with relaxed SIMD's
// fused multiply-add). Both import the heap's
// shared memory as env.memory and carry no runtime, no data segments and no stack: they never write outside the
// pointers they are given. Leaves out: source maps and .wat output (pass --wat to get the text next to each .wasm).

import asc from 'assemblyscript/asc';
import { readFileSync, mkdirSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..', '..', '..');
const outDir = join(root, 'dist', 'kernels', 'wasm');

const common = [
  'kernels.ts',
  '-O3', '--noAssert',
  '--runtime', 'stub',                          // no GC; the kernels allocate nothing
  '--importMemory', '--noExportMemory',         // env.memory = the Heap's WebAssembly.Memory
  '--sharedMemory', '--initialMemory', '1', '--maximumMemory', '65536',
  '--use', 'abort=',                            // no env.abort import (nothing can abort with --noAssert)
];
const flavours = { simd: 'simd,threads', relaxed: 'simd,threads,relaxed-simd' };

mkdirSync(outDir, { recursive: true });
for (const [name, features] of Object.entries(flavours)) {
  const out = join(outDir, `kernels-${name}.wasm`);
  const argv = [...common, '--enable', features, '--outFile', out];
  if (process.argv.includes('--wat')) argv.push('--textFile', out.replace(/\.wasm$/, '.wat'));
  const { error, stderr } = await asc.main(argv, {
    // asc reads .ts files; our sources are .as so that tsc leaves them alone. Library files come from asc itself.
    readFile: (file, baseDir) => {
      const ours = join(here, file.replace(/\.ts$/, '.as'));
      try { return readFileSync(ours, 'utf8'); } catch { /* not ours */ }
      try { return readFileSync(join(baseDir, file), 'utf8'); } catch { return null; }
    },
  });
  if (error) {
    process.stderr.write(stderr.toString());
    throw new Error(`build:wasm: ${name}: ${error.message}`);
  }
  console.log(`build:wasm: wrote ${relative(root, out)}`);
}
