"""The exact last step on the finished joints: the root path met exactly, known frames met exactly
with the correction faded in around each key (so the step into and out of a key grows by at most
half the motion's typical step), a continuation's velocity carried across the join, kept joints
copied bit for bit and the regenerated limbs re-attached to them with the source's bone lengths."""

from __future__ import annotations

import math

import numpy as np

from momug.constraints.geometry import key_weights, reattach, smooth_weight
from momug.constraints.spec import Constraints

MIN_REACH = 3
# Frames over which a continuation carries the given motion's velocity on (and an ending brings
# the following motion's velocity in) before the model's own motion takes over.
MOMENTUM_FRAMES = 8
# Frames around a key over which planted-feet cleanup fades out (the key's feet are the user's).
FEET_FREE_FRAMES = 6


def frame_steps(joints: np.ndarray) -> np.ndarray:
    """(T-1,) the largest one-frame move of any joint between consecutive frames."""
    return np.linalg.norm(np.diff(joints, axis=0), axis=-1).max(axis=-1)


def typical_step(joints: np.ndarray) -> float:
    """The motion's typical one-frame step: the median of frame_steps (a floor of 5 mm)."""
    if len(joints) < 2:
        return 0.005
    return max(float(np.median(frame_steps(joints))), 0.005)


def momentum_profile(reach: int) -> np.ndarray:
    """(reach + 1,) h(1..reach+1): 1 at the first frame (so the first step carries the whole
    velocity difference), then fading smoothly to 0 (the model's own motion takes over)."""
    t = np.arange(1, reach + 2, dtype=np.float64)
    return t * smooth_weight((t - 1) / reach)


def carry_velocity(out: np.ndarray, key_index: np.ndarray, at: int, forward: bool, keep_root: bool = False) -> None:
    """In place: make the one-frame step out of frame `at` (forward) or into it (backward) the
    given motion's own step there (the frame after / before `at` is a known frame too), faded
    out over MOMENTUM_FRAMES so a continuation carries the given velocity on instead of changing
    it at the join. Frame `at` and every other known frame stay exactly where they are."""
    sign = 1 if forward else -1
    known = set(int(k) for k in key_index)
    if at - sign not in known:
        return
    # Free frames on the open side of `at`, up to the next known frame (which must not move).
    free = 0
    while 0 <= at + sign * (free + 1) < len(out) and at + sign * (free + 1) not in known:
        free += 1
    reach = min(MOMENTUM_FRAMES, free - 1)
    if reach < 1:
        return
    given = (out[at] - out[at - sign]) * sign
    made = (out[at + sign] - out[at]) * sign
    miss = given - made
    if keep_root:  # a path sets the root on the ground: only the body around it carries on
        miss[:, [0, 2]] -= miss[:1, [0, 2]]
    h = momentum_profile(reach)
    frames = at + sign * np.arange(1, reach + 2)
    out[frames] += sign * h[:, None, None] * miss[None]


def project(joints: np.ndarray, c: Constraints, clean_feet: bool = False, fps: float = 20.0) -> np.ndarray:
    """The finished motion over the sampled timeline (total, 22, 3), world placed -> the output
    (frames, 22, 3) with the constraints met exactly."""
    from momug.motion.cleanup import clean_foot_contacts

    out = np.array(joints, dtype=np.float64)
    if c.path is not None:
        sl = slice(c.lead, c.lead + c.frames)
        shift = c.path - out[sl, 0][:, [0, 2]]
        out[sl, :, 0] += shift[:, None, 0]
        out[sl, :, 2] += shift[:, None, 1]
    if len(c.key_frames):
        idx = c.key_frames + c.lead
        # Where the body stands on the ground: spread over the whole gap between keys, before
        # the feet are held, so planted feet stay planted through it.
        ground = (c.key_joints[:, 0] - out[idx, 0]) * np.array([1.0, 0.0, 1.0])
        out += np.einsum("kt,kd->td", key_weights(idx, c.total, np.inf), ground)[:, None, :]
    if clean_feet:
        cleaned = clean_foot_contacts(out, fps)
        if len(c.key_frames):
            # Near a key the feet are the user's: pinning them there and then pulling them onto
            # the key would kink the leg's path, so the cleanup fades out towards each key.
            near = key_weights(c.key_frames + c.lead, c.total, FEET_FREE_FRAMES).max(axis=0)[:, None, None]
            cleaned = near * out + (1.0 - near) * cleaned
        out = cleaned
    if len(c.key_frames):
        step = typical_step(out)
        # The rest (pose, height) near each key, over enough frames to add at most half a typical
        # step per frame (a cosine fade of length r adds at most pi/2 * |delta| / r per frame).
        delta = c.key_joints - out[idx]
        need = np.linalg.norm(delta, axis=-1).max(axis=-1) * math.pi / step
        reach = np.maximum(np.ceil(need), MIN_REACH)
        out += np.einsum("kt,kjd->tjd", key_weights(idx, c.total, reach), delta)
        out[idx] = c.key_joints  # exact, not merely within rounding
        if c.lead >= 2:
            carry_velocity(out, idx, c.lead - 1, forward=True, keep_root=c.path is not None)
        if c.tail >= 1:
            carry_velocity(out, idx, c.lead + c.frames - 1, forward=False, keep_root=c.path is not None)
    out = out[c.lead:c.lead + c.frames]
    if c.is_edit:
        src = np.asarray(c.source, dtype=np.float64)
        new = out.copy()
        keep = list(c.keep)
        new[:, keep] = src[:, keep]
        new[:, 0] = src[:, 0]
        out = reattach(new, out, src, c.keep)
        final = out.astype(np.float32)
        final[:, keep] = c.source[:, keep]  # bit for bit
        final[:, 0] = c.source[:, 0]
        return final
    return out.astype(np.float32)
