"""Sequencing: joins one to three action clips with smooth transitions and solves the legs.

Each action starts from the state (pelvis ground point, facing) the previous one ended in, so the
root path and the footholds are continuous by construction. Poses (pelvis lean, spine, head, arms,
pelvis height) are blended: over the first frames of each new clip the previous clip's last pose is
slerped into the new one. Legs are solved last by two-bone IK to the ankle targets, after lowering
the pelvis wherever a leg could not reach, so planted feet never slide.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.ndimage import gaussian_filter1d, maximum_filter1d

from momug.motion import kinematics
from momug.motion import quaternion as Q
from momug.data.synth import rig
from momug.data.synth.clip import Clip, smoothstep
from momug.data.synth.rig import Body


@dataclass
class Motion:
    joints: np.ndarray  # (T, 22, 3) world, metres, Y up
    rotations: np.ndarray  # (T, 22, 4) local
    root_translation: np.ndarray  # (T, 3)
    planted: np.ndarray  # (T, 2) bool, left/right foot held fixed on the ground
    segments: list  # [(start, end)] frame range of each clip


def _blend_into(prev_last: Clip, clip: Clip, frames: int) -> None:
    """Fade clip's first `frames` frames in from prev_last's final pose (in place)."""
    n = min(frames, clip.frames)
    if n <= 0:
        return
    w = smoothstep((np.arange(n) + 1.0) / (n + 1.0))
    last_pose = np.broadcast_to(prev_last.pose[-1], (n, 22, 4))
    clip.pose[:n] = Q.slerp(last_pose, clip.pose[:n], w[:, None])
    clip.tilt[:n] = Q.slerp(np.broadcast_to(prev_last.tilt[-1], (n, 4)), clip.tilt[:n], w)
    clip.root[:n, 1] = prev_last.root[-1, 1] * (1 - w) + clip.root[:n, 1] * w
    # Pelvis ground position: fade out any offset between the clips (the feet already agree).
    clip.root[:n, [0, 2]] += (prev_last.root[-1, [0, 2]] - clip.root[0, [0, 2]]) * (1 - w)[:, None]


def join(clips: list[Clip], blend_frames: int = 8) -> Clip:
    for a, b in zip(clips[:-1], clips[1:]):
        _blend_into(a, b, blend_frames)
    cat = lambda name: np.concatenate([getattr(c, name) for c in clips], axis=0)  # noqa: E731
    return Clip(cat("root"), cat("heading"), cat("tilt"), cat("pose"), cat("ankles"), cat("foot_yaw"),
                cat("toe_up"), cat("planted"), scale=clips[0].scale)


def _limit_pelvis_height(body: Body, root: np.ndarray, pelvis_rot: np.ndarray, ankles: np.ndarray) -> np.ndarray:
    """Lower the pelvis, smoothly, wherever either leg would have to stretch past its length."""
    limit = np.minimum(
        rig.max_pelvis_height(body, root, pelvis_rot, "left", ankles[:, 0]),
        rig.max_pelvis_height(body, root, pelvis_rot, "right", ankles[:, 1]),
    )
    deficit = np.maximum(root[:, 1] - limit, 0.0)
    if deficit.max() <= 0:
        return root
    # Widen then smooth the dips so the correction has no corners (no velocity pops).
    smooth = gaussian_filter1d(maximum_filter1d(deficit, size=7, mode="nearest"), sigma=1.5, mode="nearest")
    out = root.copy()
    out[:, 1] -= np.maximum(smooth, deficit)
    return out


def solve(body: Body, clip: Clip) -> Motion:
    """Legs by IK, then forward kinematics on the body's skeleton (bone lengths stay exact)."""
    T = clip.frames
    pelvis_rot = Q.mul(rig.about([0, 1, 0], clip.heading), clip.tilt)
    root = _limit_pelvis_height(body, clip.root, pelvis_rot, clip.ankles)
    rotations = clip.pose.copy()
    rotations[:, rig.PELVIS] = pelvis_rot
    for k, side in enumerate(rig.SIDES):
        yaw = clip.foot_yaw[:, k]
        foot_rot = Q.mul(rig.about([0, 1, 0], yaw), rig.about([1, 0, 0], -clip.toe_up[:, k]))
        # Knees point the way the foot points, tipping up as the thigh rises (kicks, high knees).
        knee_dir = np.stack([np.sin(yaw), np.full(T, 0.6), np.cos(yaw)], axis=-1)
        hip, knee, ankle = rig.leg_rotations(body, root, pelvis_rot, side, clip.ankles[:, k], foot_rot, knee_dir)
        j_hip, j_knee, j_ankle = rig.LEG[side]
        rotations[:, j_hip], rotations[:, j_knee], rotations[:, j_ankle] = hip, knee, ankle
    rotations = Q.make_continuous(Q.normalize(rotations))
    joints = kinematics.forward(body.skeleton, rotations, root)
    # Re-ground: the whole motion moves up if anything dips below the floor (a constant shift
    # keeps planted feet planted).
    lowest = joints[..., 1].min()
    if lowest < 0:
        joints[..., 1] -= lowest
        root = root.copy()
        root[:, 1] -= lowest
    return Motion(joints, rotations, root, clip.planted.copy(), [])


