"""One-off check behind momug.stream.pipeline's SEAM_BRIDGE_LATENTS (docs/training.md, "A
sequence's next step from a fresh start, bridged"): streaming sequences made step by step where
each next step starts fresh (no history) and its first N latents are replaced by a linear blend from
the previous step's last latent to the next step's latent N, so the second action happens without
a pop. N = -1: the pipeline's own _latents, which when this ran (commit 65ab560) read every latent
made so far. Seed from $SEED (default 0); the seam check always uses seed 0.
  SEED=1 python seam_bridge.py CHECKPOINT|shipped N [N ...]
"""
import sys
from itertools import accumulate

import numpy as np
import torch

from momug.eval import probes as P
from momug.stream.pipeline import StreamPipeline

SEAM_PROMPTS = ("a person walks forward then waves with their right hand.", "a person squats down, then raises both arms.",
                "a person walks backward then claps their hands.")
ORIGINAL = StreamPipeline._latents
import os
SEED = int(os.environ.get("SEED", "0"))


def bridged(n_bridge):
    def _latents(self, plan, seed, steps, should_stop=None, guidance=None):
        totals = list(accumulate(f for _, f in plan))
        ends = [round(t / self.frames_per_latent) for t in totals[:-1]] + [self.latents_for(totals[-1])]
        generator = torch.Generator(device=self.model.device).manual_seed(int(seed))
        guidance = self.guidance if guidance is None else float(guidance)
        made = []
        for (prompt, _), start, end in zip(plan, [0] + ends[:-1], ends):
            fresh = list(self.model.stream_latents(prompt, max_latents=end - start, min_latents=end - start,
                                                   steps=steps, generator=generator, guidance=guidance,
                                                   total=ends[-1], history=None))
            if made and n_bridge > 0:
                k = min(n_bridge, len(fresh) - 1)
                a, b = made[-1], fresh[k]
                for i in range(k):
                    w = (i + 1) / (k + 1)
                    fresh[i] = (1 - w) * a + w * b
            for z in fresh:
                made.append(z)
                yield z
    return _latents


def main():
    pipe = StreamPipeline.load(None if sys.argv[1] == "shipped" else sys.argv[1], device="cpu")
    probes = [p for p in P.extended_probes() if "sequence" in p.tags]
    for arg in sys.argv[2:]:
        n = int(arg)
        StreamPipeline._latents = ORIGINAL if n < 0 else bridged(n)
        rows = P.run_probes(lambda prompts, seconds, seed: [np.concatenate(list(pipe.stream(p, seconds, seed=seed)))
                                                            for p in prompts], probes, seeds=(SEED,))
        both = sum(r["passed"] for r in rows)
        second = sum("then [ok]" in r["detail"] for r in rows)
        print(f"bridge {arg}: both halves {both}/{len(rows)}, second half done {second}/{len(rows)}", flush=True)
        for r in rows:
            print(f"    {'pass' if r['passed'] else 'fail'}  {r['prompt']} | {r['detail']}", flush=True)
        for prompt in SEAM_PROMPTS:
            joints = np.concatenate(list(pipe.stream(prompt, 8.0, seed=0)))
            fastest = np.linalg.norm(np.diff(joints, axis=0), axis=-1).max(axis=-1) * pipe.fps
            seam, near = 80, 6
            rest = np.r_[fastest[:seam - near], fastest[seam + near:]]
            print(f"    seam of '{prompt}': fastest joint {fastest[seam - near:seam + near + 8].max():.2f} m/s "
                  f"(rest of the clip: 95th percentile {np.percentile(rest, 95):.2f}, max {rest.max():.2f})", flush=True)


if __name__ == "__main__":
    main()
