#!/usr/bin/env bash
# Reproduce the shipped default models from nothing (run from anywhere; works in the repo root):
#   1. the procedural corpus            momug data synth --n 8000 --out corpus --seed 0
#   2. diffusion, stage 1 (plain schedule)   configs/default.toml         -> runs/default
#   3. diffusion, stage 2 (shifted schedule, prompt path) configs/default_stage2.toml -> runs/default_stage2
#   4. the base model's own text, replayed so the adapter keeps its English -> corpus/general_text.jsonl
#   5. diffusion, stage 3 (+ general text, root weighted) configs/default_stage3.toml -> runs/default_stage3
#   6. diffusion, stage 4 (general text against the base model's distribution) configs/default_stage4.toml
#   7. diffusion, stage 5 (more of stage 4's recipe, fresh schedule) configs/default_stage5.toml
#   8. diffusion, stage 6 (the same again, lower peak learning rate) configs/default_stage6.toml
#   9. stage 6's float16 copy into backend/momug/checkpoints/default (the recipe run starts from it)
#  10. the corpus with both vocabularies' captions and the training split's mirrors -> corpus_both
#  11. the recipe run (motion-scoped adapter, issue 20)  configs/motion_scope_stage1.toml -> runs/motion_scope_stage1
#  12. its float16 copy, with the guidance scale chosen on the validation split, into
#      checkpoints_in_training/motion_scope_stage1 (part 2 and the real model's stage 2 start from it)
#  12b. a corpus of the actions the probes failed most, merged with corpus_both, mirrored, with
#      steady-gait windows -> corpus_focus_merged
#  12c. the recipe run's part 2 (steady gaits)     configs/motion_scope_stage2.toml -> runs/motion_scope_stage2
#  12d. its float16 copy, guidance 2.5, into checkpoints_in_training/motion_scope_stage2 (part 6 starts from it)
#  12e. part 2's two corpora again with small and big jumps apart, merged, mirrored, steady windows,
#      and two weighted lists of its training split -> corpus_focus_merged_apart
#  12f. part 6 (kicks and jumps in place x3)       configs/motion_scope_stage6.toml -> its copy in checkpoints_in_training
#  12g. part 7 (gaits, kicks and jumps x2)         configs/motion_scope_stage7.toml -> its copy in checkpoints_in_training
#  12h. part 8 (settled on part 2's data)          configs/motion_scope_stage8.toml -> its copy in checkpoints_in_training
#  12i. onset windows of part 2's corpus (gaits from standing, still going at the end)
#  12j. part 11 (part 8's data with the onset windows) configs/motion_scope_stage11.toml
#  12k. its float16 copy, guidance 2.5, into backend/momug/checkpoints/default (what ships)
#  13. streaming model on the shipped VAE's latents       configs/stream_default.toml -> runs/stream_default
#  14. its float16 copy into backend/momug/checkpoints/stream_default (stage 2 starts from it)
#  15. streaming stage 2 (text dropout, for guidance)     configs/stream_stage2.toml, stopped at step 2625
#      as it was; its float16 copy into checkpoints_in_training/stream_stage2
#  16. its second part from those weights              configs/stream_stage2_part2.toml, stopped at step 200
#  17. its float16 copy, guidance 5, into checkpoints_in_training/stream_stage2_step2825
#  18. stage 12 on corpus_focus_merged's onset windows without stopping gaits (12b and 12i, then
#      `momug data steady --onset --without-stops`)   configs/stream_stage12.toml -> its copy in
#      checkpoints_in_training/stream_stage12 (stages 13-16 start from it)
#  19. stage 15 (the side contrast), stopped at step 1000 as it was   configs/stream_stage15.toml
#  20. its float16 copy, guidance 5, into backend/momug/checkpoints/stream_default (what ships)
# Each training step resumes if interrupted: rerun the script. Pass "diffusion" or "stream" to do one.
set -euo pipefail
cd "$(dirname "$0")/.."
what="${1:-all}"
[ -d corpus ] || momug data synth --n 8000 --out corpus --seed 0
# Steps 10 and 12b: both vocabularies' corpus and the focus corpus, merged, mirrored, with steady windows.
focus_corpus() {
  [ -d corpus_both ] || momug data synth --n 8000 --out corpus_both --seed 0 --vocabulary both
  [ -f corpus_both/train_mirrored.txt ] || momug data mirror corpus_both
  [ -d corpus_focus ] || momug data synth --n 4000 --out corpus_focus --seed 1 --vocabulary both \
    --actions walk,jog,run,jump_in_place,jump_forward,spin,turn,kick,clap,squat,sidestep,wave,walk_backward
  if [ ! -f corpus_focus_merged/train_mirrored_steady.txt ]; then
    [ -d corpus_focus_merged ] || momug data merge both=corpus_both focus=corpus_focus --out corpus_focus_merged
    [ -f corpus_focus_merged/train_mirrored.txt ] || momug data mirror corpus_focus_merged
    momug data steady corpus_focus_merged
  fi
}
if [ "$what" = all ] || [ "$what" = diffusion ]; then
  momug train --config configs/default.toml
  momug train --config configs/default_stage2.toml
  [ -f corpus/general_text.jsonl ] || momug data general-text --out corpus/general_text.jsonl --seed 0
  momug train --config configs/default_stage3.toml --max-steps 1225  # stopped there (see the config)
  momug train --config configs/default_stage4.toml
  momug train --config configs/default_stage5.toml
  momug train --config configs/default_stage6.toml
  python scripts/export_checkpoint.py runs/default_stage6 backend/momug/checkpoints/default
  [ -d corpus_both ] || momug data synth --n 8000 --out corpus_both --seed 0 --vocabulary both
  [ -f corpus_both/train_mirrored.txt ] || momug data mirror corpus_both
  momug train --config configs/motion_scope_stage1.toml
  # 2.5 chosen on the validation split: scripts/sweep_guidance.sh runs/motion_scope_stage1 OUT 1.5 2.5 4
  python scripts/export_checkpoint.py runs/motion_scope_stage1 checkpoints_in_training/motion_scope_stage1 --guidance 2.5
  focus_corpus
  momug train --config configs/motion_scope_stage2.toml
  python scripts/export_checkpoint.py runs/motion_scope_stage2 checkpoints_in_training/motion_scope_stage2 --guidance 2.5
  if [ ! -f corpus_focus_merged_apart/train_mirrored_steady_weighted_gaits.txt ]; then
    [ -d corpus_both_apart ] || momug data synth --n 8000 --out corpus_both_apart --seed 0 --vocabulary both \
      --jump-heights apart
    [ -d corpus_focus_apart ] || momug data synth --n 4000 --out corpus_focus_apart --seed 1 --vocabulary both \
      --jump-heights apart \
      --actions walk,jog,run,jump_in_place,jump_forward,spin,turn,kick,clap,squat,sidestep,wave,walk_backward
    [ -d corpus_focus_merged_apart ] || momug data merge both=corpus_both_apart focus=corpus_focus_apart \
      --out corpus_focus_merged_apart
    [ -f corpus_focus_merged_apart/train_mirrored.txt ] || momug data mirror corpus_focus_merged_apart
    [ -f corpus_focus_merged_apart/train_mirrored_steady.txt ] || momug data steady corpus_focus_merged_apart
    momug data weight corpus_focus_merged_apart --split train_mirrored_steady --times kick=3,jump_in_place=3
    momug data weight corpus_focus_merged_apart --split train_mirrored_steady \
      --times kick=2,jump_in_place=2,walk=2,jog=2,run=2 --name train_mirrored_steady_weighted_gaits
  fi
  momug train --config configs/motion_scope_stage6.toml
  python scripts/export_checkpoint.py runs/motion_scope_stage6 checkpoints_in_training/motion_scope_stage6 --guidance 2.5
  momug train --config configs/motion_scope_stage7.toml
  python scripts/export_checkpoint.py runs/motion_scope_stage7 checkpoints_in_training/motion_scope_stage7 --guidance 2.5
  momug train --config configs/motion_scope_stage8.toml
  python scripts/export_checkpoint.py runs/motion_scope_stage8 checkpoints_in_training/motion_scope_stage8 --guidance 2.5
  [ -f corpus_focus_merged/train_mirrored_steady_onset.txt ] || momug data steady corpus_focus_merged --onset
  momug train --config configs/motion_scope_stage11.toml
  python scripts/export_checkpoint.py runs/motion_scope_stage11 backend/momug/checkpoints/default --guidance 2.5
fi
if [ "$what" = all ] || [ "$what" = stream ]; then
  momug stream train --config configs/stream_default.toml
  python scripts/export_checkpoint.py runs/stream_default backend/momug/checkpoints/stream_default
  # The shipped model's two parts, each stopped where it was (--stop-after keeps the schedule).
  momug stream train --config configs/stream_stage2.toml --stop-after 2625
  python scripts/export_checkpoint.py runs/stream_stage2 checkpoints_in_training/stream_stage2
  momug stream train --config configs/stream_stage2_part2.toml --stop-after 200
  python scripts/export_checkpoint.py runs/stream_stage2_part2 checkpoints_in_training/stream_stage2_step2825 --guidance 5
  focus_corpus
  [ -f corpus_focus_merged/train_mirrored_steady_onset_nostops.txt ] || \
    momug data steady corpus_focus_merged --onset --without-stops
  momug stream train --config configs/stream_stage12.toml
  python scripts/export_checkpoint.py runs/stream_stage12 checkpoints_in_training/stream_stage12 --guidance 5
  momug stream train --config configs/stream_stage15.toml --stop-after 1000
  python scripts/export_checkpoint.py runs/stream_stage15 backend/momug/checkpoints/stream_default --guidance 5
fi
