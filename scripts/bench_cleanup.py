#!/usr/bin/env python
"""What each cleanup pass (momug.motion.cleanup) does to real clips and to generated motion.

Real clips of a corpus split go through the jitter low-pass alone (they have no token seams and
their feet are real): what it keeps of real motion (largest one-frame step, foot skating) and
takes away (jitter). With --model, one motion per clip is generated from the clip's first caption
at its length (raw sampler output, the same seeds every run), then mended, low-passed and
feet-cleaned pass by pass, each row beside the real clips' figures:

    MOMUG_ACCEPT_LICENCES="CC BY-NC 4.0" python scripts/bench_cleanup.py corpus_bandai --model real
    python scripts/bench_cleanup.py corpus_bandai --model default
"""

from __future__ import annotations

import argparse
import json
import sys

import numpy as np


COLUMNS = ("foot_skating_m_s", "jitter_m_s3", "largest_step_m")


def mean_physics(motions: list[np.ndarray], fps: float) -> dict[str, float]:
    from momug.eval.physics import physics_report
    from momug.eval.real_motion import mean_physics as mean_over_clips

    return mean_over_clips([physics_report(m, fps) for m in motions])


def row(label: str, stats: dict, real: dict | None) -> str:
    cells = [f"{stats[k]:.3f}" + (f" ({stats[k] / real[k]:.2f}x)" if real and real[k] > 0 else "")
             for k in COLUMNS]
    return f"| {label} | " + " | ".join(cells) + " |"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("data", help="an imported real corpus (momug data bandai / import: meta.jsonl rows with a content kind)")
    parser.add_argument("--split", default="test_sample", help="ids file in the folder (default test_sample)")
    parser.add_argument("--limit", type=int, default=None, help="first N clips of the split")
    parser.add_argument("--model", default=None, help="also generate with this shipped model (default, real)")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--json", default=None, help="write the figures here too")
    args = parser.parse_args()

    from momug.eval.real_motion import first_caption, real_clips
    from momug.motion.cleanup import clean_foot_contacts, mend_seams, smooth_jitter

    fps = 20.0
    root, meta, ids = real_clips(args.data, args.split, args.limit)
    real = [np.load(root / "new_joints" / f"{i}.npy").astype(np.float64) for i in ids]
    table = {"real": mean_physics(real, fps), "real, low-passed": mean_physics([smooth_jitter(m, fps) for m in real], fps)}
    if args.model:
        from momug.model import registry
        from momug.pipeline import MotionPipeline

        pipe = MotionPipeline.load(registry.checkpoint_for(args.model, None), "cpu")
        lo, hi = int(round(pipe.min_seconds * fps)), int(round(pipe.max_seconds * fps))
        raw = []
        for start in range(0, len(ids), 8):
            batch = ids[start:start + 8]
            prompts = [first_caption(root, i, meta.get(i, {})) for i in batch]
            seconds = [min(max(len(real[start + k]), lo), hi) / fps for k in range(len(batch))]
            made = pipe.generate(prompts, seconds, [start + k for k in range(len(batch))], steps=args.steps, raw=True)
            raw += [m.joints.astype(np.float64) for m in made]
            print(f"generated {len(raw)}/{len(ids)}", file=sys.stderr, flush=True)
        period = pipe.model.config.frames_per_token
        mended = [mend_seams(m, period) for m in raw]
        smoothed = [smooth_jitter(m, fps) for m in mended]
        table.update({"model output": mean_physics(raw, fps), "seams mended": mean_physics(mended, fps),
                      "seams + feet (before the low-pass)": mean_physics([clean_foot_contacts(m, fps) for m in mended], fps),
                      "seams + low-pass": mean_physics(smoothed, fps),
                      "seams + low-pass + feet (default)": mean_physics([clean_foot_contacts(m, fps) for m in smoothed], fps)})
    print(f"{args.data} ({args.split}, {len(ids)} clips){'; model ' + args.model if args.model else ''}; "
          "means over clips, ratio to the real clips':")
    print("| | foot skating m/s | jitter m/s^3 | largest one-frame step m |")
    print("|---|---|---|---|")
    for label, stats in table.items():
        print(row(label, stats, None if label == "real" else table["real"]))
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump({"data": str(args.data), "split": args.split, "clips": len(ids), "model": args.model,
                       "steps": args.steps, "rows": table}, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
