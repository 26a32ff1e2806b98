"""One-off (2026-12-07): the weighted mean of two streaming checkpoints of one run's lineage.

    python soup_stream.py A B t OUT     # OUT = (1 - t) * A + t * B

Dense tensors are mixed as they are; each low-rank motion twin's update B @ A is mixed exactly by
stacking the two sources' factors (rank doubles), as momug.model.average does for the diffusion
model's LoRA. Used for the default + stage 15 step 1000 mix in docs/training.md (stage 15).
"""
import json, shutil, sys
from pathlib import Path
import torch
from safetensors.torch import load_file, save_file
a_dir, b_dir, t, out = Path(sys.argv[1]), Path(sys.argv[2]), float(sys.argv[3]), Path(sys.argv[4])
A, B = load_file(a_dir / "momug.safetensors"), load_file(b_dir / "momug.safetensors")
w = [1 - t, t]
res = {}
for k in A:
    x, y = A[k].float(), B[k].float()
    if k.endswith(".a") and k.startswith("mot."):
        res[k] = torch.cat([x, y], 0)
    elif k.endswith(".b") and k.startswith("mot."):
        res[k] = torch.cat([w[0] * x, w[1] * y], 1)
    else:
        res[k] = w[0] * x + w[1] * y
    res[k] = res[k].half()
if out.exists(): shutil.rmtree(out)
out.mkdir(parents=True)
cfg = json.loads((a_dir / "config.json").read_text()); cfg["mot_rank"] *= 2
(out / "config.json").write_text(json.dumps(cfg, indent=2, sort_keys=True))
save_file(res, out / "momug.safetensors")
shutil.copytree(a_dir / "vae", out / "vae")
for extra in ("LICENSE", "NOTICE"): 
    if (a_dir / extra).exists(): shutil.copy(a_dir / extra, out / extra)
print("wrote", out)
