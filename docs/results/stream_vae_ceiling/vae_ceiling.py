"""How much of what the probes check survives the streaming mode's VAE (a one-off check, 2026-12-06).

For the single-action test clips of the focus corpus whose action a probe judges (waves, kicks,
sidesteps, turns, jumps, claps, squats, walks backward), the probe's check is run on the clip's own
joints and on the joints after the shipped VAE's round trip (encode to the mean latents, decode):
the second column is the most the streaming model can reach through its latents.
  python docs/results/stream_vae_ceiling/vae_ceiling.py corpus_focus_merged
"""
import collections
import json
import sys

import numpy as np

from momug.eval import probes as P
from momug.motion.features import features_to_joints
from momug.stream.vae import from_pretrained

root = sys.argv[1]
FPS = 20.0


def check_for(action: dict):
    a, p = action["action"], action["params"]
    if p.get("side") not in (None, "left", "right") and a != "raise_arms":
        return None  # two-handed waves and the like: no one-sided check
    if a == "wave":
        return P.waves(p["side"])
    if a == "kick":
        return P.kicks(p["side"])
    if a == "sidestep":
        return P.travels(p["direction"], 0.3)
    if a == "turn":
        return P.turns(p["direction"])
    if a == "jump_in_place":
        return P.jumps()
    if a == "clap":
        return P.claps()
    if a == "squat":
        return P.goes_down(0.25)
    if a == "walk_backward":
        return P.travels("backward", 0.4)
    if a == "raise_arms" and p.get("side") == "both":
        return P.raises_both_arms()
    return None


vae = from_pretrained()
counts = collections.defaultdict(lambda: [0, 0, 0])
for line in open(f"{root}/meta.jsonl"):
    meta = json.loads(line)
    if meta["split"] != "test" or len(meta["actions"]) != 1:
        continue
    check = check_for(meta["actions"][0])
    if check is None:
        continue
    feats = np.load(f"{root}/new_joint_vecs/{meta['id']}.npy")
    ok_gt = check(features_to_joints(feats), FPS).passed
    ok_vae = check(features_to_joints(vae.reconstruct(feats)), FPS).passed
    row = counts[meta["actions"][0]["action"]]
    row[0] += 1
    row[1] += ok_gt
    row[2] += ok_vae
print(f"{'action':15s} {'clips':>5s} {'own joints':>11s} {'through VAE':>12s}")
for name, (n, gt, vae_ok) in sorted(counts.items()):
    print(f"{name:15s} {n:5d} {gt / n:11.0%} {vae_ok / n:12.0%}")
