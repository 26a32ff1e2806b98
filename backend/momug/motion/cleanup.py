"""Cleanup of generated motion before it reaches a rig: token seams, jitter and planted feet.

Both passes work on SMPL-22 joint positions (T, 22, 3), metres, Y up, the form every generated
motion takes before rotations are fitted.

Token seams. The model writes several frames per token; neighbouring tokens do not always agree
where a joint is, so at every token boundary a joint can jump (a foot by up to half a metre in
one frame), which reads as a pop. mend_seams takes out the part of each boundary step that the
steps either side do not explain and spreads it over the frames up to the next boundaries.

Jitter. Within a token the model's frames still buzz: at 20 fps the real model's motion had 3 to
7 times the jerk of real motion capture even with its seams mended, almost all of it above the
frequencies people move at. smooth_jitter is a zero-phase low-pass (4th-order Butterworth run
forwards and backwards, 4 Hz): a walk's steps (about 2 Hz), a wave, a jump's flight and a kick's
swing pass nearly unchanged (real motion-capture clips keep 97% of their largest one-frame step
through it), the buzz above does not (scripts/bench_cleanup.py measures both).

Planted feet. Generated motion often slides its feet while they stand on the floor ("foot
skating"), the first thing an animator notices. clean_foot_contacts finds the frames where each
foot is planted (its toe low and slow), pins the foot's horizontal position for the whole
contact, blends in and out over a few frames, and re-solves each leg with two-bone IK (hip fixed,
thigh and shin lengths kept, the knee staying in the plane it bent in), so the rest of the body
and the root path are untouched.

Streaming. A stream sends frames while later ones are still being made, and a frame once sent
never changes. StreamedCleanup mends seams and low-passes the frames so far each time more
arrive, and sends a frame only once STREAM_SMOOTH_DELAY frames follow it (0.4 s at 20 fps): the
backward pass of the low-pass then sees enough of the future that the frame is nearly what the
whole clip's cleanup would make. Feet are not held: whether a foot is planted is known only when
its contact ends, which can be seconds later.
"""

from __future__ import annotations

import numpy as np

from momug.motion.features import CONTACT_STEP_SQUARED

# SMPL-22 indices: (hip, knee, ankle, toe) for the left and the right leg.
LEGS = ((1, 4, 7, 10), (2, 5, 8, 11))
# A toe this close to the floor and this slow counts as planted: 5 cm (the physics report,
# momug.eval.physics, uses the same height for touching), and the speed HumanML3D's contact rule
# allows at its 20 fps (about 0.89 m/s), so a foot swinging low past the floor stays free.
CONTACT_HEIGHT = 0.05
CONTACT_SPEED = float(np.sqrt(CONTACT_STEP_SQUARED) * 20.0)
BLEND_FRAMES = 3
# The low-pass cutoff: above a kick's or a run's own frequencies, below the token buzz.
SMOOTH_CUTOFF_HZ = 4.0
SMOOTH_ORDER = 4
# Frames a streamed frame waits for before the low-pass counts it final (0.4 s at 20 fps); the
# filter's response has all but died out by then, so later frames barely move it.
STREAM_SMOOTH_DELAY = 8


def seam_reach(period: int) -> int:
    """How many frames at the end of a motion mend_seams may still change when more frames follow:
    a seam moves frames up to period // 2 before it and needs one frame after it to be measured."""
    return period // 2 + 1


def mend_seams(joints: np.ndarray, period: int) -> np.ndarray:
    """A copy with the jump at every period-th frame boundary spread over the frames around it.
    Each frame depends only on the frames up to seam_reach(period) after it (so a stream can mend
    as it goes)."""
    joints = np.asarray(joints, dtype=np.float64)
    out = joints.copy()
    reach = period // 2
    if period < 2 or len(joints) < 4:
        return out
    for seam in range(period, len(joints) - 1, period):
        before, across, after = (joints[seam - 1] - joints[seam - 2], joints[seam] - joints[seam - 1],
                                 joints[seam + 1] - joints[seam])
        excess = across - 0.5 * (before + after)
        # Half of it on each side, fading to nothing by the next seam's share.
        for k in range(reach):
            share = 0.5 * (1.0 - k / reach)
            if seam - 1 - k >= 0:
                out[seam - 1 - k] += share * excess
            if seam + k < len(joints):
                out[seam + k] -= share * excess
    return out


