#!/usr/bin/env bash
# Classifier-free guidance scales compared on the corpus' validation split (never the test split,
# whose figures the README reports): R-precision, FID and MM-Dist per scale, one table.
#   scripts/sweep_guidance.sh [CHECKPOINT] [OUT_DIR] [SCALES...]
set -euo pipefail
CKPT="${1:-backend/momug/checkpoints/default}"
OUT="${2:-docs/results/guidance_val}"
shift $(( $# < 2 ? $# : 2 ))
SCALES=("$@")
[ ${#SCALES[@]} -gt 0 ] || SCALES=(1.5 2.5 4 6)
mkdir -p "$OUT"
for g in "${SCALES[@]}"; do
  momug eval t2m --checkpoint "$CKPT" --data corpus --split val --limit 128 --repeats 2 --mm-prompts 0 \
    --steps 20 --guidance "$g" --json "$OUT/t2m_g$g.json" > "$OUT/t2m_g$g.txt"
done
python - "$OUT" "${SCALES[@]}" <<'PY' | tee "$OUT/summary.txt"
import json, sys
out, scales = sys.argv[1], sys.argv[2:]
print(f"{'guidance':>8} {'R@1':>6} {'R@3':>6} {'FID':>7} {'MM-Dist':>8} {'Diversity':>9}")
for g in scales:
    m = json.load(open(f"{out}/t2m_g{g}.json"))["rows"]["model"]
    print(f"{g:>8} {m['top1']['mean']:6.3f} {m['top3']['mean']:6.3f} {m['fid']['mean']:7.3f} "
          f"{m['mm_dist']['mean']:8.3f} {m['diversity']['mean']:9.3f}")
PY
