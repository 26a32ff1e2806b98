#!/usr/bin/env bash
# The checks a streaming candidate is read by before the table of scripts/eval_stream.sh
# (docs/training.md, streaming stages 15-17), on a checkpoint folder (export a run first with
# scripts/export_checkpoint.py RUN OUT --guidance 5):
#   prompt reliance on corpus val (how much another clip's caption, or the caption with its sides
#   swapped, raises the teacher-forced flow error; 64 clips each), the extended probe set and the
#   14 held-out "A then B" prompts over seeds 0-3, the 4 s gaits' speed profile over 8 seeds, and
#   text to motion on the validation split (128 clips, one repetition; the test split is for the
#   README's table, scripts/eval_stream.sh).
#   scripts/eval_stream_candidate.sh CHECKPOINT OUT_DIR
# Needs corpus/ (the probes' statistics) and corpus_focus_merged/ (scripts/train_default.sh makes
# both). About 40 minutes on a 2-core CPU.
set -euo pipefail
CKPT="${1:?usage: scripts/eval_stream_candidate.sh CHECKPOINT OUT_DIR}"
OUT="${2:?usage: scripts/eval_stream_candidate.sh CHECKPOINT OUT_DIR}"
HERE="$(cd "$(dirname "$0")" && pwd)"
mkdir -p "$OUT/sequences"
python "$HERE/stream_prompt_reliance.py" --checkpoint "$CKPT" --data corpus_focus_merged --clips 64 \
  > "$OUT/prompt_reliance.txt"
python "$HERE/stream_prompt_reliance.py" --checkpoint "$CKPT" --data corpus_focus_merged --clips 64 --sided \
  > "$OUT/side_reading.txt"
for seeds in "0 1" "2 3"; do
  # shellcheck disable=SC2086  # two seeds, one process each
  bash "$HERE/eval_probes_extended.sh" "$CKPT" "$OUT" $seeds > /dev/null
  SUITE=sequences bash "$HERE/eval_probes_extended.sh" "$CKPT" "$OUT/sequences" $seeds > /dev/null
done
python "$HERE/merge_probe_runs.py" "$OUT"/probes_extended_seed{0,1,2,3}.json --json "$OUT/probes_extended_4seeds.json" \
  > "$OUT/probes_extended_4seeds.txt"
python "$HERE/merge_probe_runs.py" "$OUT"/sequences/probes_sequences_seed{0,1,2,3}.json \
  --json "$OUT/sequences/probes_sequences_4seeds.json" > "$OUT/sequences/probes_sequences_4seeds.txt"
rm -f "$OUT"/probes_extended_2seeds.* "$OUT"/sequences/probes_sequences_2seeds.*
python "$HERE/speed_profile.py" --checkpoint "$CKPT" --mode stream --seeds 8 > "$OUT/speed_profile_8seeds.txt"
momug eval t2m --mode stream --checkpoint "$CKPT" --data corpus --split val --limit 128 --repeats 1 \
  --mm-prompts 0 --json "$OUT/t2m_val.json" > "$OUT/t2m_val.txt"
tail -n 3 "$OUT/prompt_reliance.txt" "$OUT/probes_extended_4seeds.txt" "$OUT/sequences/probes_sequences_4seeds.txt" \
  "$OUT/t2m_val.txt"
