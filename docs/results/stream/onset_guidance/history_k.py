"""Left-hand prompts: does a real wave's first k latents as history make the model wave? (g=5)"""
import sys, json, numpy as np, torch
from momug.stream.pipeline import StreamPipeline
from momug.data.humanml3d import MotionTextFolder
from momug.stream.train_ar import LatentBatches, StreamTrainSettings
L_SH, R_SH, L_WR, R_WR = 16, 17, 20, 21
ck = sys.argv[1]
p = StreamPipeline.load(ck, device="cpu")
model, vae = p.model.float().eval(), p.vae.float().eval()
folder = MotionTextFolder("corpus_focus_merged", "val")
meta = {}
for l in open("corpus_focus_merged/meta.jsonl"):
    m = json.loads(l); meta[m["id"]] = m
b = LatentBatches(folder, vae, model, StreamTrainSettings(), seed=0)
cases = [("wave", "left", "a person waves with their left hand."), ("wave", "right", "a person waves with their right hand."),
         ("raise_arms", "left", "a person raises their left arm.")]
def measure(j):
    l = np.percentile(j[:, L_WR, 1] - j[:, L_SH, 1], 90); r = np.percentile(j[:, R_WR, 1] - j[:, R_SH, 1], 90)
    d = np.linalg.norm(j[-1, 0, [0, 2]] - j[0, 0, [0, 2]])
    return f"L{l:+.2f}/R{r:+.2f}/d{d:.1f}"
acts = {}
for i in folder.ids:
    m = meta.get(i)
    if m and len(m["actions"]) == 1:
        a = m["actions"][0]; acts.setdefault((a["action"], json.dumps(a.get("params", {}), sort_keys=True)), []).append(i)
print(sorted({k[0] for k in acts}))
for action, side, prompt in cases:
    ids = [i for (a, params), v in acts.items() if a == action and side in params for i in v]
    if not ids:
        print("no clips for", action, side); continue
    clip = ids[0]
    feats = np.load(f"corpus_focus_merged/new_joint_vecs/{clip}.npy")
    z = b.encode(feats[:80])
    jr = p._joints(p._decode(list(z[:20])))
    print(prompt, "clip", clip, "real:", measure(jr), flush=True)
    for k in (0, 1, 2, 3, 5, 8):
        row = []
        for seed in range(3):
            g = torch.Generator().manual_seed(seed)
            hist = z[:k] if k else None
            new = list(model.stream_latents(prompt, max_latents=20 - k, min_latents=20 - k, generator=g, guidance=5.0,
                                            total=20 - k, history=hist))
            lat = (list(z[:k]) if k else []) + new
            row.append(measure(p._joints(p._decode(lat))))
        print(f"  k={k}", " ".join(row), flush=True)
