"""The README's animator-tool examples, end to end with the CLI: a procedural walk as the user's
motion, then `momug generate` with --keys, --start, --path and --edit, a two-action prompt (made
step by step), and `momug render` of each result into docs/animator/.

    python scripts/make_animator_previews.py [--out docs/animator] [--steps 25]
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np


def momug(*args: str) -> None:
    cmd = [sys.executable, "-m", "momug.cli", *args]
    print("$ momug " + " ".join(args), flush=True)
    subprocess.run(cmd, check=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default="docs/animator")
    ap.add_argument("--steps", default="25")
    args = ap.parse_args()
    out = Path(args.out)
    work = out / "inputs"
    work.mkdir(parents=True, exist_ok=True)

    from momug.data.synth import compose
    from momug.motion.motionfile import Motion, save_motion

    rng = np.random.default_rng(11)
    while True:  # a procedural walk of at least 5 s stands in for the user's animation
        motion, _, _ = compose.sample_sequence(rng, ["walk", "walk"])
        if len(motion.joints) >= 100:
            break
    walk = np.asarray(motion.joints[:100], dtype=np.float32)
    save_motion(work / "walk.npz", Motion(walk, 20.0, prompt="the user's walk"))
    np.savez(work / "keys.npz", frames=np.array([0, 50, 99]), joints=walk[[0, 50, 99]])
    a = np.linspace(0, 2 * math.pi, 140)
    circle = np.stack([-1.2 * np.sin(a), 1.2 * (1 - np.cos(a))], 1)
    (work / "circle.json").write_text(json.dumps(np.round(circle, 4).tolist()))

    steps = ["--steps", args.steps]
    momug("generate", "a person walks forward", "--keys", str(work / "keys.npz"), "-o", str(out / "fill.npz"), *steps)
    momug("generate", "a person waves with the right hand", "--start", str(work / "walk.npz"), "--seconds", "4",
          "-o", str(out / "continue.npz"), *steps)
    momug("generate", "a person walks forward", "--path", str(work / "circle.json"), "-o", str(out / "circle.npz"),
          *steps)
    momug("generate", "a person raises both arms", "--edit", str(work / "walk.npz"),
          "--keep", "lower", "-o", str(out / "edit.npz"), *steps)
    momug("generate", "a person walks forward then waves with their right hand", "--seconds", "8",
          "-o", str(out / "sequence.npz"), *steps)
    for name in ("fill", "continue", "circle", "edit", "sequence"):
        momug("render", str(out / f"{name}.npz"), "-o", str(out / f"{name}.png"), "--size", "240x240")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
