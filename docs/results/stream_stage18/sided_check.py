"""Corpus-worded sided probes of the extended set (16 prompts x 3 seeds), streamed as shipped
(8 flow steps, guidance 5, first latent included): how many do the named side."""
import sys, torch
from momug.stream.pipeline import StreamPipeline
from momug.eval.probes import extended_probes, probe_side
p = StreamPipeline.load(sys.argv[1], device="cpu")
model = p.model.float().eval()
probes = [q for q in extended_probes() if probe_side(q) and "sequence" not in q.tags and not q.held_out]
res = {"left": [0, 0], "right": [0, 0]}
for q in probes:
    for seed in range(3):
        gen = torch.Generator().manual_seed(seed)
        z = list(model.stream_latents(q.prompt, max_latents=20, min_latents=20, generator=gen, guidance=5.0, total=20))
        ok = q.check(p._joints(p._decode(z)), 20.0).passed
        r = res[probe_side(q)]; r[0] += ok; r[1] += 1
        print(seed, "ok " if ok else "no ", q.prompt, flush=True)
print(f"{sys.argv[1]}: left {res['left'][0]}/{res['left'][1]} right {res['right'][0]}/{res['right'][1]}")
