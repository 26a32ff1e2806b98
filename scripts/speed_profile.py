"""How fast the generated motion travels over time, for prompts that name a gait: the pelvis's
ground speed every 0.5 s, per seed, and how much of the clip's second half is still moving.
A check on the "does it keep walking for as long as asked" failure (docs/training.md, recipe
run part 2):

    python scripts/speed_profile.py [--checkpoint DIR] [--mode stream] [--seconds 4] [--seeds 4] ["a person jogs forward." ...]
"""

from __future__ import annotations

import argparse
import sys

import numpy as np

from momug.motion.travel import root_ground_speed

PROMPTS = ("a person walks straight ahead.", "a person jogs forward.", "a person runs forward.",
           "a person walks forward slowly.")
MOVING = 0.3  # m/s: faster than this counts as travelling


def summarize(speeds: list[np.ndarray]) -> dict:
    """Mean speed and the share of second-half frames above MOVING, over the seeds' clips."""
    second = [s[len(s) // 2:] for s in speeds]
    return {"mean_speed": float(np.mean([s.mean() for s in speeds])),
            "moving_second_half": float(np.mean([(s > MOVING).mean() for s in second]))}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("prompts", nargs="*", default=list(PROMPTS))
    parser.add_argument("--checkpoint", help="model folder (default: the shipped model of the mode)")
    parser.add_argument("--mode", choices=("diffusion", "stream"), default="diffusion")
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--seeds", type=int, default=4)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--guidance", type=float, help="default: the model's own")
    args = parser.parse_args(argv)

    from momug.pipeline import MotionPipeline
    from momug.stream.pipeline import StreamPipeline

    stream = args.mode == "stream"
    pipe = (StreamPipeline if stream else MotionPipeline).load(args.checkpoint, device="cpu")
    every = max(int(round(pipe.fps / 2)), 1)
    for prompt in args.prompts:
        seeds = list(range(args.seeds))
        if stream:   # the seeds as one batch, with the streaming model's own flow steps
            joints = pipe.joints_batch([prompt] * len(seeds), args.seconds, seeds, guidance=args.guidance)
        else:
            joints = [m.joints for m in pipe.generate([prompt] * len(seeds), [args.seconds] * len(seeds), seeds,
                                                      guidance=args.guidance, steps=args.steps, raw=True)]
        speeds = [root_ground_speed(j, pipe.fps) for j in joints]
        s = summarize(speeds)
        print(f"{prompt!r}: mean {s['mean_speed']:.2f} m/s, second half moving {s['moving_second_half']:.0%}")
        for seed, v in zip(seeds, speeds):
            print(f"  seed {seed}: " + " ".join(f"{x:.1f}" for x in v[::every]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
