// GGUF v3 files (llama.cpp's format), the one module to import: types (gguf-types.ts), the reader (gguf-read.ts), typed
// metadata getters (gguf-meta.ts) and the streaming writer (gguf-write.ts). Nothing model-specific.

export {
  GGML_BLOCK, GGML_TYPE_ID, GGML_TYPE_NAMES, ggmlBytes,
  type GgmlType, type GgufScalar, type GgufScalarType, type GgufTensorInfo, type GgufTensorSpec, type GgufValue,
} from './gguf-types.js';
export { GgufFile } from './gguf-read.js';
export {
  metaArray, metaArrayOpt, metaBool, metaBoolOpt, metaNumber, metaNumberOpt, metaString, metaStringOpt,
} from './gguf-meta.js';
export { writeGguf } from './gguf-write.js';