MIN_FRAMES, MAX_FRAMES = 40, 200  # 2 to 10 s at 20 fps
BLEND_FRAMES = (6, 10)  # 0.3 to 0.5 s


def sample_sequence(rng: np.random.Generator, names: list[str] | None = None, pool: list[str] | None = None,
                    gait_seconds: tuple[float, float] | None = None, jump_heights: str = "overlap"):
    """One random motion of one to three actions (or exactly `names`, with random parameters),
    drawn from every action or only from `pool`. `gait_seconds` (lo, hi) sets how long straight
    walks, jogs and runs hold their cruising speed (default actions.STRAIGHT_HOLD_SECONDS); it is
    recorded in their parameters. `jump_heights` "apart" draws jumps in place from
    actions.JUMP_APEX_APART (their apex band is recorded in their parameters).

    Returns (Motion, body, steps) where steps lists dicts with the action name, its parameters,
    the measured extras from the builder (speed, distances, angles) and its frame range.
    """
    from momug.data.synth.actions import ACTIONS, JUMP_APEX_APART
    from momug.data.synth.clip import State

    body = Body.make(scale=float(rng.uniform(0.9, 1.1)), stance=float(rng.uniform(0.85, 1.15)))
    if names is None:
        count = int(rng.choice([1, 2, 3], p=[0.45, 0.35, 0.2]))
        pool = sorted(pool or ACTIONS)
        names = [pool[int(rng.integers(len(pool)))] for _ in range(count)]
    state = State(np.zeros(2), 0.0)
    clips, steps, total = [], [], 0
    for k, name in enumerate(names):
        action = ACTIONS[name]
        for _ in range(8):  # a few tries to fit the length budget
            params = action.sample(rng)
            if gait_seconds is not None and "gait" in params and params.get("path") == "straight":
                params["hold_seconds"] = [float(gait_seconds[0]), float(gait_seconds[1])]
            if jump_heights == "apart" and name == "jump_in_place":  # the one jump captioned by height
                params["apex"] = list(JUMP_APEX_APART[params["height"]])
            clip = action.build(body, state, params, rng)
            if total + clip.frames <= MAX_FRAMES:
                break
        else:
            if k == 0:
                clip.__dict__.update({f: getattr(clip, f)[:MAX_FRAMES] for f in
                                      ("root", "heading", "tilt", "pose", "ankles", "foot_yaw", "toe_up", "planted")})
                params = dict(params, truncated=True)
            else:
                break
        steps.append({"action": name, "params": params, "measured": clip.meta,
                      "start": total, "end": total + clip.frames})
        clips.append(clip)
        total += clip.frames
        state = clip.end_state()
    if total < MIN_FRAMES:  # too short: finish by standing still a moment
        from momug.data.synth.actions import idle
        clip = idle(body, state, {}, rng)
        clip = _take(clip, MIN_FRAMES - total + int(rng.integers(0, 8)))
        clips.append(clip)
        steps[-1]["end"] = total + clip.frames
        total += clip.frames
    joined = join(clips, int(rng.integers(BLEND_FRAMES[0], BLEND_FRAMES[1] + 1)))
    motion = solve(body, joined)
    motion.segments = [(s["start"], s["end"]) for s in steps]
    return motion, body, steps


def _take(clip: Clip, n: int) -> Clip:
    fields = ("root", "heading", "tilt", "pose", "ankles", "foot_yaw", "toe_up", "planted")
    return Clip(*[getattr(clip, f)[:n] for f in fields], scale=clip.scale)
