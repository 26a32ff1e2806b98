"""Animation cycles as the motion they stand for, before a motion is captioned.

Game and web animation libraries ship locomotion as short loops "in place": Mixamo's Walking, the
three.js Soldier and Xbot walks, most engine idles. Two conventions of that form are not motion:
  - in place: the root's travel was removed, so the planted foot slides backwards under a body
    that never moves (a treadmill);
  - a loop: one cycle, often about a second, shorter than any clip the model was trained on
    (HumanML3D's shortest is 40 frames, 2 s).
Captioned as they are, a real Mixamo walk came out as "a man lifts the left arm". This module
undoes both: a clip whose planted feet slide steadily one way while its root stays put gets the
travel back that keeps the planted foot still, and a clip that ends in the pose it started in
(a cycle) shorter than MIN_SECONDS is repeated to that length. Motion with its own travel, a
walk on the spot (planted feet stay still), turns and idles are left as they are.

Joints are (T, 22, 3) SMPL-22 positions in metres, Y up, at any frame rate.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

MIN_SECONDS = 2.0            # HumanML3D's shortest training clip (40 frames at 20 fps)
FEET = ((7, 10), (8, 11))    # (ankle, foot) joints of the left and right leg
MIN_SLIDE = 0.3              # m/s: the planted foot's steady backwards slide that marks "in place"
MAX_ROOT_SHARE = 0.25        # ... while the root covers at most this share of that distance
MIN_AGREEMENT = 0.7          # share of frames whose planted-foot slide goes the mean slide's way
CYCLE_STEPS = 1.5            # first and last pose this many typical frame-to-frame changes apart


@dataclass
class CycleReport:
    """What was done to a clip, in words a user can read."""
    in_place: bool = False
    cycle: bool = False
    speed: float = 0.0          # m/s of restored travel
    repeats: int = 1
    notes: list = field(default_factory=list)


def _planted_slide(joints: np.ndarray) -> np.ndarray:
    """(T, 2) horizontal (x, z) step of the planted foot from frame t-1 to t (row 0 is zero). The
    planted foot is the lower leg's lowest joint at frame t; its step is that joint's own."""
    T = len(joints)
    steps = np.zeros((T, 2))
    for t in range(1, T):
        low = [min(FEET[s], key=lambda j: joints[t, j, 1]) for s in (0, 1)]
        k = min(low, key=lambda j: joints[t, j, 1])
        steps[t] = joints[t, k, [0, 2]] - joints[t - 1, k, [0, 2]]
    return steps


def in_place_travel(joints: np.ndarray, fps: float) -> np.ndarray | None:
    """The (T, 2) per-frame root steps that keep the planted foot still, when the clip is locomotion
    in place (its planted feet slide steadily one way while the root stays); None otherwise."""
    joints = np.asarray(joints, dtype=np.float64)
    if len(joints) < 3:
        return None
    slide = _planted_slide(joints)[1:]
    mean = slide.mean(axis=0)
    speed = float(np.linalg.norm(mean)) * fps
    if speed < MIN_SLIDE:
        return None
    root = joints[-1, 0, [0, 2]] - joints[0, 0, [0, 2]]
    seconds = (len(joints) - 1) / fps
    if np.linalg.norm(root) / seconds > MAX_ROOT_SHARE * speed:
        return None
    agree = float(np.mean(slide @ (mean / np.linalg.norm(mean)) > 0))
    if agree < MIN_AGREEMENT:
        return None
    # A planted foot that jumps (a loop's seam, a foot swap mid-frame) is not a slide: such steps
    # take the clip's mean instead.
    size = np.linalg.norm(slide, axis=1)
    wild = size > 3.0 * max(float(np.median(size)), 1e-6)
    slide[wild] = mean
    return np.concatenate([np.zeros((1, 2)), -slide])


def is_cycle(joints: np.ndarray) -> tuple[bool, bool]:
    """(cycle, closed): whether the clip ends in the pose it started in, judged on root-relative
    joints against the typical change between frames, and whether its last frame repeats its
    first (a closed loop, whose last frame is dropped when repeating)."""
    joints = np.asarray(joints, dtype=np.float64)
    if len(joints) < 4:
        return False, False
    rel = joints - joints[:, :1]
    step = np.linalg.norm(np.diff(rel, axis=0), axis=-1).max(axis=-1)
    typical = float(np.median(step))
    gap = float(np.linalg.norm(rel[-1] - rel[0], axis=-1).max())
    if typical < 1e-4:                     # a held pose: a cycle of anything
        return True, True
    return gap <= CYCLE_STEPS * typical, gap <= 0.5 * typical


def repeat_cycle(joints: np.ndarray, closed: bool, frames: int) -> np.ndarray:
    """The cycle repeated to at least `frames` frames; each repeat continues from where the last
    one's root ended (the cycle's own travel, if it has any)."""
    joints = np.asarray(joints, dtype=np.float64)
    one = joints[:-1] if closed else joints
    n = len(one)
    # Root travel over one period: first to last frame plus, for an open cycle, one more step.
    period = joints[-1, 0] - joints[0, 0] if closed else (joints[-1, 0] - joints[0, 0]) + (
        joints[-1, 0] - joints[-2, 0])
    period = np.array([period[0], 0.0, period[2]])
    reps = int(np.ceil(frames / n))
    out = np.concatenate([one + k * period for k in range(reps)])
    return out[:max(frames, n)]


def as_motion(joints: np.ndarray, fps: float, min_seconds: float = MIN_SECONDS) -> tuple[np.ndarray, CycleReport]:
    """The clip as the motion it stands for (see the module doc), with what was done. Only
    locomotion is touched: a clip in place, or one whose root travels; a short one-shot action that
    ends where it began (raise the hands and lower them) is not a loop and stays as it is."""
    joints = np.asarray(joints, dtype=np.float64)
    report = CycleReport()
    if len(joints) < 3:
        return joints, report
    in_place = in_place_travel(joints, fps) is not None
    seconds = (len(joints) - 1) / fps
    travels = np.linalg.norm(joints[-1, 0, [0, 2]] - joints[0, 0, [0, 2]]) / seconds >= MIN_SLIDE
    frames = int(np.ceil(min_seconds * fps - 1e-9))
    cycle, closed = is_cycle(joints)
    if (in_place or travels) and cycle and len(joints) < frames:
        period = len(joints) - int(closed)
        report.cycle = True
        report.repeats = int(np.ceil(frames / period))
        report.notes.append(f"a {period}-frame loop repeated to {min_seconds:g} s")
        joints = repeat_cycle(joints, closed, frames)
    travel = in_place_travel(joints, fps) if in_place else None
    if travel is not None:
        shift = np.cumsum(travel, axis=0)
        joints = joints.copy()
        joints[..., 0] += shift[:, None, 0]
        joints[..., 2] += shift[:, None, 1]
        report.in_place = True
        report.speed = float(np.linalg.norm(shift[-1]) / ((len(joints) - 1) / fps))
        report.notes.append(f"in place: {report.speed:.2f} m/s of travel restored from the planted feet")
    return joints, report
