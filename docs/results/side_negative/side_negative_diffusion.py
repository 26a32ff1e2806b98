"""One-off: the diffusion default's classifier-free guidance against the prompt with its sides
swapped (mirror_text) instead of the empty prompt, for prompts that name a side; the extended set's
sided single-action probes, seeds 0 and 1.
  python docs/results/side_negative/side_negative_diffusion.py MODE[:G] ...   (MODE empty|swapped; G default: the model's own)
"""
import sys

import momug.model.momug as MM
from momug.data.mirror import mirror_text
from momug.eval import adapters
from momug.eval import probes as P
from momug.pipeline import MotionPipeline

REAL_SEQ = MM.seq
STATE = {"mode": "empty", "queue": []}


class SeqWithNegatives:
    """momug.model.momug's `seq`, but the unconditional rows' bos-only Text reads the queued ids."""

    def __getattr__(self, name):
        return getattr(REAL_SEQ, name)

    def Text(self, ids):  # noqa: N802 - stands in for seq.Text
        if STATE["queue"] and list(ids) == STATE["bos"]:
            return REAL_SEQ.Text(STATE["queue"].pop(0))
        return REAL_SEQ.Text(ids)


MM.seq = SeqWithNegatives()
ORIGINAL = MM.MoMugModel.sample


def sample(self, prompts, *args, **kwargs):
    STATE["bos"] = list(self.bos)
    STATE["queue"] = ([self.bos + self.text_ids(mirror_text(p)) if mirror_text(p) != p else list(self.bos)
                       for p in prompts] if STATE["mode"] == "swapped" else [])
    try:
        return ORIGINAL(self, prompts, *args, **kwargs)
    finally:
        STATE["queue"] = []


MM.MoMugModel.sample = sample


def main():
    pipe = MotionPipeline.load(None, device="cpu")
    probes = [p for p in P.extended_probes() if mirror_text(p.prompt) != p.prompt and "sequence" not in p.tags]
    for arg in sys.argv[1:]:
        mode, _, g = arg.partition(":")
        STATE["mode"] = mode
        rows = P.run_probes(adapters.probe_generator(pipe, steps=20, guidance=float(g) if g else None),
                            probes, seeds=(0, 1))
        by = {}
        for r in rows:
            tag = [t for t in r["tags"] if t in ("hand", "leg", "sidestep", "turn")]
            by.setdefault((tag[0] if tag else "other", r["side"]), []).append(r["passed"])
        print(f"{arg}: {sum(r['passed'] for r in rows)}/{len(rows)}  " +
              "  ".join(f"{k[0]}-{k[1]} {sum(v)}/{len(v)}" for k, v in sorted(by.items(), key=str)), flush=True)
        for r in rows:
            print(f"    {'pass' if r['passed'] else 'fail'}  s{r['seed']} {r['prompt']} | {r['detail']}", flush=True)


if __name__ == "__main__":
    main()
