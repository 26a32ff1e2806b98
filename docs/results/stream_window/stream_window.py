"""One-off check (docs/training.md, "The streaming model through a short window"): the streaming
model reads the prompt and only the last KEEP latents, restarting every REFRESH latents.
  KEEP=2 REFRESH=3 python docs/results/stream_window/stream_window.py speed --mode stream
  KEEP=2 REFRESH=3 python docs/results/stream_window/stream_window.py cli eval probes --mode stream --data corpus --seeds 1 --seed 0
"""
import os, sys
from itertools import accumulate
from pathlib import Path
import torch
from momug.stream.pipeline import StreamPipeline

KEEP, REFRESH = int(os.environ["KEEP"]), int(os.environ["REFRESH"])

def _latents(self, plan, seed, steps, should_stop=None, guidance=None):
    totals = list(accumulate(f for _, f in plan))
    ends = [round(t / self.frames_per_latent) for t in totals[:-1]] + [self.latents_for(totals[-1])]
    generator = torch.Generator(device=self.model.device).manual_seed(int(seed))
    guidance = self.guidance if guidance is None else float(guidance)
    made = []
    for (prompt, _), start, end in zip(plan, [0] + ends[:-1], ends):
        at = start
        while at < end:
            n = min(REFRESH, end - at)
            hist = torch.stack(made[-KEEP:]) if made and KEEP > 0 else None
            for z in self.model.stream_latents(prompt, max_latents=n, min_latents=n, steps=steps, generator=generator,
                                               should_stop=should_stop, guidance=guidance, total=None, history=hist):
                made.append(z); yield z
            at += n

StreamPipeline._latents = _latents
mod = sys.argv.pop(1)
if mod == "speed":
    sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "scripts")); import speed_profile; sys.exit(speed_profile.main(sys.argv[1:]))
else:
    from momug.cli import main; sys.exit(main(sys.argv[1:]))
