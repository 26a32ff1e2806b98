"""Guidance on the prompt questions' answers (docs/training.md, part 22): the step follows
u + 2.5 (c - u) + a (c - c0), where c is the prompt with its answers, u the empty prompt and c0
the prompt's words with no answers. The extended suite's single-action probes, joints straight from
the features (no cleanup).

    python docs/results/prompt_reading/answer_guidance.py CHECKPOINT A SEEDS OUT.json
    (part 22: runs/motion_scope_stage22 3 0 answer_guidance_a3_seed0.json)
"""
import json
import sys
from pathlib import Path

import numpy as np
import torch

from momug.eval.probes import extended_probes, run_probes
from momug.model import checkpoint as ckpt
from momug.motion.features import features_to_joints

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from custom_guidance import EMPTY, WORDS, sample  # noqa: E402

torch.set_num_threads(2)
model = ckpt.from_pretrained(sys.argv[1]).eval()
A = float(sys.argv[2]); seeds = tuple(int(s) for s in sys.argv[3].split(","))
WORDS_ONLY = (lambda ids: ids, lambda ids: [])


def combine(k, outs):
    out = outs[1] + 2.5 * (outs[0] - outs[1])
    return out + A * (outs[0] - outs[2]) if A else out


def generate(prompts, seconds, seed):
    n = int(round(seconds * 20)) + 1
    out = []
    for j in range(0, len(prompts), 16):
        groups = [WORDS, EMPTY] + [WORDS_ONLY] * bool(A)
        for f in sample(model, prompts[j:j + 16], n, [seed] * len(prompts[j:j + 16]), groups, combine):
            out.append(features_to_joints(model.denormalize(f).numpy().astype(np.float64)))
    return out

probes = [p for p in extended_probes() if "sequence" not in p.tags]
rows = run_probes(generate, probes, seeds=seeds)
json.dump(rows, open(sys.argv[4], "w"))
ho = [r for r in rows if r["held_out"]]; co = [r for r in rows if not r["held_out"]]
print(f"a={A} all {sum(r['passed'] for r in rows)}/{len(rows)} held-out {sum(r['passed'] for r in ho)}/{len(ho)} corpus {sum(r['passed'] for r in co)}/{len(co)}", flush=True)
