"""Would a paraphrase-trained sentence encoder carry the held-out probe wordings to the right
training captions? (a one-off check, 2026-12-06; no model is changed)

For every held-out single-action prompt of the extended probe suite, the three training captions
nearest by cosine of the shipped all-MiniLM-L6-v2 sentence vectors (the encoder the matching
evaluator uses), among 12,000 distinct captions drawn at random (seed 0) from the split.
  python docs/results/minilm_neighbours/minilm_neighbours.py corpus_focus_merged > held_out_neighbours.txt
"""
import random
import sys

import numpy as np

from momug.eval.probes import extended_probes
from momug.eval.sentence import SentenceEncoder

root = sys.argv[1]
split = sys.argv[2] if len(sys.argv) > 2 else "train"
ids = [line.strip() for line in open(f"{root}/{split}.txt") if line.strip()]
captions = set()
for clip in ids:
    for line in open(f"{root}/texts/{clip}.txt"):
        caption = line.split("#")[0].strip()
        if caption:
            captions.add(caption)
random.seed(0)
captions = sorted(random.sample(sorted(captions), min(len(captions), 12000)))

encoder = SentenceEncoder()
E = encoder.embed(captions)
E /= np.linalg.norm(E, axis=1, keepdims=True)
probes = [p for p in extended_probes() if p.held_out and "sequence" not in p.tags]
Q = encoder.embed([p.prompt for p in probes])
Q /= np.linalg.norm(Q, axis=1, keepdims=True)
for probe, sims in zip(probes, Q @ E.T):
    print(f"[{','.join(probe.tags)}] {probe.prompt!r}")
    for j in np.argsort(-sims)[:3]:
        print(f"     {sims[j]:.3f} {captions[j]}")
