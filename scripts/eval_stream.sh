#!/usr/bin/env bash
# The default streaming model's evaluation table in the README, at CPU-sized settings (the
# streaming mode is slower to evaluate, so fewer clips than scripts/eval_default.sh).
# Needs the corpus: momug data synth --n 8000 --out corpus --seed 0
#   scripts/eval_stream.sh [CHECKPOINT] [OUT_DIR]
set -euo pipefail
CKPT="${1:-backend/momug/checkpoints/stream_default}"
OUT="${2:-docs/results/stream}"
mkdir -p "$OUT"
momug eval t2m --mode stream --checkpoint "$CKPT" --data corpus --limit 128 --repeats 3 --mm-prompts 8 \
  --mm-samples 4 --json "$OUT/t2m.json" | tee "$OUT/t2m.txt"
momug eval m2t --mode stream --checkpoint "$CKPT" --data corpus --limit 128 --repeats 3 --json "$OUT/m2t.json" \
  | tee "$OUT/m2t.txt"
momug eval probes --mode stream --checkpoint "$CKPT" --data corpus --seeds 1 --json "$OUT/probes.json" \
  | tee "$OUT/probes.txt"