def smooth_jitter(joints: np.ndarray, fps: float, cutoff: float = SMOOTH_CUTOFF_HZ) -> np.ndarray:
    """A copy with every joint's trajectory low-passed at `cutoff` Hz, without a lag (forward and
    backward); motion sampled too coarsely to have anything above the cutoff is returned as is."""
    from scipy.signal import butter, sosfiltfilt

    joints = np.asarray(joints, dtype=np.float64)
    nyquist = 0.5 * fps
    if cutoff >= nyquist or len(joints) < 4:
        return joints.copy()
    sos = butter(SMOOTH_ORDER, cutoff / nyquist, output="sos")
    # Padding by odd reflection keeps the first and last poses where they were.
    return sosfiltfilt(sos, joints, axis=0, padtype="odd", padlen=min(len(joints) - 1, 3 * (2 * len(sos) + 1)))


def planted(joints: np.ndarray, fps: float, height: float = CONTACT_HEIGHT, speed: float = CONTACT_SPEED,
            floor: float = 0.0) -> np.ndarray:
    """(T, 2) bool: whether the left / right foot is planted at each frame."""
    toes = joints[:, [leg[3] for leg in LEGS]]
    horizontal = toes[..., [0, 2]]
    # Central differences so a frame's speed does not depend on which side of a step it is on.
    velocity = np.gradient(horizontal, axis=0) * fps if len(joints) > 1 else np.zeros_like(horizontal)
    low = toes[..., 1] - floor < height
    return low & (np.linalg.norm(velocity, axis=-1) < speed)


def _segments(mask: np.ndarray) -> list[tuple[int, int]]:
    """[start, end) runs of True in a 1-D bool array."""
    padded = np.concatenate([[False], mask, [False]]).astype(np.int8)
    edges = np.flatnonzero(np.diff(padded))
    return list(zip(edges[0::2], edges[1::2]))


def _pin_offsets(toe: np.ndarray, contact: np.ndarray, blend: int) -> np.ndarray:
    """(T, 3) horizontal offsets that hold the toe still during each contact, faded at the edges.
    A frame inside a contact always gets that contact's pin, even where a neighbouring contact's
    fade reaches it; where only fades overlap, they are averaged."""
    T = len(toe)
    offset = np.zeros((T, 3))
    pinned = np.zeros(T, dtype=bool)
    fade_sum, fade_count = np.zeros((T, 2)), np.zeros(T)
    for start, end in _segments(contact):
        if end - start < 2:
            continue
        target = toe[start:end, [0, 2]].mean(axis=0)
        offset[start:end, [0, 2]] = target - toe[start:end, [0, 2]]
        pinned[start:end] = True
        # Outside the contact the offset fades from the edge frame's value to nothing.
        for k in range(1, blend + 1):
            fade = 1.0 - k / (blend + 1)
            for frame, edge in ((start - k, start), (end - 1 + k, end - 1)):
                if 0 <= frame < T:
                    fade_sum[frame] += (target - toe[edge, [0, 2]]) * fade
                    fade_count[frame] += 1.0
    fading = ~pinned & (fade_count > 0)
    offset[np.ix_(fading, [0, 2])] = fade_sum[fading] / fade_count[fading, None]
    return offset


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), 1e-9)


