"""Travel speed of a few gait prompts from a checkpoint, as the probes measure it (cruise speed of
4 s made as users get them), with its prompt reading as trained and with the reading switched off
(the projection zeroed: the motion positions then get nothing from the questions).

    python docs/results/prompt_reading/speed_check.py CHECKPOINT [SEED ...]
"""

import sys

import numpy as np
import torch

from momug.eval.adapters import probe_generator
from momug.eval.probes import cruise_speed
from momug.pipeline import MotionPipeline

PROMPTS = ["a person walks forward slowly.", "a person walks straight ahead.", "a person walks forward quickly.",
           "a person jogs forward.", "a person runs straight ahead.", "a person runs forward quickly.",
           "a tired man plods ahead", "someone runs flat out"]


def speeds(pipe, seeds):
    generate = probe_generator(pipe)
    out = np.zeros((len(PROMPTS), len(seeds)))
    for j, seed in enumerate(seeds):
        for i, joints in enumerate(generate(PROMPTS, 4.0, seed)):
            out[i, j] = cruise_speed(joints, pipe.fps)
    return out


def main() -> None:
    torch.set_num_threads(2)
    folder, seeds = sys.argv[1], [int(s) for s in sys.argv[2:]] or [0, 1]
    pipe = MotionPipeline.load(folder, device="cpu")
    rows = {"as trained": speeds(pipe, seeds)}
    if getattr(pipe.model, "reader", None) is not None:
        with torch.no_grad():
            pipe.model.reading_proj.weight.zero_()
            pipe.model.reading_proj.bias.zero_()
        rows["reading off"] = speeds(pipe, seeds)
    print(f"cruise speed, m/s, mean of seeds {seeds}")
    print(f"{'prompt':44s}" + "".join(f"{k:>13s}" for k in rows))
    for i, prompt in enumerate(PROMPTS):
        print(f"{prompt:44s}" + "".join(f"{v[i].mean():13.2f}" for v in rows.values()))


if __name__ == "__main__":
    main()
