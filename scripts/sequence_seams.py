"""Is the join between a sequence's steps an ordinary frame? For every "A then B" probe prompt
(`momug eval probes --suite sequences` and the extended suite's), the motion as users get it
(made step by step, cleaned up) and, at the join, the largest one-frame move of any joint against
that motion's own 95th-percentile and largest steps. A pop would stand out as a join step above
the motion's largest elsewhere.

    python scripts/sequence_seams.py [--checkpoint DIR] [--seconds 8] [--seed 0] [--steps 20] [--json OUT]
"""

from __future__ import annotations

import argparse
import json

import numpy as np


def seam_report(joints: np.ndarray, joins: list[int]) -> dict:
    """Step sizes (m per frame) at the joins (frames where a step starts) against the whole motion's."""
    from momug.constraints import frame_steps

    steps = frame_steps(np.asarray(joints, dtype=np.float64))
    near = [i for j in joins for i in range(max(j - 2, 0), min(j + 2, len(steps)))]
    at_join = float(steps[near].max())
    p95 = float(np.percentile(steps, 95))
    return {"join_step_m": at_join, "p95_step_m": p95, "largest_elsewhere_m": float(np.delete(steps, near).max()),
            "ratio_to_p95": at_join / p95}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--checkpoint", default=None, help="model folder or 'tiny' (default: the shipped default)")
    ap.add_argument("--seconds", type=float, default=8.0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--json", help="also write the rows here")
    args = ap.parse_args(argv)

    from momug.eval import probes
    from momug.pipeline import MotionPipeline

    pipe = MotionPipeline.load(args.checkpoint, "cpu")
    prompts = [p.prompt for p in probes.probe_suite("sequences") + probes.extended_probes() if "sequence" in p.tags]
    motions = pipe.generate(prompts, [args.seconds] * len(prompts), [args.seed] * len(prompts), steps=args.steps)
    rows = []
    for prompt, motion in zip(prompts, motions):
        shares = [frames for _, frames in pipe.sequence_plan(prompt, args.seconds)]
        joins = list(np.cumsum(shares)[:-1])
        rows.append({"prompt": prompt, "joins": [int(j) for j in joins], **seam_report(motion.joints, joins)})
        r = rows[-1]
        print(f"{r['join_step_m']:.3f} m at the join, p95 {r['p95_step_m']:.3f}, largest elsewhere "
              f"{r['largest_elsewhere_m']:.3f}  {prompt}")
    ratios = [r["ratio_to_p95"] for r in rows]
    above = sum(r["join_step_m"] > r["largest_elsewhere_m"] for r in rows)
    print(f"\n{len(rows)} prompts: join step / the motion's 95th-percentile step: median {np.median(ratios):.2f}, "
          f"largest {max(ratios):.2f}; joins larger than every other step: {above}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"seconds": args.seconds, "seed": args.seed, "steps": args.steps, "rows": rows}, f, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
