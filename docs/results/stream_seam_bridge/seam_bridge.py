"""One-off check behind momug.stream.pipeline's SEAM_BRIDGE_LATENTS (docs/training.md, "A
sequence's next step from a fresh start, bridged"): streaming sequences made step by step where
each next step starts fresh and its first N latents are blended from the previous step's last
latent to the step's latent N. N = -1: the next step reads every latent made so far (the pipeline
until commit ac7a8cc). The sequence probes of suite $SUITE (default extended; or sequences, the
held-out suite) with seed $SEED (default 0), then the
seam speeds of three 8 s sequences (seed 0; the window reaches 14 frames past the seam, so the
bridge's 8 frames are in it).
  SUITE=sequences SEED=1 python docs/results/stream_seam_bridge/seam_bridge.py CHECKPOINT|shipped N [N ...]
"""
import importlib.util
import os
import sys
from pathlib import Path

import momug.stream.pipeline as SP
from momug.eval import probes as P

_path = Path(__file__).resolve().parents[1] / "stream_sequence_history" / "sequence_history.py"
_spec = importlib.util.spec_from_file_location("sequence_history", _path)
history_check = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(history_check)


def main():
    seed = int(os.environ.get("SEED", "0"))
    bridged_latents = SP.StreamPipeline._latents
    pipe = SP.StreamPipeline.load(None if sys.argv[1] == "shipped" else sys.argv[1], device="cpu")
    probes = [p for p in P.probe_suite(os.environ.get("SUITE", "extended")) if "sequence" in p.tags]
    for arg in sys.argv[2:]:
        n = int(arg)
        if n < 0:
            SP.StreamPipeline._latents = history_check.reading_last(None)
        else:
            SP.StreamPipeline._latents, SP.SEAM_BRIDGE_LATENTS = bridged_latents, n
        history_check.report(pipe, probes, f"bridge {arg}", seed=seed, after=14)


if __name__ == "__main__":
    main()
