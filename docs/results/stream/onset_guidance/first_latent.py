"""Left raise / waves: the first latent made with other flow steps / guidance, the rest as shipped (8 steps, g5)."""
import sys, numpy as np, torch
from momug.stream.pipeline import StreamPipeline
L_SH, R_SH, L_WR, R_WR = 16, 17, 20, 21
p = StreamPipeline.load(sys.argv[1], device="cpu")
model = p.model.float().eval()
def measure(j):
    l = np.percentile(j[:, L_WR, 1] - j[:, L_SH, 1], 90); r = np.percentile(j[:, R_WR, 1] - j[:, R_SH, 1], 90)
    d = np.linalg.norm(j[-1, 0, [0, 2]] - j[0, 0, [0, 2]])
    return f"L{l:+.2f}/R{r:+.2f}/d{d:.1f}"
for prompt in ["a person raises their left arm.", "a person waves with their left hand.", "a person waves with their right hand."]:
    print(prompt, flush=True)
    for steps, g in [(8, 5.0), (32, 5.0), (8, 2.5), (8, 1.0), (8, 10.0), (32, 10.0)]:
        row = []
        for seed in range(3):
            gen = torch.Generator().manual_seed(seed)
            first = list(model.stream_latents(prompt, max_latents=1, min_latents=1, steps=steps, generator=gen,
                                              guidance=g, total=20))
            rest = list(model.stream_latents(prompt, max_latents=19, min_latents=19, generator=gen, guidance=5.0,
                                             total=19, history=torch.stack(first)))
            row.append(measure(p._joints(p._decode(first + rest))))
        print(f"  steps {steps:2d} g {g:4.1f}", " ".join(row), flush=True)
