"""One-off check (docs/training.md, "Picking the best of several generations by the model's own
caption"): among N generations of each extended probe, the one under which the model itself finds
the prompt most likely as a caption (log p(prompt | motion), the same model's m2t direction).
  python docs/results/rerank/rerank.py [CHECKPOINT|default] [N] [OUT.json] [FIRST_N_PROBES]"""
import json, sys, time
import numpy as np, torch
from momug.pipeline import MotionPipeline
from momug.eval.probes import extended_probes, probe_side, summarize
from momug.motion.features import joints_to_features
from momug.model.momug import LossSettings

ck = sys.argv[1] if len(sys.argv) > 1 and sys.argv[1] != "default" else None
N = int(sys.argv[2]) if len(sys.argv) > 2 else 4
out = sys.argv[3] if len(sys.argv) > 3 else "rerank.json"
limit = int(sys.argv[4]) if len(sys.argv) > 4 else None
torch.set_num_threads(1)
pipe = MotionPipeline.load(ck, device="cpu")
model = pipe.model
probes = extended_probes()[:limit]

def score(prompt, joints):
    x = torch.from_numpy(joints_to_features(np.asarray(joints, dtype=np.float64)[: model.config.max_frames + 1]).astype(np.float32))
    x = model.normalize(x)
    item = {"task": "m2t", "text_ids": model.text_ids(prompt.strip()), "motion": model.to_tokens(x),
            "frame_mask": model.to_tokens(torch.ones_like(x)).bool()}
    with torch.no_grad():
        return -float(model.training_loss([item], LossSettings())["lm"])

rows, t0 = [], time.time()
for i, p in enumerate(probes):
    motions = pipe.generate([p.prompt] * N, [p.seconds] * N, list(range(N)), steps=20, raw=True)
    cands = []
    for seed, m in enumerate(motions):
        r = p.check(np.asarray(m.joints, dtype=np.float64), pipe.fps)
        cands.append({"seed": seed, "passed": bool(r.passed), "detail": r.detail, "score": score(p.prompt, m.joints)})
    rows.append({"prompt": p.prompt, "held_out": p.held_out, "tags": p.tags, "side": probe_side(p), "candidates": cands})
    print(i, f"{time.time()-t0:.0f}s", p.prompt, [(c["passed"], round(c["score"], 2)) for c in cands], flush=True)
json.dump(rows, open(out, "w"), indent=1)

def flat(pick):
    return [{"prompt": r["prompt"], "held_out": r["held_out"], "tags": r["tags"], "side": r["side"], "seed": c["seed"],
             "passed": c["passed"]} for r in rows for c in pick(r)]
every = summarize(flat(lambda r: r["candidates"]))
best = summarize(flat(lambda r: [max(r["candidates"], key=lambda c: c["score"])]))
worst = summarize(flat(lambda r: [min(r["candidates"], key=lambda c: c["score"])]))
for k in ("pass_rate", "pass_rate_corpus_wording", "pass_rate_held_out", "worst_side"):
    print(f"{k:28} all seeds {every.get(k)}  best-scored {best.get(k)}  worst-scored {worst.get(k)}")
for k in ("pass_rate_sequence", "pass_rate_speed_height"):
    print(k, every[k], best[k], worst[k])
