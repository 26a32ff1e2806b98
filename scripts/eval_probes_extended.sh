#!/usr/bin/env bash
# The extended probe set (issue 20's bars) on a checkpoint, one process per seed so each core runs
# one, then one merged table (scripts/merge_probe_runs.py):
#   scripts/eval_probes_extended.sh CHECKPOINT OUT_DIR [SEED ...]      (seeds default: 0 1)
# Writes OUT_DIR/probes_extended_seed<S>.{json,txt} and probes_extended_<N>seeds.{json,txt}.
# Each process is held to one thread (two seeds take about 5 minutes on a 2-core CPU). Needs the
# corpus for the model's statistics: momug data synth --n 8000 --out corpus --seed 0
set -euo pipefail
CKPT="${1:?usage: scripts/eval_probes_extended.sh CHECKPOINT OUT_DIR [SEED ...]}"
OUT="${2:?usage: scripts/eval_probes_extended.sh CHECKPOINT OUT_DIR [SEED ...]}"
shift 2
SEEDS=(0 1)
[ $# -eq 0 ] || SEEDS=("$@")
DATA="${DATA:-corpus}"
mkdir -p "$OUT"
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
pids=()
for seed in "${SEEDS[@]}"; do
  momug eval probes --checkpoint "$CKPT" --data "$DATA" --suite extended --seeds 1 --seed "$seed" \
    --json "$OUT/probes_extended_seed$seed.json" > "$OUT/probes_extended_seed$seed.txt" &
  pids+=("$!")
done
for pid in "${pids[@]}"; do wait "$pid"; done  # fails the script if any seed's run failed
runs=()
for seed in "${SEEDS[@]}"; do runs+=("$OUT/probes_extended_seed$seed.json"); done
merged="$OUT/probes_extended_${#SEEDS[@]}seeds"
python "$(dirname "$0")/merge_probe_runs.py" "${runs[@]}" --json "$merged.json" | tee "$merged.txt"
