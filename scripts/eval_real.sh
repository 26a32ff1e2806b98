#!/usr/bin/env bash
# A model on the real (Bandai-Namco) test split, at CPU-sized settings: text-to-motion against the
# ground truth with the evaluator trained on the merged corpus, captions (do they name the content
# and the style?), and the model's physical statistics (foot skating, jitter, bone-length error,
# largest step; one motion per clip from its first caption, with its length) beside the real clips'.
#   scripts/eval_real.sh CHECKPOINT [OUT_DIR] [N_CLIPS]
# Needs corpus_bandai (momug data bandai ...) and the opt-in evaluator's terms accepted
# (momug licence accept backend/momug/checkpoints/evaluator_merged). N_CLIPS (default 128) clips
# are taken evenly over the sorted test split, so every content and style is represented.
set -euo pipefail
CKPT="${1:?usage: scripts/eval_real.sh CHECKPOINT [OUT_DIR] [N_CLIPS]}"
OUT="${2:-docs/results/real/$(basename "$CKPT")}"
N="${3:-128}"
DATA="${DATA:-corpus_bandai}"
EVALUATOR=backend/momug/checkpoints/evaluator_merged
mkdir -p "$OUT"
python - "$DATA" "$N" <<'PY'
import sys
from pathlib import Path
data, n = Path(sys.argv[1]), int(sys.argv[2])
ids = [line for line in (data / "test.txt").read_text().split() if line]
step = max(1, len(ids) // n)
(data / "test_sample.txt").write_text("".join(i + "\n" for i in ids[::step][:n]))
PY
momug eval t2m --checkpoint "$CKPT" --data "$DATA" --split test_sample --evaluator "$EVALUATOR" --repeats 3 \
  --mm-prompts 0 --steps 20 --json "$OUT/t2m.json" | tee "$OUT/t2m.txt"
momug eval m2t --checkpoint "$CKPT" --data "$DATA" --split test_sample --evaluator "$EVALUATOR" --repeats 3 \
  --json "$OUT/m2t.json" | tee "$OUT/m2t.txt"
momug eval real --checkpoint "$CKPT" --data "$DATA" --split test_sample --steps 20 \
  --json "$OUT/physics.json" | tee "$OUT/physics.txt"
