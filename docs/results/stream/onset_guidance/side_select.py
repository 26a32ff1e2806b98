"""Sided extended probes: the prompt made as typed, or its mirror image's prompt made and the motion mirrored;
which does the model's own teacher-forced reading prefer (flow error under the prompt vs its sides swapped)?"""
import sys, json, numpy as np, torch
sys.path.insert(0, "scripts")
from stream_prompt_reliance import flow_errors
from momug.stream.pipeline import StreamPipeline
from momug.eval.probes import extended_probes, probe_side
from momug.data.mirror import mirror_text, mirror_pairs, mirror_joints
from momug.motion.features import joints_to_features
from momug.motion.features import humanml3d_spec
from momug.stream.train_ar import LatentBatches, StreamTrainSettings

ck = sys.argv[1]; seeds = [0, 1]
pipe = StreamPipeline.load(ck, device="cpu")
model, vae = pipe.model.float().eval(), pipe.vae.float().eval()
spec = humanml3d_spec(); order = mirror_pairs(spec.skeleton.names)
probes = [p for p in extended_probes() if probe_side(p) and "sequence" not in p.tags]
enc = LatentBatches(None, vae, model, StreamTrainSettings(), seed=0)
K = 8
def score(prompt, joints):
    z = enc.encode(joints_to_features(joints.astype(np.float32), spec))[:K]
    own, other = model.text_ids(prompt), model.text_ids(mirror_text(prompt))
    e_own = sum(flow_errors(model, [own], [z], s)[0].mean().item() for s in range(6))
    e_oth = sum(flow_errors(model, [other], [z], s)[0].mean().item() for s in range(6))
    return e_oth / e_own
rows = []
for seed in seeds:
    prompts = [p.prompt for p in probes]
    native = pipe.joints_batch(prompts, 4.0, [seed] * len(prompts))
    mirrored = [mirror_joints(j, order) for j in pipe.joints_batch([mirror_text(p) for p in prompts], 4.0, [seed] * len(prompts))]
    for p, a, b in zip(probes, native, mirrored):
        pa, pb = p.check(np.asarray(a, np.float64), 20.0).passed, p.check(np.asarray(b, np.float64), 20.0).passed
        sa, sb = score(p.prompt, a), score(p.prompt, b)
        pick = pa if sa >= sb else pb
        rows.append(dict(prompt=p.prompt, seed=seed, side=probe_side(p), tags=p.tags, native=bool(pa), mirrored=bool(pb),
                         s_native=sa, s_mirrored=sb, picked=bool(pick)))
        print(f"{p.prompt[:50]:50s} s{seed} native {int(pa)} ({sa:.2f}) mirrored {int(pb)} ({sb:.2f}) pick {int(pick)}", flush=True)
json.dump(rows, open(sys.argv[2], "w"), indent=1)
for side in ("left", "right"):
    r = [x for x in rows if x["side"] == side]
    print(side, len(r), "native", sum(x["native"] for x in r), "mirrored", sum(x["mirrored"] for x in r),
          "picked", sum(x["picked"] for x in r), "either", sum(x["native"] or x["mirrored"] for x in r))
