#!/usr/bin/env bash
# Train the text/motion matching evaluator that ships with momug (backend/momug/checkpoints/evaluator)
# on the procedural corpus' train split, and print its ground-truth numbers on the test split.
#
#   scripts/train_evaluator.sh [DATA_DIR] [OUT_DIR]
#
# DATA_DIR defaults to ./corpus (generated here with `momug data synth --n 8000 --seed 0` if missing);
# OUT_DIR defaults to the packaged location. STEPS (default 2000) sets the training length; about
# ten minutes of one CPU core. Any HumanML3D/KIT-ML folder works as DATA_DIR as well.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DATA="${1:-$ROOT/corpus}"
OUT="${2:-$ROOT/backend/momug/checkpoints/evaluator}"

if [[ ! -f "$DATA/train.txt" ]]; then
  nice -n 19 momug data synth --n 8000 --out "$DATA" --seed 0
fi
exec nice -n 19 momug eval train-evaluator --data "$DATA" -o "$OUT" --steps "${STEPS:-2000}"
