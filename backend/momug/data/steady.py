"""Steady-gait windows of a procedural corpus: for every clip that is one straight walk, jog, run
(or another gait) from start to finish, a copy cut to the stretch where it moves at its cruising
speed, without the speeding up from rest and the slowing down to a stop.

Why: the procedural generator starts every gait from standing and ends it standing, so a model
trained on it alone, asked for "a person jogs forward" for 4 s, jogs for two and stands for two
(the probes' speed checks fail on it). The windows show the same captions on motion that is
moving from the first frame to the last, as a crop of a longer take would be.

With onset=True (`--onset`) each such clip also gets an onset window O<id>: from its first frame,
standing, to the end of its cruising stretch, so the gait starts from rest and is still going when
the clip ends, as a user's "a person walks forward" for a set length should (the model of
2026-12-05 walked two seconds of four and stood).

The windows are written beside the clips as S<id> files (mirrors' windows as S<Mid>), and a new
ids file lists the split's clips and the windows (train_mirrored.txt -> train_mirrored_steady.txt,
or train_mirrored_steady_onset.txt with the onset windows too);
With without_stops as well (`--onset --without-stops`), the list leaves out each clip that got an
onset window, so no single straight gait in it slows to a stop and stands: for the streaming model,
which is never told the motion's length and learned from those clips to stop after about 3 s of
any gait (docs/training.md, streaming stages 10 and 12); written as <split>_steady_onset_nostops.txt.
The original files, split files, Mean.npy and Std.npy are not changed. A training config opts in
with split = "<split>_steady" in [train]. Needs the corpus' meta.jsonl (which action each clip
is, from `momug data synth`; kept through `momug data merge`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from scipy.ndimage import uniform_filter1d

from momug.data.humanml3d import read_smpl22_joints, read_split
from momug.data.mirror import MIRROR_PREFIX
from momug.data.synth.writer import read_meta
from momug.errors import MomugError
from momug.motion.features import humanml3d_spec, joints_to_features
from momug.motion.travel import root_ground_speed

STEADY_PREFIX = "S"
ONSET_PREFIX = "O"
# Gaits whose captions stay true for any stretch of the clip (a circle or a curve cut short
# would not be "in a circle" any more, so only straight paths qualify).
GAITS = ("walk", "jog", "run", "sneak", "march", "limp", "skip", "walk_backward", "sidestep")
CRUISE_FRACTION = 0.85  # a frame cruises when its stride-averaged speed is this share of the clip's


def _single_straight_gaits(root: Path) -> dict[str, float]:
    """id -> cruising speed (m/s) of each clip that is one straight gait from start to finish."""
    if not (root / "meta.jsonl").is_file():
        raise MomugError(f"{root} has no meta.jsonl: steady windows need to know which clips are a single "
                         "gait (corpora from momug data synth, or merges of them, have it)")
    out = {}
    for meta in read_meta(root):
        actions = meta.get("actions") or []
        if len(actions) != 1:
            continue
        action, params = actions[0], actions[0].get("params") or {}
        speed = (action.get("measured") or {}).get("speed_m_s")
        if (action.get("action") in GAITS and params.get("path", "straight") == "straight" and speed
                and not params.get("truncated")):
            out[meta["id"]] = float(speed)
    return out


def cruising_window(joints: np.ndarray, speed: float, fps: float, min_frames: int) -> tuple[int, int] | None:
    """[start, end) of the longest stretch whose pelvis ground speed, averaged over about a second
    (a stride or two, so steps and limps do not break it), stays at CRUISE_FRACTION of `speed`
    or more; None when that stretch is shorter than min_frames."""
    per_frame = root_ground_speed(joints, fps)
    smooth = uniform_filter1d(per_frame, size=max(int(round(fps)), 1), mode="nearest")
    fast = smooth >= CRUISE_FRACTION * speed
    best, start = None, None
    for i, flag in enumerate(np.append(fast, False)):
        if flag and start is None:
            start = i
        elif not flag and start is not None:
            if best is None or i - start > best[1] - best[0]:
                best = (start, i)
            start = None
    if best is None:
        return None
    # Velocities sit between frames: speed i spans frames i..i+1.
    a, b = best[0], best[1] + 1
    return (a, b) if b - a >= min_frames else None


def write_steady_windows(root: str | Path, split: str = "train_mirrored", min_seconds: float = 2.0,
                         fps: float = 20.0, onset: bool = False, without_stops: bool = False) -> dict:
    """Write S<id> windows for every qualifying clip of ROOT/<split>.txt (a mirror M<id> is cut
    where its original is) and ROOT/<split>_steady.txt listing the split and the windows (onset:
    O<id> windows too, listed in ROOT/<split>_steady_onset.txt). Rerunning rewrites the windows
    (they depend only on the clips), so an interrupted run resumes."""
    root = Path(root)
    ids = read_split(root, split)
    if not (root / "new_joints").is_dir():
        raise MomugError(f"{root} has no new_joints/ folder: steady windows need the joint positions")
    if min_seconds <= 0:
        raise MomugError(f"--min-seconds must be positive, got {min_seconds}")
    if without_stops and not onset:
        raise MomugError("--without-stops leaves out the clips that have an onset window: it needs --onset")
    gaits = _single_straight_gaits(root)
    spec = humanml3d_spec()
    min_frames = int(round(min_seconds * fps))
    listed, written, replaced = list(ids), {STEADY_PREFIX: 0, ONSET_PREFIX: 0}, set()
    for motion_id in ids:
        # A mirror M<id> takes its original's speed; its pelvis speeds are the original's exactly
        # (X negated), so it is cut at the same frames.
        speed = gaits.get(motion_id) or (gaits.get(motion_id[len(MIRROR_PREFIX):])
                                         if motion_id.startswith(MIRROR_PREFIX) else None)
        if motion_id.startswith((STEADY_PREFIX, ONSET_PREFIX)) or speed is None:
            continue
        joints_path = root / "new_joints" / f"{motion_id}.npy"
        texts_path = root / "texts" / f"{motion_id}.txt"
        if not (joints_path.is_file() and texts_path.is_file()):
            continue
        joints = read_smpl22_joints(joints_path, "steady windows support")
        window = cruising_window(joints, speed, fps, min_frames)
        if window is None:
            continue
        a, b = window
        cuts = [(STEADY_PREFIX, a)] + ([(ONSET_PREFIX, 0)] if onset and a > 0 else [])
        for prefix, first in cuts:
            window_id = prefix + motion_id
            cut = np.ascontiguousarray(joints[first:b], dtype=np.float32)
            np.save(root / "new_joints" / f"{window_id}.npy", cut)
            np.save(root / "new_joint_vecs" / f"{window_id}.npy", joints_to_features(cut, spec))
            (root / "texts" / f"{window_id}.txt").write_text(texts_path.read_text(encoding="utf-8"),
                                                             encoding="utf-8")
            listed.append(window_id)
            written[prefix] += 1
        if without_stops and a > 0:
            replaced.add(motion_id)   # it got an onset window, which stands in for it without the stop
    listed = [i for i in listed if i not in replaced]
    out_file = root / f"{split}_steady{'_onset' if onset else ''}{'_nostops' if without_stops else ''}.txt"
    out_file.write_text("".join(f"{i}\n" for i in listed))
    return {"split_file": str(out_file), "clips": len(listed), "written": sum(written.values()),
            "steady": written[STEADY_PREFIX], "onset": written[ONSET_PREFIX]}
