"""Is the default's slowness exposure bias (the sampler feeding the network inputs unlike training)?
Epsilon scaling, the training-free remedy for it (Ning et al., "Elucidating the Exposure Bias in
Diffusion Models", 2024): each DDIM step uses the predicted noise divided by lam. Guidance 2.5, 20
steps, 4 s, seeds 0-3; cruise speed (m/s) or pelvis rise (m).

    python docs/results/magnitude/eps_scaling.py backend/momug/checkpoints/default 1.0,1.02,1.05,1.1 > docs/results/magnitude/eps_scaling.txt
"""
import sys
import numpy as np, torch
import momug.model.momug as mm
from momug.model import checkpoint as ckpt
from momug.eval.probes import cruise_speed, pelvis_rise
from momug.motion.features import features_to_joints
torch.set_num_threads(2)
model = ckpt.from_pretrained(sys.argv[1]).eval()
orig = mm.ddim_step
prompts = ["a person walks straight ahead.", "a person jogs forward.", "a person walks forward slowly.", "a person runs straight ahead.", "a person does a big jump.", "a person jumps high."]
lams = [float(x) for x in sys.argv[2].split(",")]
print("prompt".ljust(34) + "".join(f"  lam{l:<6g}" for l in lams))
for prompt in prompts:
    cells = []
    for lam in lams:
        mm.ddim_step = lambda s, x0, eps, t, tp, eta=0.0, generator=None, lam=lam: orig(s, x0, eps / lam, t, tp, eta, generator)
        made = model.sample([prompt] * 4, [80] * 4, [0, 1, 2, 3], guidance=2.5, steps=20)
        js = [features_to_joints(model.denormalize(m).numpy().astype(np.float64)) for m in made]
        cells.append(np.mean([pelvis_rise(j) if "jump" in prompt else cruise_speed(j, 20.0) for j in js]))
    print(f"{prompt:34s}" + "".join(f"  {c:9.3f}" for c in cells), flush=True)
