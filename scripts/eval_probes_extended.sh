#!/usr/bin/env bash
# The extended probe set (issue 20's bars) on a checkpoint, one process per seed so each core runs
# one, then one merged table (scripts/merge_probe_runs.py):
#   scripts/eval_probes_extended.sh CHECKPOINT OUT_DIR [SEED ...]      (seeds default: 0 1)
# Writes OUT_DIR/probes_extended_seed<S>.{json,txt} and probes_extended_<N>seeds.{json,txt}.
# Each process is held to one thread (two seeds take about 5 minutes on a 2-core CPU). Needs the
# corpus for the model's statistics: momug data synth --n 8000 --out corpus --seed 0
# SUITE=sequences runs another suite (files probes_<suite>_...); PROBE_OPTIONS="--whole-prompt"
# passes options on to momug eval probes.
set -euo pipefail
CKPT="${1:?usage: scripts/eval_probes_extended.sh CHECKPOINT OUT_DIR [SEED ...]}"
OUT="${2:?usage: scripts/eval_probes_extended.sh CHECKPOINT OUT_DIR [SEED ...]}"
shift 2
SEEDS=(0 1)
[ $# -eq 0 ] || SEEDS=("$@")
DATA="${DATA:-corpus}"
SUITE="${SUITE:-extended}"
read -r -a OPTIONS <<< "${PROBE_OPTIONS:-}"
mkdir -p "$OUT"
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
pids=()
for seed in "${SEEDS[@]}"; do
  momug eval probes --checkpoint "$CKPT" --data "$DATA" --suite "$SUITE" --seeds 1 --seed "$seed" \
    "${OPTIONS[@]}" --json "$OUT/probes_${SUITE}_seed$seed.json" > "$OUT/probes_${SUITE}_seed$seed.txt" &
  pids+=("$!")
done
for pid in "${pids[@]}"; do wait "$pid"; done  # fails the script if any seed's run failed
runs=()
for seed in "${SEEDS[@]}"; do runs+=("$OUT/probes_${SUITE}_seed$seed.json"); done
merged="$OUT/probes_${SUITE}_${#SEEDS[@]}seeds"
python "$(dirname "$0")/merge_probe_runs.py" "${runs[@]}" --json "$merged.json" | tee "$merged.txt"
