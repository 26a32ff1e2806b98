"""Ids of the clips the corpus tools derive from a procedural clip, and the clip each comes from.

Prefixes stack outermost last-made: a style copy (Y, momug.data.style_captions) or an undirected
copy (U, momug.data.undirected_captions) of a steady or onset window (S, O; momug.data.steady) of a
mirror (M; momug.data.mirror) is YSM<id> or USM<id>.
"""

from __future__ import annotations

from collections.abc import Container

from momug.data.mirror import MIRROR_PREFIX
from momug.data.steady import ONSET_PREFIX, STEADY_PREFIX

STYLE_PREFIX = "Y"
UNDIRECTED_PREFIX = "U"


def original_id(motion_id: str, known: Container[str]) -> str | None:
    """The meta.jsonl id a listed clip comes from: itself, or the clip a style or undirected copy
    (Y, U), a steady or onset window (S, O) and/or a mirror (M) was made from; None when it is none
    of these."""
    candidates = [motion_id]
    for prefix in (STYLE_PREFIX, UNDIRECTED_PREFIX):
        if motion_id.startswith(prefix):
            candidates.append(motion_id[len(prefix):])
    for c in list(candidates):
        for prefix in (STEADY_PREFIX, ONSET_PREFIX):
            if c.startswith(prefix):
                candidates.append(c[len(prefix):])
    for c in list(candidates):
        if c.startswith(MIRROR_PREFIX):
            candidates.append(c[len(MIRROR_PREFIX):])
    return next((c for c in candidates if c in known), None)
