// `qiusuo export gguf` (a checkpoint folder or GGUF → a llama.cpp deepseek2 GGUF) and `qiusuo export hf`
// (a GGUF or folder → a Hugging Face checkpoint folder).

import type { Command } from 'commander';
import { Option } from 'commander';
import { exportGgufFile, exportHfFolder } from '../model/export.js';
import { GGUF_EXPORT_TYPES, type GgufExportType } from '../weights/gguf-export.js';
import { HF_EXPORT_DTYPES, type HfExportDType } from '../weights/hf-export.js';

export function addExportCommands(program: Command): void {
  const exp = program.command('export').description('write a model in another format');

  exp.command('gguf')
    .description('write a GGUF v3 file that llama.cpp (and ollama, LM Studio, node-llama-cpp) loads as deepseek2')
    .requiredOption('--model <path>', 'checkpoint folder or .gguf file')
    .requiredOption('--out <file>', 'the .gguf file to write')
    .addOption(new Option('--type <type>', 'tensor type (vectors and the router stay F32; q4_0 keeps embedding and head Q8_0)').choices([...GGUF_EXPORT_TYPES]).default('f32'))
    .action((o) => {
      const r = exportGgufFile(o.model, o.out, o.type as GgufExportType);
      for (const f of r.fallbacks) process.stderr.write(`qiusuo: warning: ${f}\n`);
      const dropped = r.mtpModulesLeftOut > 0 ? ` (the MTP module left out, as llama.cpp's converter does)` : '';
      process.stdout.write(`wrote ${o.out}: ${r.tensors} tensors, ${(r.bytes / 1e6).toFixed(1)} MB of weights as ${o.type}${dropped}\n`);
    });

  exp.command('hf')
    .description('write a Hugging Face checkpoint folder (config.json, safetensors, tokenizer files)')
    .requiredOption('--model <path>', '.gguf file or checkpoint folder')
    .requiredOption('--out <dir>', 'the folder to write')
    .addOption(new Option('--dtype <dtype>', 'for block-quantized tensors (Q8_0, Q4_0, Q4_K, Q6_K), which safetensors cannot hold; F32/F16/BF16 tensors keep their type').choices([...HF_EXPORT_DTYPES]).default('bf16'))
    .option('--force', 'overwrite a checkpoint already in --out')
    .action((o) => {
      exportHfFolder(o.model, o.out, o.dtype as HfExportDType, o.force === true);
      process.stdout.write(`wrote ${o.out}\n`);
    });
}
