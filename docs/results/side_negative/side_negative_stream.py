"""One-off: classifier-free guidance of the streaming model against the prompt with its sides
swapped (mirror_text) instead of the empty prompt, for prompts that name a side. The extended
set's sided single-action probes, seed 0.
  python docs/results/side_negative/side_negative_stream.py CHECKPOINT|shipped MODE:G [MODE:G ...]   (MODE empty|swapped)
"""
import sys

import numpy as np

from momug.data.mirror import mirror_text
from momug.eval import probes as P
from momug.stream.ar_model import StreamModel
from momug.stream.pipeline import StreamPipeline

ORIGINAL = StreamModel._guided_latents
MODE = {"negative": "empty"}


def guided(self, text, *args, **kwargs):
    swapped = mirror_text(text)
    self._negative_ids = self.text_ids(swapped) if MODE["negative"] == "swapped" and swapped != text else None
    yield from ORIGINAL(self, text, *args, **kwargs)


StreamModel._guided_latents = guided
StreamModel.empty_text_ids = property(lambda self: getattr(self, "_negative_ids", None) or self.text_ids(""))


def main():
    pipe = StreamPipeline.load(None if sys.argv[1] == "shipped" else sys.argv[1], device="cpu")
    probes = [p for p in P.extended_probes() if mirror_text(p.prompt) != p.prompt and "sequence" not in p.tags]
    for arg in sys.argv[2:]:
        mode, g = arg.split(":")
        MODE["negative"] = mode
        rows = P.run_probes(lambda prompts, seconds, seed: [
            np.concatenate(list(pipe.stream(p, seconds, seed=seed, guidance=float(g)))) for p in prompts],
            probes, seeds=(0,))
        by = {}
        for r in rows:
            tag = [t for t in r["tags"] if t in ("hand", "leg", "sidestep", "turn", "direction")]
            key = (tag[0] if tag else "other", r["side"])
            by.setdefault(key, []).append(r["passed"])
        print(f"{arg}: {sum(r['passed'] for r in rows)}/{len(rows)}  " +
              "  ".join(f"{k[0]}-{k[1]} {sum(v)}/{len(v)}" for k, v in sorted(by.items())), flush=True)
        for r in rows:
            print(f"    {'pass' if r['passed'] else 'fail'}  {r['prompt']} | {r['detail']}", flush=True)


if __name__ == "__main__":
    main()