def _solve_knee(hip: np.ndarray, knee: np.ndarray, ankle_target: np.ndarray, thigh: np.ndarray,
                shin: np.ndarray, forward: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Two-bone IK per frame: (knee, ankle) with the ankle as close to the target as the leg reaches."""
    reach = ankle_target - hip
    distance = np.linalg.norm(reach, axis=-1)
    longest = (thigh + shin) * 0.999
    shortest = np.abs(thigh - shin) * 1.001 + 1e-6
    clamped = np.clip(distance, shortest, longest)
    axis = _unit(reach)
    ankle = hip + axis * clamped[:, None]
    # The bend plane is the one the original knee made with the new hip-to-ankle line.
    bend = knee - hip
    bend = bend - axis * (bend * axis).sum(-1, keepdims=True)
    bend_len = np.linalg.norm(bend, axis=-1)
    # A straight leg has no bend plane of its own; knees bend toward where the body faces.
    fallback = forward - axis * (forward * axis).sum(-1, keepdims=True)
    bend = np.where(bend_len[:, None] > 1e-6, bend, fallback)
    bend = _unit(bend)
    cos_hip = np.clip((thigh**2 + clamped**2 - shin**2) / (2 * thigh * clamped), -1.0, 1.0)
    sin_hip = np.sqrt(1.0 - cos_hip**2)
    new_knee = hip + thigh[:, None] * (cos_hip[:, None] * axis + sin_hip[:, None] * bend)
    return new_knee, ankle


def clean_foot_contacts(joints: np.ndarray, fps: float, blend: int = BLEND_FRAMES, floor: float = 0.0,
                        height: float = CONTACT_HEIGHT, speed: float = CONTACT_SPEED) -> np.ndarray:
    """A copy of the SMPL-22 motion with planted feet held still; the input is not changed."""
    joints = np.asarray(joints, dtype=np.float64)
    if joints.ndim != 3 or joints.shape[1:] != (22, 3):
        raise ValueError(f"foot cleanup needs SMPL-22 joints (T, 22, 3), got {joints.shape}")
    out = joints.copy()
    contacts = planted(joints, fps, height=height, speed=speed, floor=floor)
    (left_hip, *_), (right_hip, *_) = LEGS
    forward = _unit(np.cross(joints[:, left_hip] - joints[:, right_hip], [0.0, 1.0, 0.0]))
    for side, (hip, knee, ankle, toe) in enumerate(LEGS):
        offset = _pin_offsets(joints[:, toe], contacts[:, side], blend)
        moved = np.linalg.norm(offset, axis=-1) > 0
        if not moved.any():
            continue
        thigh = np.linalg.norm(joints[:, knee] - joints[:, hip], axis=-1)
        shin = np.linalg.norm(joints[:, ankle] - joints[:, knee], axis=-1)
        new_knee, new_ankle = _solve_knee(joints[:, hip], joints[:, knee], joints[:, ankle] + offset, thigh, shin,
                                         forward)
        # The toe rides rigidly with the ankle, so the foot keeps its shape.
        new_toe = new_ankle + (joints[:, toe] - joints[:, ankle])
        out[moved, knee] = new_knee[moved]
        out[moved, ankle] = new_ankle[moved]
        out[moved, toe] = new_toe[moved]
    return out


def finish_motion(joints: np.ndarray, fps: float, seam_period: int, clean_feet: bool = True,
                  smooth: bool = True) -> np.ndarray:
    """What a generated motion gets before users see it: seams mended, (smooth) the jitter
    low-passed, then (clean_feet) planted feet held still."""
    joints = mend_seams(joints, seam_period)
    if smooth:
        joints = smooth_jitter(joints, fps)
    return clean_foot_contacts(joints, fps) if clean_feet else joints


class StreamedCleanup:
    """The cleanup a stream can do: push() all the frames so far each time more arrive and get
    back the ones that are now final (never changed afterwards). Seams are mended and (smooth)
    the jitter low-passed on everything so far; the last frames are held back until the filters
    have seen enough after them (seam_reach, or STREAM_SMOOTH_DELAY when smoothing)."""

    def __init__(self, fps: float, seam_period: int, smooth: bool = True):
        self.fps, self.period, self.smooth = float(fps), int(seam_period), bool(smooth)
        self.hold = max(seam_reach(self.period), STREAM_SMOOTH_DELAY if self.smooth else 0)
        self.sent = 0

    def push(self, joints: np.ndarray, last: bool = False, limit: int | None = None) -> np.ndarray:
        """The newly final frames of `joints` (every frame so far); last=True flushes the rest.
        limit: frames beyond it are never sent (a last latent cut short)."""
        done = mend_seams(joints, self.period)
        if self.smooth:
            done = smooth_jitter(done, self.fps)
        end = len(done) if last else len(done) - self.hold
        if limit is not None:
            end = min(end, int(limit))
        end = max(end, self.sent)   # fewer frames so far than are held back: nothing yet
        new = done[self.sent:end]
        self.sent = end
        return new


def replay_streamed(joints: np.ndarray, fps: float, seam_period: int, smooth: bool = True) -> np.ndarray:
    """What a stream of these frames sends, a seam period at a time (offline: for evaluations)."""
    cleanup = StreamedCleanup(fps, seam_period, smooth)
    chunks = [cleanup.push(joints[:end]) for end in range(seam_period, len(joints), seam_period)]
    chunks.append(cleanup.push(joints, last=True))
    return np.concatenate(chunks)


__all__ = ["STREAM_SMOOTH_DELAY", "StreamedCleanup", "clean_foot_contacts", "finish_motion", "mend_seams",
           "planted", "replay_streamed", "seam_reach", "smooth_jitter"]
