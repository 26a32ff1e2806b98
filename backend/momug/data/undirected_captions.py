"""Copies of a procedural corpus' straight gaits captioned without a direction: "a man runs." on a
run forward. `momug data undirected`.

Why: every procedural caption of a straight gait says where it goes ("runs forward", "walks
straight ahead"), and the only gait captions without such a phrase are the in-place ones ("runs in
place."). Asked for "someone runs." the shipped default blends the two and runs at 1.3 m/s against
3.3 for "someone runs forward.", and so does any prompt that names the gait and then something
the corpus never says ("someone runs flat out": 1.3; docs/training.md, part 23). In English a
bare "runs" travels; these copies say so.

Each qualifying clip of the split (one straight forward gait from start to finish: walk, jog, run,
sneak, march, limp or skip, or a mirror, steady or onset window of one) gets a copy U<id> with the
same motion (hard links where the file system allows, else copies) whose captions are the clip's
own with the direction phrase after the verb taken out ("a woman dashes forward at a normal pace."
-> "a woman dashes at a normal pace."). ROOT/<split>_undirected.txt (or --name) lists the split
and the copies (each `times` times). Originals, split files, Mean.npy and Std.npy are not changed.
"""

from __future__ import annotations

from pathlib import Path

from momug.data.derived import UNDIRECTED_PREFIX, original_id
from momug.data.humanml3d import read_captions
from momug.data.merge import link_file
from momug.data.synth.tagging import text_line
from momug.data.synth.writer import read_meta
from momug.data.weight import copies_request

GAITS = ("walk", "jog", "run", "sneak", "march", "limp", "skip")
# Longest first, so "forward in a straight line" goes whole rather than leaving "in a straight line".
DIRECTIONS = (" forward in a straight line", " straight ahead", " forward")


def is_straight_gait(meta: dict) -> bool:
    """One straight forward gait from start to finish."""
    actions = meta.get("actions") or []
    if len(actions) != 1:
        return False
    params = actions[0].get("params") or {}
    return (params.get("gait") in GAITS and params.get("path") == "straight"
            and params.get("direction", "forward") == "forward" and not params.get("truncated"))


def undirected(caption: str) -> str | None:
    """The caption with its first direction phrase taken out, or None when it has none."""
    for phrase in DIRECTIONS:
        at = caption.find(phrase)
        if at >= 0:
            return caption[:at] + caption[at + len(phrase):]
    return None


def write_undirected_copies(root: str | Path, split: str, times: int = 1, name: str | None = None) -> dict:
    """Write a U<id> copy with direction-free captions for each qualifying clip of ROOT/<split>.txt and
    ROOT/<name>.txt (default <split>_undirected) listing the split and each copy `times` times.
    Rerunning rewrites the same files."""
    root = Path(root)
    name, ids = copies_request(root, split, times, name or f"{split}_undirected",
                               "undirected captions need each clip's gait and path")
    gaits = {m["id"] for m in read_meta(root) if is_straight_gait(m)}
    listed, written = list(ids), 0
    for motion_id in ids:
        if motion_id.startswith(UNDIRECTED_PREFIX) or original_id(motion_id, gaits) is None:
            continue
        paths = [root / folder / f"{motion_id}.npy" for folder in ("new_joints", "new_joint_vecs")]
        text = root / "texts" / f"{motion_id}.txt"
        if not all(p.is_file() for p in [*paths, text]):
            continue
        captions = list(dict.fromkeys(c for c in (undirected(c.text) for c in read_captions(text)) if c))
        if not captions:
            continue
        copy_id = UNDIRECTED_PREFIX + motion_id
        for p in paths:
            link_file(p, p.with_name(f"{copy_id}.npy"))
        (root / "texts" / f"{copy_id}.txt").write_text("".join(text_line(c) + "\n" for c in captions),
                                                       encoding="utf-8")
        listed.extend([copy_id] * times)
        written += 1
    out_file = root / f"{name}.txt"
    out_file.write_text("".join(f"{i}\n" for i in listed))
    return {"split_file": str(out_file), "clips": len(listed), "written": written}
