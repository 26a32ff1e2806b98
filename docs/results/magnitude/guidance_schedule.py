"""Where in the sampler the guidance scale sets how fast and how high the default moves: the same
DDIM sampler as MoMugModel.sample (prompt cache, 20 steps, eta 0) with the scale a function of the
step k (0 = pure noise), 4 s, seeds 0-3, cruise speed (m/s) or pelvis rise (m).

    python docs/results/magnitude/guidance_schedule.py backend/momug/checkpoints/default > docs/results/magnitude/guidance_schedule.txt
"""
import sys
from pathlib import Path

import numpy as np
import torch

from momug.eval.probes import cruise_speed, pelvis_rise
from momug.model import checkpoint as ckpt
from momug.motion.features import features_to_joints

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from custom_guidance import EMPTY, WORDS, sample  # noqa: E402

torch.set_num_threads(2)
model = ckpt.from_pretrained(sys.argv[1]).eval()

SCHEDS = {
    "const2.5": lambda k: 2.5,
    "const4": lambda k: 4.0,
    "1then4": lambda k: 1.0 if k < 4 else 4.0,
    "2.5then5": lambda k: 2.5 if k < 10 else 5.0,
    "5then2.5": lambda k: 5.0 if k < 10 else 2.5,
    "5then2": lambda k: 5.0 if k < 10 else 2.0,
    "ramp1to5": lambda k: 1.0 + 4.0 * k / 19,
    "ramp5to1.5": lambda k: 5.0 - 3.5 * k / 19,
}
prompts = ["a person walks straight ahead.", "a person jogs forward.", "a person walks forward slowly.",
           "a person walks forward quickly.", "a person does a big jump.", "a person jumps high.", "a person does a small jump.",
           "An elderly person walks forward."]
print("prompt".ljust(34) + "".join(f"{n:>11s}" for n in SCHEDS), flush=True)
for prompt in prompts:
    cells = []
    for name, fn in SCHEDS.items():
        made = sample(model, [prompt] * 4, 80, [0, 1, 2, 3], [WORDS, EMPTY],
                      lambda k, o, fn=fn: o[1] + fn(k) * (o[0] - o[1]))
        js = [features_to_joints(model.denormalize(m).numpy().astype(np.float64)) for m in made]
        cells.append(np.mean([pelvis_rise(j) if "jump" in prompt else cruise_speed(j, 20.0) for j in js]))
    print(f"{prompt:34s}" + "".join(f"{c:11.3f}" for c in cells), flush=True)
