// The kernel module's entry: one module (one instance per pool thread) exports every wasm kernel.
// Each source ends in .as so that tsc never sees it; build.mjs hands them to asc as .ts files.

export * from './matmul';
export * from './backward-matmul';
export * from './backward-ops';
export * from './ops';
export * from './attention';
export * from './backward-attention';
export * from './peak';
export * from './optim';
export * from './matmul-low-acc';
export * from './quantize';
