#!/usr/bin/env bash
# A/B of decode and prefill speed on a small model between two builds of qiusuo, alternating runs (this VM drifts):
#   bash bench/ab-small.sh OLD_CHECKOUT MODEL_DIR [ROUNDS]
# Each round runs `bench generate --json` once with each build; prints one JSON line per run.
set -euo pipefail
old=$1 model=$2 rounds=${3:-5}
for i in $(seq "$rounds"); do
  for side in old new; do
    bin=$([ "$side" = old ] && echo "$old/bin/qiusuo.js" || echo bin/qiusuo.js)
    printf '{"side":"%s","round":%d,"r":%s}\n' "$side" "$i" "$(node "$bin" bench generate --model "$model" --prompt-tokens 64 --new-tokens 64 --repeat 3 --json)"
  done
done
