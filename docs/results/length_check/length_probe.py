"""Single-action extended probes at another length: does asking for 4 s (longer than the corpus'
kicks, turns, jumps) cost passes? The extended suite's 4-s probes of jumps, heights, legs, turns,
hands, arms and squats, at SECONDS instead, one seed; compare with the same rows of a 4-s run.

    python docs/results/length_check/length_probe.py backend/momug/checkpoints/default 2.5 0 l2.5_s0.json
"""
import sys, dataclasses, json
import numpy as np, torch
from momug.pipeline import MotionPipeline
from momug.eval.probes import extended_probes, run_probes
from momug.eval.adapters import probe_generator
torch.set_num_threads(1)
pipe = MotionPipeline.load(sys.argv[1], device="cpu")
seconds = float(sys.argv[2]); seed = int(sys.argv[3])
tags = {"jump", "height", "leg", "turn", "hand", "hands", "arms", "squat"}
probes = [dataclasses.replace(p, seconds=seconds) for p in extended_probes() if set(p.tags) & tags and p.seconds == 4.0]
rows = run_probes(probe_generator(pipe), probes, seeds=(seed,), fps=pipe.fps)
json.dump(rows, open(sys.argv[4], "w"))
print(seconds, seed, sum(r["passed"] for r in rows), len(rows))
