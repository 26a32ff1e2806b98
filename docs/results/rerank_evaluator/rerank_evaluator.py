"""One-off check (docs/training.md, "Picking the best of several generations with the matching
evaluator"): every extended probe made with several seeds exactly as `momug eval probes` makes it
(raw joints, sequences step by step), each generation judged by the probe and scored by the shipped
text/motion matching evaluator (cosine of the prompt's and the motion's embeddings; its text side
is the frozen all-MiniLM-L6-v2 sentence encoder). Then: how often the best-scored of the N passes.
  python docs/results/rerank_evaluator/rerank_evaluator.py gen CHECKPOINT|default OUT.json SEED [SEED ...]
  python docs/results/rerank_evaluator/rerank_evaluator.py summary OUT1.json [OUT2.json ...]"""
import json
import sys
import time

import numpy as np


def generate(ck, out, seeds):
    import torch
    from momug.eval import adapters
    from momug.eval.matching import load_evaluator
    from momug.eval.probes import extended_probes, probe_side
    from momug.motion.features import joints_to_features
    from momug.pipeline import MotionPipeline

    torch.set_num_threads(1)
    pipe = MotionPipeline.load(None if ck == "default" else ck, device="cpu")
    evaluator = load_evaluator()
    make = adapters.probe_generator(pipe)
    probes = extended_probes()
    by_length = {}
    for p in probes:
        by_length.setdefault(p.seconds, []).append(p)
    rows, t0 = [], time.time()
    for seed in seeds:
        for seconds, group in by_length.items():
            motions = make([p.prompt for p in group], seconds, seed)
            feats = [joints_to_features(np.asarray(j, dtype=np.float64)).astype(np.float32) for j in motions]
            m = evaluator.embed_motions(feats)
            t = evaluator.embed_texts([p.prompt.strip() for p in group])
            for p, joints, mv, tv in zip(group, motions, m, t):
                r = p.check(np.asarray(joints, dtype=np.float64), pipe.fps)
                rows.append({"prompt": p.prompt, "seed": seed, "held_out": p.held_out, "tags": p.tags,
                             "side": probe_side(p), "passed": bool(r.passed), "detail": r.detail,
                             "score": float(np.dot(mv, tv))})
        print(f"seed {seed} done at {time.time() - t0:.0f} s", flush=True)
    json.dump({"checkpoint": pipe.model_id, "rows": rows}, open(out, "w"), indent=1)


def summary(paths):
    from momug.eval.probes import summarize

    rows = [r for p in paths for r in json.load(open(p))["rows"]]
    by = {}
    for r in rows:
        by.setdefault(r["prompt"], []).append(r)
    n = min(len(v) for v in by.values())
    every = summarize(rows)
    best = summarize([max(v, key=lambda r: r["score"]) for v in by.values()])
    worst = summarize([min(v, key=lambda r: r["score"]) for v in by.values()])
    oracle = summarize([max(v, key=lambda r: r["passed"]) for v in by.values()])
    print(f"{len(by)} prompts x {n} seeds")
    print(f"{'':28} {'every seed':>11} {'best-scored':>12} {'worst-scored':>13} {'oracle':>7}")
    for k in ("pass_rate", "pass_rate_corpus_wording", "pass_rate_held_out", "worst_side",
              "pass_rate_sequence", "pass_rate_speed_height"):
        vals = [s.get(k) for s in (every, best, worst, oracle)]
        vals = [v["pass_rate"] if isinstance(v, dict) else v for v in vals]
        print(f"{k:28} " + " ".join(f"{v:>11.3f}" if v is not None else f"{'-':>11}" for v in vals))
    mixed = [v for v in by.values() if 0 < sum(r["passed"] for r in v) < len(v)]
    picked = sum(max(v, key=lambda r: r["score"])["passed"] for v in mixed)
    chance = sum(sum(r["passed"] for r in v) / len(v) for v in mixed)
    print(f"prompts whose generations disagree: {len(mixed)}; the best-scored passes {picked}, chance {chance:.1f}")


if __name__ == "__main__":
    if sys.argv[1] == "gen":
        generate(sys.argv[2], sys.argv[3], [int(s) for s in sys.argv[4:]])
    else:
        summary(sys.argv[2:])
