#!/usr/bin/env bash
# Classifier-free guidance scales for a streaming checkpoint compared on prompt following: the
# extended probe set and the held-out "A then B" suite at each scale, same seeds, one table.
# (Probes, not the validation split's R-precision as in scripts/sweep_guidance.sh: the streaming
# model's scale was chosen on probes, and the sided prompts are where scales differ most.)
#   scripts/sweep_stream_guidance.sh CHECKPOINT OUT_DIR [SCALES...]     (default 2.5 5; SEEDS="0 1")
# About 8 minutes per scale for two seeds on a 2-core CPU. Needs corpus/ (the probes' statistics).
set -euo pipefail
CKPT="${1:?usage: scripts/sweep_stream_guidance.sh CHECKPOINT OUT_DIR [SCALES...]}"
OUT="${2:?usage: scripts/sweep_stream_guidance.sh CHECKPOINT OUT_DIR [SCALES...]}"
shift 2
SCALES=("$@")
[ ${#SCALES[@]} -gt 0 ] || SCALES=(2.5 5)
read -r -a SEEDS <<< "${SEEDS:-0 1}"
HERE="$(cd "$(dirname "$0")" && pwd)"
for g in "${SCALES[@]}"; do
  # A scale whose two tables are already there is not made again (rerun after an interruption).
  [ -f "$OUT/g$g/probes_extended_${#SEEDS[@]}seeds.json" ] && [ -f "$OUT/g$g/probes_sequences_${#SEEDS[@]}seeds.json" ] \
    && continue
  PROBE_OPTIONS="--guidance $g" bash "$HERE/eval_probes_extended.sh" "$CKPT" "$OUT/g$g" "${SEEDS[@]}" > /dev/null
  PROBE_OPTIONS="--guidance $g" SUITE=sequences bash "$HERE/eval_probes_extended.sh" "$CKPT" "$OUT/g$g" \
    "${SEEDS[@]}" > /dev/null
done
python - "$OUT" "${#SEEDS[@]}" "${SCALES[@]}" <<'PY' | tee "$OUT/summary.txt"
import json, sys

out, n_seeds, scales = sys.argv[1], sys.argv[2], sys.argv[3:]


def count(rate, n):
    return f"{round(rate * n):>3}/{n:<3}" if n else "   -   "


print(f"extended probes and held-out sequences, {n_seeds} seed(s) per scale (passes / generations)")
print(f"{'guidance':>8} {'extended':>8} {'held-out':>8} {'hand L':>7} {'hand R':>7} {'leg L':>7} {'leg R':>7} "
      f"{'speed/ht':>8} {'A then B':>8}")
for g in scales:
    ext = json.load(open(f"{out}/g{g}/probes_extended_{n_seeds}seeds.json"))["summary"]
    seq = json.load(open(f"{out}/g{g}/probes_sequences_{n_seeds}seeds.json"))["summary"]
    side = ext["by_side"]
    cells = [count(ext["pass_rate"], ext["n"]), count(ext["pass_rate_held_out"], ext["n_held_out"])]
    cells += [count(side[group][s]["pass_rate"], side[group][s]["n"]) for group in ("hand", "leg")
              for s in ("left", "right")]
    cells += [count(ext["pass_rate_speed_height"], ext["n_speed_height"]), count(seq["pass_rate"], seq["n"])]
    widths = (8, 8, 7, 7, 7, 7, 8, 8)
    print(f"{g:>8} " + " ".join(f"{c:>{w}}" for c, w in zip(cells, widths)))
PY
