"""Cruise speed (m/s, momug.eval.probes.cruise_speed) of runs named with and without a direction,
4 s, seeds 0-3, guidance 2.5, as the model makes them (no cleanup).

    python docs/results/motion_scope_stage23/bare_gaits.py CHECKPOINT > OUT.txt
"""
import sys

import numpy as np
import torch

from momug.eval.probes import cruise_speed
from momug.model import checkpoint as ckpt
from momug.motion.features import features_to_joints

PROMPTS = ["a person runs forward.", "someone runs forward.", "someone runs.", "a person runs.", "someone runs fast.",
           "a person walks.", "a man jogs.", "someone runs flat out", "someone runs as fast as possible.",
           "someone breaks into a run", "a person starts to run.", "someone starts running forward.",
           "a woman sprints down the street", "a woman runs down the street.", "a woman runs forward quickly."]

torch.set_num_threads(2)
model = ckpt.from_pretrained(sys.argv[1]).eval()
for prompt in PROMPTS:
    made = model.sample([prompt] * 4, [80] * 4, [0, 1, 2, 3], guidance=2.5, steps=20)
    speeds = [cruise_speed(features_to_joints(model.denormalize(m).numpy().astype(np.float64)), 20.0) for m in made]
    print(f"{prompt:40s} " + " ".join(f"{v:.2f}" for v in speeds) + f"   mean {np.mean(speeds):.2f}", flush=True)
