"""One-off check (docs/training.md, "How much history a sequence's next step reads"): streaming
sequences made step by step, each next step reading only the last KEEP latents of the steps before
it (all: as shipped; 0: a fresh start from BOM). For each KEEP: the extended suite's sequence probes
(seed 0), then the fastest joint's speed at the seam of three sequences (8 s, split at 4 s) against
the rest of the clip, as streamed (cleanup on).
  python docs/results/stream_sequence_history/sequence_history.py CHECKPOINT|shipped all 0 2
"""
import sys
from itertools import accumulate

import numpy as np
import torch

from momug.eval import probes as P
from momug.stream.pipeline import StreamPipeline

SEAM_PROMPTS = ("a person walks forward then waves with their right hand.", "a person squats down, then raises both arms.",
                "a person walks backward then claps their hands.")


def reading_last(keep):
    def _latents(self, plan, seed, steps, should_stop=None, guidance=None):
        totals = list(accumulate(f for _, f in plan))
        ends = [round(t / self.frames_per_latent) for t in totals[:-1]] + [self.latents_for(totals[-1])]
        generator = torch.Generator(device=self.model.device).manual_seed(int(seed))
        guidance = self.guidance if guidance is None else float(guidance)
        made = []
        for (prompt, _), start, end in zip(plan, [0] + ends[:-1], ends):
            history = made if keep is None else made[-keep:] if keep else []
            for z in self.model.stream_latents(prompt, max_latents=end - start, min_latents=end - start, steps=steps,
                                               generator=generator, guidance=guidance, total=ends[-1],
                                               history=torch.stack(history) if history else None):
                made.append(z)
                yield z
    return _latents


def report(pipe, probes, label, seed=0, after=6):
    """The probes (with `seed`): both halves and second halves passed, each verdict; then the fastest
    joint's speed from 6 frames before the seam to `after` frames after it, on SEAM_PROMPTS (seed 0),
    against the rest of the clip (the 6 frames either side of the seam left out)."""
    rows = P.run_probes(lambda prompts, seconds, seed: [np.concatenate(list(pipe.stream(p, seconds, seed=seed)))
                                                        for p in prompts], probes, seeds=(seed,))
    both = sum(r["passed"] for r in rows)
    second = sum("then [ok]" in r["detail"] for r in rows)
    print(f"{label}: both halves {both}/{len(rows)}, second half done {second}/{len(rows)}", flush=True)
    for r in rows:
        print(f"    {'pass' if r['passed'] else 'fail'}  {r['prompt']} | {r['detail']}", flush=True)
    for prompt in SEAM_PROMPTS:
        joints = np.concatenate(list(pipe.stream(prompt, 8.0, seed=0)))
        fastest = np.linalg.norm(np.diff(joints, axis=0), axis=-1).max(axis=-1) * pipe.fps
        seam, near = 80, 6
        rest = np.r_[fastest[:seam - near], fastest[seam + near:]]
        print(f"    seam of '{prompt}': fastest joint {fastest[seam - near:seam + after].max():.2f} m/s "
              f"(rest of the clip: 95th percentile {np.percentile(rest, 95):.2f}, max {rest.max():.2f})", flush=True)


def main():
    pipe = StreamPipeline.load(None if sys.argv[1] == "shipped" else sys.argv[1], device="cpu")
    probes = [p for p in P.extended_probes() if "sequence" in p.tags]
    for arg in sys.argv[2:]:
        keep = None if arg == "all" else int(arg)
        StreamPipeline._latents = reading_last(keep)
        report(pipe, probes, f"history {arg}")


if __name__ == "__main__":
    main()
