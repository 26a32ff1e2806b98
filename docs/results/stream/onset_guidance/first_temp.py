"""Sided prompts: the first latent at another start-noise temperature / guidance, the rest as shipped (8 steps, g5)."""
import sys, numpy as np, torch
from momug.stream.pipeline import StreamPipeline
from momug.eval.probes import extended_probes, probe_side
p = StreamPipeline.load(sys.argv[1], device="cpu")
model = p.model.float().eval()
probes = [q for q in extended_probes() if probe_side(q) and "sequence" not in q.tags and not q.held_out]
print(len(probes), "corpus-worded sided probes")
for temp, g in [(1.0, 5.0), (0.5, 5.0), (0.0, 5.0), (0.5, 1.0), (0.0, 1.0)]:
    res = {"left": [0, 0], "right": [0, 0]}
    for q in probes:
        for seed in range(3):
            gen = torch.Generator().manual_seed(seed)
            first = list(model.stream_latents(q.prompt, max_latents=1, min_latents=1, generator=gen, guidance=g,
                                              temperature=temp, total=20))
            rest = list(model.stream_latents(q.prompt, max_latents=19, min_latents=19, generator=gen, guidance=5.0,
                                             total=19, history=torch.stack(first)))
            j = p._joints(p._decode(first + rest))
            ok = q.check(j, 20.0).passed
            r = res[probe_side(q)]; r[0] += ok; r[1] += 1
    print(f"first latent temperature {temp} guidance {g}: left {res['left'][0]}/{res['left'][1]} right {res['right'][0]}/{res['right'][1]}", flush=True)
