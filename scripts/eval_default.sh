#!/usr/bin/env bash
# The default model's evaluation tables in the README (t2m, m2t, probes, language kept), at
# CPU-sized settings (about 15 minutes on 2 cores). Needs the corpus: momug data synth --n 8000 --out corpus --seed 0
#   scripts/eval_default.sh [CHECKPOINT] [OUT_DIR]
# On a GPU, drop the --limit/--repeats/--mm-* overrides to run the full protocol.
set -euo pipefail
CKPT="${1:-backend/momug/checkpoints/default}"
OUT="${2:-docs/results}"
mkdir -p "$OUT"
momug eval t2m --checkpoint "$CKPT" --data corpus --limit 128 --repeats 3 --mm-prompts 16 --mm-samples 8 \
  --steps 20 --json "$OUT/t2m.json" | tee "$OUT/t2m.txt"
momug eval m2t --checkpoint "$CKPT" --data corpus --limit 256 --repeats 3 --json "$OUT/m2t.json" | tee "$OUT/m2t.txt"
momug eval probes --checkpoint "$CKPT" --data corpus --seeds 3 --steps 20 --json "$OUT/probes.json" | tee "$OUT/probes.txt"
momug eval perplexity --checkpoint "$CKPT" --json "$OUT/perplexity.json" | tee "$OUT/perplexity.txt"
