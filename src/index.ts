// The qiusuo library API: load checkpoints (folders or GGUF files), run the model, tokenize, generate, serve, export.

export { DeepSeekModel } from './model/transformer.js';
export { readConfig, openCheckpoint } from './model/model-files.js';
export { exportGgufFile, exportHfFolder } from './model/export.js';
export type { LoadOptions } from './model/transformer.js';
export { parseConfig, configToJson } from './model/config.js';
export type { ModelConfig } from './model/config.js';
export { initCheckpoint } from './model/init.js';
export type { InitOptions } from './model/init.js';
export { modelInfo, formatInfo } from './model/info.js';
export { PRESETS } from './model/presets.js';
export { Heap } from './tensor/heap.js';
export type { Backend } from './kernels/backend.js';
export { refBackend } from './kernels/ref/index.js';
export { Tokenizer } from './tokenizer/bpe.js';
export { ChatTemplate, parseChatMessages } from './tokenizer/chat.js';
export type { ChatMessage } from './tokenizer/chat.js';
export { loadPipeline, encodeText, encodeChat } from './generate/pipeline.js';
export type { Pipeline } from './generate/pipeline.js';
export { Generator, DEFAULT_PARAMS } from './generate/engine.js';
export type { GenerationParams, Sequence, FinishReason } from './generate/engine.js';
export { scoreTokens } from './generate/score.js';
export { WeightStore, writeShardedSafetensors } from './weights/shards.js';
export { SafetensorsFile, writeSafetensors } from './weights/safetensors.js';
export { GgufFile, writeGguf } from './weights/gguf.js';
export type { GgmlType, GgufValue, GgufTensorInfo, GgufTensorSpec } from './weights/gguf.js';
export { train } from './train/trainer.js';
export type { TrainEvents, TrainResult, StepMetrics } from './train/trainer.js';
export { DEFAULT_TRAIN } from './train/options.js';
export type { TrainOptions, Precision } from './train/options.js';
export { runExperiment } from './experiment/run.js';
export type { ExperimentOptions, ExperimentEvents } from './experiment/run.js';
export { suites, FULL as EXPERIMENT_SCALE } from './experiment/suites.js';
export { Engine } from './server/engine.js';
export type { EngineOptions, RequestOptions } from './server/engine.js';
export { QiusuoServer } from './server/http.js';
export type { ServerOptions } from './server/http.js';
export { ApiError } from './server/protocol.js';
export type {
  ChatCompletion, ChatCompletionChunk, ChatCompletionCreateParams, Completion, CompletionCreateParams, Model, ModelList, Usage,
} from './server/protocol.js';
