// Finds, compiles and instantiates the AssemblyScript kernel module (kernels.as, built by build.mjs) on a heap's
// shared WebAssembly.Memory, choosing the relaxed-SIMD build where the engine has relaxed SIMD.
// Leaves out: caching (callers keep the compiled Module; workers instantiate it again on the same memory) and threads.

import { readFileSync, existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { setFlagsFromString } from 'node:v8';

export type WasmFlavour = 'simd' | 'relaxed';

/** One instance of the kernel module: its exports (pointers are heap byte offsets; see the .as sources) by name. */
export interface KernelInstance {
  readonly flavour: WasmFlavour;
  readonly module: WebAssembly.Module;
  readonly exports: Record<string, (...args: number[]) => number | void>;
  /** Bytes of f32 panel that each thread of a matmul call needs (16-byte aligned). */
  readonly scratchBytes: number;
}

// (module (func (result v128) (f32x4.relaxed_madd (v128.const 0) (v128.const 0) (v128.const 0))))
const ZERO16 = new Array<number>(16).fill(0);
const RELAXED_PROBE = new Uint8Array([
  0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,           // magic, version 1
  0x01, 0x05, 0x01, 0x60, 0x00, 0x01, 0x7b,                 // type section: () -> v128
  0x03, 0x02, 0x01, 0x00,                                   // function section: one function of type 0
  0x0a, 0x3d, 0x01, 0x3b, 0x00,                             // code section: one body of 59 bytes, no locals
  0xfd, 0x0c, ...ZERO16, 0xfd, 0x0c, ...ZERO16, 0xfd, 0x0c, ...ZERO16,
  0xfd, 0x85, 0x02,                                         // f32x4.relaxed_madd (0xfd 0x105)
  0x0b,                                                     // end
]);

/**
 * Whether this engine compiles relaxed SIMD. Node 20 (V8 11.3) has it behind --experimental-wasm-relaxed-simd,
 * which this turns on (process-wide, before any relaxed module is compiled) when plain validation fails.
 */
export function relaxedSimdSupported(): boolean {
  if (WebAssembly.validate(RELAXED_PROBE)) return true;
  try { setFlagsFromString('--experimental-wasm-relaxed-simd'); } catch { return false; }
  return WebAssembly.validate(RELAXED_PROBE);
}

/** Path of a built kernel module: next to this file in dist/, or in dist/ when running from src/ (tsx). */
export function wasmPath(flavour: WasmFlavour): string {
  const name = `kernels-${flavour}.wasm`;
  for (const rel of [`./${name}`, `../../../dist/kernels/wasm/${name}`]) {
    const p = fileURLToPath(new URL(rel, import.meta.url));
    if (existsSync(p)) return p;
  }
  throw new Error(`kernels/wasm: ${name} not found; run \`npm run build:wasm\``);
}

/** The flavour to use: relaxed where the engine has it (QIUSUO_WASM=simd forces plain SIMD). */
export function defaultFlavour(): WasmFlavour {
  return process.env.QIUSUO_WASM === 'simd' || !relaxedSimdSupported() ? 'simd' : 'relaxed';
}

/**
 * The compiled module of one flavour (synchronous; Node allows it for any size). Compiled once per process and
 * shared by every backend: V8 first runs wasm on its baseline compiler and tiers hot functions up as they run, so a
 * fresh compile per backend would start each one slow again.
 */
export function compileKernels(flavour: WasmFlavour = defaultFlavour()): { flavour: WasmFlavour; module: WebAssembly.Module } {
  if (flavour === 'relaxed' && !relaxedSimdSupported()) throw new Error('kernels/wasm: this engine has no relaxed SIMD');
  let module = compiledModules.get(flavour);
  if (!module) {
    module = new WebAssembly.Module(readFileSync(wasmPath(flavour)));
    compiledModules.set(flavour, module);
  }
  return { flavour, module };
}

/** Immutable compiled code, cached per flavour (the one piece of module-level state, and it never changes). */
const compiledModules = new Map<WasmFlavour, WebAssembly.Module>();

/** Instantiates a compiled kernel module on `memory` (a Heap's memory: shared, maximum 65536 pages). */
export function instantiateKernels(compiled: { flavour: WasmFlavour; module: WebAssembly.Module }, memory: WebAssembly.Memory): KernelInstance {
  const exports = new WebAssembly.Instance(compiled.module, { env: { memory } }).exports as KernelInstance['exports'];
  for (const name of ['scratchBytes', 'matmulF32', 'matmulBF16', 'matmulE4M3']) {
    if (typeof exports[name] !== 'function') throw new Error(`kernels/wasm: module lacks export ${name}`);
  }
  return { flavour: compiled.flavour, module: compiled.module, exports, scratchBytes: exports.scratchBytes() as number };
}
