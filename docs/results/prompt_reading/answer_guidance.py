"""Answer guidance: out = u + g (c - u) + a (c - c0), c0 = the words without the answers."""
import sys, json
import numpy as np, torch
from momug.model import checkpoint as ckpt
from momug.model import sequence as seq
from momug.model.diffusion import ddim_timesteps, ddim_step
from momug.motion.features import features_to_joints
from momug.eval.probes import extended_probes, run_probes, summarize
torch.set_num_threads(2)
model = ckpt.from_pretrained(sys.argv[1]).eval()
A = float(sys.argv[2]); seeds = tuple(int(s) for s in sys.argv[3].split(","))

@torch.no_grad()
def sample(prompts, n_frames, seed, g=2.5, a=0.0, steps=20):
    B = len(prompts)
    ids = [model.text_ids(p) for p in prompts]
    groups = 3 if a else 2
    text = ids + [[] for _ in ids] + (ids if a else [])
    read_ids = ids + [[] for _ in ids] + ([[] for _ in ids] if a else [])
    context = seq.pack([[seq.Text(model.bos + i), seq.Special("som")] for i in text], model.special_index)
    readings = model.readings(read_ids)
    som = (torch.arange(context.kind.shape[0]), context.lengths - 1)
    h, cache = model.run(context, use_cache=True)
    som_hidden = h[som]
    n_tok = -(-n_frames // model.config.frames_per_token)
    x = [torch.randn(n_tok, model.config.token_dim, generator=torch.Generator().manual_seed(seed)) for _ in prompts]
    times = ddim_timesteps(model.config.num_train_timesteps, steps)
    for k, t in enumerate(times):
        rows = x * groups
        suffix = seq.pack([[seq.Special("timestep", t), seq.Motion(r, t)] for r in rows], model.special_index,
                          start_positions=context.lengths)
        hidden, cache = model.run(suffix, context=context, cache=cache, use_cache=True, readings=readings)
        cache.crop(-suffix.kind.shape[1])
        outs = [model.motion_prediction(hidden[b, 1:1 + n_tok], som_hidden[b]).float() for b in range(groups * B)]
        tp = times[k + 1] if k + 1 < len(times) else None
        for i in range(B):
            c, u = outs[i], outs[B + i]
            out = u + g * (c - u)
            if a:
                out = out + a * (c - outs[2 * B + i])
            x0, eps = model.schedule.split(out[None], x[i][None], torch.tensor([t]))
            x[i] = ddim_step(model.schedule, x0[0], eps[0], t, tp, 0.0)
    return [model.from_tokens(xi, n_frames) for xi in x]

def generate(prompts, seconds, seed):
    n = int(round(seconds * 20)) + 1
    out = []
    for j in range(0, len(prompts), 16):
        for f in sample(prompts[j:j + 16], n, seed, a=A):
            out.append(features_to_joints(model.denormalize(f).numpy().astype(np.float64)))
    return out

probes = [p for p in extended_probes() if "sequence" not in p.tags]
rows = run_probes(generate, probes, seeds=seeds)
json.dump(rows, open(sys.argv[4], "w"))
ho = [r for r in rows if r["held_out"]]; co = [r for r in rows if not r["held_out"]]
print(f"a={A} all {sum(r['passed'] for r in rows)}/{len(rows)} held-out {sum(r['passed'] for r in ho)}/{len(ho)} corpus {sum(r['passed'] for r in co)}/{len(co)}", flush=True)
