"""Style-worded copies of a procedural corpus' slow and brisk gaits: "an elderly man walks forward."
on a slow walk, "an athletic woman walks forward." on a fast one, "an athletic man runs forward."
on a fast run. `momug data styles`.

Why: the procedural captions draw their subject ("a person", "a man", ...) at random, whatever the
motion, so a model trained on them learns that who walks says nothing about how: asked for "the
old man walks forward" or "an energetic woman walks along", the shipped default walks at an
ordinary pace (issue 20's speed probes). Real people's style changes their gait (the Bandai-Namco
clips: elderly and tired runs 1.84-2.28 m/s against 2.81 normal, README "Real motion"); here the
procedural gaits that already have that speed get captions that say it through the subject or an
adverb, most of them without any speed word, so the style word alone has to carry the speed.

The style words are chosen apart from the words of the extended probes' speed prompts ("old",
"tired", "exhausted", "energetic", "pep", "lively") and of `momug eval styles --wording heldout`
("aged", "worn-out", "vigorous", "teenaged"): those prompts then measure whether the idea carries
over to words the corpus never pairs with a speed.

Each qualifying clip of the split (one straight walk, jog or run from start to finish with a slow
or fast speed label, or a mirror, steady or onset window of one) gets a copy Y<id> with the same
motion (hard links where the file system allows, else copies) and three style captions only,
drawn from a generator seeded by the id (so reruns write the same files). ROOT/<split>_styled.txt
(or --name) lists the split and the copies (each `times` times). Originals, split files, Mean.npy
and Std.npy are not changed.
"""

from __future__ import annotations

import zlib
from pathlib import Path

import numpy as np

from momug.data.derived import STYLE_PREFIX, original_id
from momug.data.merge import link_file
from momug.data.synth.tagging import text_line
from momug.data.synth.writer import read_meta
from momug.data.weight import copies_request

CAPTIONS_PER_CLIP = 3

# (gait, speed label) -> style family. The slow jog is "runs" for an elderly or weary runner: real
# old and tired runs (1.84-2.28 m/s) are about as fast as the procedural slow jog (1.6-1.9).
FAMILY_OF = {("walk", "slow"): "slow", ("jog", "slow"): "slow", ("walk", "fast"): "brisk", ("run", "fast"): "brisk"}
SUBJECTS = {
    "slow": [("an elderly man", "his"), ("an elderly woman", "her"), ("an elderly person", "their"),
             ("a grandfather", "his"), ("a weary woman", "her"), ("a weary man", "his"),
             ("a fatigued person", "their"), ("a frail woman", "her"), ("a sleepy man", "his")],
    "brisk": [("a sporty man", "his"), ("an athletic woman", "her"), ("an active person", "their"),
              ("a youthful man", "his"), ("a sporty woman", "her"), ("an athletic man", "his"),
              ("an eager girl", "her"), ("a fit young woman", "her")],
}
PLAIN_SUBJECTS = [("a person", "their"), ("someone", "their"), ("a man", "his"), ("a woman", "her")]
ADVERBS = {
    "slow": ["wearily", "sluggishly", "with heavy steps", "feebly", "like an elderly person"],
    "brisk": ["spiritedly", "with a spring in {poss} step", "eagerly", "purposefully", "like an athlete"],
}
VERBS = {"walk": ["walks"], "jog": ["runs", "jogs"], "run": ["runs"]}
PATHS = ["forward", "straight ahead", "forward in a straight line"]
SPEED_WORDS = {"slow": "slowly", "brisk": "quickly"}


def style_family(meta: dict) -> tuple[str, str] | None:
    """(gait, family) of a clip that is one straight walk, jog or run with a styled speed, else None."""
    actions = meta.get("actions") or []
    if len(actions) != 1:
        return None
    params = actions[0].get("params") or {}
    gait = params.get("gait")
    family = FAMILY_OF.get((gait, params.get("speed")))
    if family is None or params.get("path", "straight") != "straight" or params.get("truncated"):
        return None
    return gait, family


def style_captions(gait: str, family: str, rng: np.random.Generator, n: int = CAPTIONS_PER_CLIP) -> list[str]:
    """n distinct captions that say the speed through a style: the subject ("an elderly man walks
    forward."), an adverb after a plain subject ("a person walks forward wearily."), or both; half
    of the styled subjects without an adverb add the plain speed word ("... forward slowly."), so
    most captions leave the style alone to carry the speed."""
    out: list[str] = []
    while len(out) < n:
        kind = int(rng.integers(3))  # 0 styled subject, 1 plain subject + style adverb, 2 both
        pool = SUBJECTS[family] if kind != 1 else PLAIN_SUBJECTS
        subject, poss = pool[int(rng.integers(len(pool)))]
        verbs = VERBS[gait]
        words = [subject, verbs[int(rng.integers(len(verbs)))], PATHS[int(rng.integers(len(PATHS)))]]
        if kind != 0:
            words.append(ADVERBS[family][int(rng.integers(len(ADVERBS[family])))].format(poss=poss))
        elif rng.random() < 0.5:
            words.append(SPEED_WORDS[family])
        caption = " ".join(words) + "."
        if caption not in out:
            out.append(caption)
    return out


def write_style_copies(root: str | Path, split: str, times: int = 1, name: str | None = None) -> dict:
    """Write a Y<id> copy with style captions for each qualifying clip of ROOT/<split>.txt and
    ROOT/<name>.txt (default <split>_styled) listing the split and each copy `times` times (one
    copy is a few percent of a corpus' draws). Rerunning rewrites the same files."""
    root = Path(root)
    name, ids = copies_request(root, split, times, name or f"{split}_styled",
                               "style captions need each clip's gait and speed label")
    families = {m["id"]: fam for m in read_meta(root) if (fam := style_family(m)) is not None}
    listed, per_family = list(ids), {"slow": 0, "brisk": 0}
    for motion_id in ids:
        if motion_id.startswith(STYLE_PREFIX):
            continue
        source = original_id(motion_id, families)
        if source is None:
            continue
        paths = [root / folder / f"{motion_id}.npy" for folder in ("new_joints", "new_joint_vecs")]
        if not all(p.is_file() for p in paths):
            continue
        gait, family = families[source]
        copy_id = STYLE_PREFIX + motion_id
        for p in paths:
            link_file(p, p.with_name(f"{copy_id}.npy"))
        rng = np.random.default_rng(zlib.crc32(copy_id.encode()))
        (root / "texts" / f"{copy_id}.txt").write_text(
            "".join(text_line(c) + "\n" for c in style_captions(gait, family, rng)), encoding="utf-8")
        listed.extend([copy_id] * times)
        per_family[family] += 1
    out_file = root / f"{name}.txt"
    out_file.write_text("".join(f"{i}\n" for i in listed))
    return {"split_file": str(out_file), "clips": len(listed), "written": sum(per_family.values()), **per_family}
