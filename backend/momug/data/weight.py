"""A weighted ids file: a split with the clips of chosen actions listed several times, so that
training (which shuffles the listed ids) draws them that much more often.

Why: a few things the probes ask for are a small share of a procedural corpus (one clip in fifty
is a single kick, and fewer still carry a height word), so a fine-tuning run of a thousand steps
sees each only a hundred-odd times. Repeating them in the ids file changes what a run draws
without writing any motion: the clips, captions, Mean.npy and Std.npy stay as they are.

A clip counts as an action's when any of its actions (meta.jsonl, from `momug data synth`, kept
through `momug data merge`) is that action; a clip with several weighted actions takes the largest
weight. Mirrors, steady and onset windows and style copies count as their original clip
(momug.data.derived).
"""

from __future__ import annotations

import re
from pathlib import Path

from momug.data.derived import original_id
from momug.data.humanml3d import read_split
from momug.data.synth.writer import read_meta
from momug.errors import MomugError

MAX_WEIGHT = 20  # more than this and one action crowds out the rest of the corpus


def parse_weights(text: str) -> dict[str, int]:
    """"kick=4,jump_in_place=3" -> {"kick": 4, "jump_in_place": 3}."""
    weights = {}
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        name, sep, value = part.partition("=")
        try:
            times = int(value)
        except ValueError:
            times = None
        if not sep or not name.strip() or times is None:
            raise MomugError(f"--times takes ACTION=N pairs separated by commas (e.g. kick=4,jump_in_place=3), "
                             f"got {part!r}")
        if not 1 <= times <= MAX_WEIGHT:
            raise MomugError(f"--times {name.strip()}={times}: N must be 1 to {MAX_WEIGHT}")
        weights[name.strip()] = times
    if not weights:
        raise MomugError("--times names no action (e.g. --times kick=4)")
    return weights


def check_list_name(name: str, split: str) -> str:
    """An ids file's name (without .txt) as given to --name: a plain file name, not the split itself."""
    if not re.fullmatch(r"[A-Za-z0-9_.-]+", name) or name.startswith("."):
        raise MomugError(f"--name must be a plain file name (letters, digits, '_', '-', '.'), got {name!r}")
    if name == split:
        raise MomugError(f"the new ids file would replace {split}.txt itself; choose another --name")
    return name


def copies_request(root: Path, split: str, times: int, name: str, what: str) -> tuple[str, list[str]]:
    """The checks of a corpus tool that writes derived copies of a split's clips and a list of both
    (momug data styles, undirected): the list's name, how often each copy is listed, the split's
    ids, and the meta.jsonl that says which clips qualify (what: what the tool reads from it)."""
    name = check_list_name(name, split)
    if not 1 <= times <= MAX_WEIGHT:
        raise MomugError(f"--times must be 1 to {MAX_WEIGHT}, got {times}")
    ids = read_split(root, split)
    if not (root / "meta.jsonl").is_file():
        raise MomugError(f"{root} has no meta.jsonl: {what} (corpora from momug data synth, or merges of them, "
                         "have it)")
    return name, ids


def write_weighted_split(root: str | Path, split: str, weights: dict[str, int], name: str | None = None) -> dict:
    """Write ROOT/<name>.txt (default <split>_weighted): the ids of ROOT/<split>.txt, each clip of a
    weighted action listed `weight` times. Returns the file, the counts and the clips per action."""
    root = Path(root)
    name = check_list_name(name or f"{split}_weighted", split)
    ids = read_split(root, split)
    if not (root / "meta.jsonl").is_file():
        raise MomugError(f"{root} has no meta.jsonl: weighting by action needs to know each clip's actions "
                         "(corpora from momug data synth, or merges of them, have it)")
    actions = {m["id"]: {a.get("action") for a in m.get("actions") or []} for m in read_meta(root)}
    known_actions = set().union(*actions.values())
    unknown = sorted(set(weights) - known_actions)
    if unknown:
        raise MomugError(f"{root} has no clip of action(s) {', '.join(unknown)}; its actions are "
                         f"{', '.join(sorted(a for a in known_actions if a))}")
    listed, per_action = [], {a: 0 for a in weights}
    for motion_id in ids:
        source = original_id(motion_id, actions)
        matched = [a for a in actions.get(source, ()) if a in weights]
        times = max((weights[a] for a in matched), default=1)
        for a in matched:
            per_action[a] += 1
        listed.extend([motion_id] * times)
    out_file = root / f"{name}.txt"
    out_file.write_text("".join(f"{i}\n" for i in listed))
    return {"split_file": str(out_file), "clips": len(ids), "listed": len(listed), "per_action": per_action}
