"""Where in the sampler the guidance scale sets how fast and how high the default moves: the same
DDIM sampler as MoMugModel.sample (prompt cache, 20 steps, eta 0) with the scale a function of the
step k (0 = pure noise), 4 s, seeds 0-3, cruise speed (m/s) or pelvis rise (m).

    python docs/results/magnitude/guidance_schedule.py backend/momug/checkpoints/default > docs/results/magnitude/guidance_schedule.txt
"""
import sys
import numpy as np, torch
from momug.model import checkpoint as ckpt
from momug.model import sequence as seq
from momug.model.diffusion import ddim_timesteps, ddim_step
from momug.eval.probes import cruise_speed, pelvis_rise
from momug.motion.features import features_to_joints
torch.set_num_threads(2)
model = ckpt.from_pretrained(sys.argv[1]).eval()

@torch.no_grad()
def sample(prompts, n_frames, seeds, gfn, steps=20):
    B = len(prompts)
    ids = [model.text_ids(p) for p in prompts] + [[] for _ in prompts]
    context = seq.pack([[seq.Text(model.bos + i), seq.Special("som")] for i in ids], model.special_index)
    readings = model.readings(ids)
    som = (torch.arange(context.kind.shape[0]), context.lengths - 1)
    h, cache = model.run(context, use_cache=True)
    som_hidden = h[som]
    n_tok = -(-n_frames // model.config.frames_per_token)
    x = [torch.randn(n_tok, model.config.token_dim, generator=torch.Generator().manual_seed(s)) for s in seeds]
    times = ddim_timesteps(model.config.num_train_timesteps, steps)
    for k, t in enumerate(times):
        rows = x + x
        suffix = seq.pack([[seq.Special("timestep", t), seq.Motion(r, t)] for r in rows], model.special_index,
                          start_positions=context.lengths)
        hidden, cache = model.run(suffix, context=context, cache=cache, use_cache=True, readings=readings)
        cache.crop(-suffix.kind.shape[1])
        outs = [model.motion_prediction(hidden[b, 1:1 + n_tok], som_hidden[b]).float() for b in range(2 * B)]
        g = gfn(k)
        tp = times[k + 1] if k + 1 < len(times) else None
        for i in range(B):
            out = outs[B + i] + g * (outs[i] - outs[B + i])
            x0, eps = model.schedule.split(out[None], x[i][None], torch.tensor([t]))
            x[i] = ddim_step(model.schedule, x0[0], eps[0], t, tp, 0.0)
    return [model.from_tokens(xi, n_frames) for xi in x]

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
        made = sample([prompt] * 4, 80, [0, 1, 2, 3], fn)
        js = [features_to_joints(model.denormalize(m).numpy().astype(np.float64)) for m in made]
        cells.append(np.mean([pelvis_rise(j) if "jump" in prompt else cruise_speed(j, 20.0) for j in js]))
    print(f"{prompt:34s}" + "".join(f"{c:11.3f}" for c in cells), flush=True)
