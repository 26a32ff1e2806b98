"""A Clip: one action's motion before the legs are solved, plus small shaping helpers.

A clip says where the pelvis goes, which way the body faces, how the spine, head and arms are
posed (local rotations), and where each ankle must be in the world (with the foot's yaw and toe
pitch). The legs are solved by IK only after clips are joined (compose.py), so stance feet stay
exactly where the clip planted them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from momug.motion import quaternion as Q
from momug.data.synth import rig
from momug.data.synth.rig import Body

FPS = 20.0


@dataclass
class State:
    """Where one action hands over to the next: pelvis ground position and facing (radians,
    0 = +Z, positive = turned toward the body's left)."""

    xz: np.ndarray
    heading: float


@dataclass
class Clip:
    root: np.ndarray  # (T, 3) pelvis world position
    heading: np.ndarray  # (T,) facing yaw
    tilt: np.ndarray  # (T, 4) pelvis rotation on top of the heading (lean, sway)
    pose: np.ndarray  # (T, 22, 4) local rotations of spine, head and arms (legs/pelvis unused)
    ankles: np.ndarray  # (T, 2, 3) world ankle targets, [left, right]
    foot_yaw: np.ndarray  # (T, 2)
    toe_up: np.ndarray  # (T, 2) foot pitch, positive lifts the toes
    planted: np.ndarray  # (T, 2) bool: the foot is on the ground and must not move
    meta: dict = field(default_factory=dict)
    scale: float = 1.0  # the body's scale (for end_state's stance offset)

    @property
    def frames(self) -> int:
        return len(self.root)

    def end_state(self) -> State:
        """The next action starts from where the feet stand (every action ends in a neutral stance),
        not from the pelvis, which may still be shifted; compose blends the pelvis across."""
        heading = float(np.mean(self.foot_yaw[-1]))
        center = self.ankles[-1].mean(axis=0) + 0.02 * self.scale * forward_vec(heading)
        return State(center[[0, 2]].copy(), heading)


def forward_vec(heading) -> np.ndarray:
    h = np.asarray(heading, dtype=np.float64)
    return np.stack([np.sin(h), np.zeros_like(h), np.cos(h)], axis=-1)


def left_vec(heading) -> np.ndarray:
    h = np.asarray(heading, dtype=np.float64)
    return np.stack([np.cos(h), np.zeros_like(h), -np.sin(h)], axis=-1)


def smoothstep(u) -> np.ndarray:
    u = np.clip(np.asarray(u, dtype=np.float64), 0.0, 1.0)
    return u * u * (3 - 2 * u)


def envelope(T: int, start: float, rise: float, hold: float, fall: float) -> np.ndarray:
    """0 -> 1 over `rise` frames from `start`, stays 1 for `hold`, back to 0 over `fall`."""
    t = np.arange(T, dtype=np.float64)
    up = smoothstep((t - start) / max(rise, 1e-6))
    down = 1.0 - smoothstep((t - start - rise - hold) / max(fall, 1e-6))
    return up * down


def stance_ankles(body: Body, xz: np.ndarray, heading) -> np.ndarray:
    """World ankle positions (..., 2, 3) of a neutral stance around a pelvis ground point."""
    xz = np.asarray(xz, dtype=np.float64)
    left = left_vec(heading)
    fwd = forward_vec(heading)
    base = np.stack([xz[..., 0], np.full(xz.shape[:-1], body.ankle_height), xz[..., 1]], axis=-1)
    back = -0.02 * body.scale
    out = []
    for s in (1.0, -1.0):
        out.append(base + s * body.stance_half_width * left + back * fwd)
    return np.stack(out, axis=-2)


def relaxed_wrist(body: Body, side: str, T: int) -> np.ndarray:
    """Wrist target (T, 3) of an arm hanging at the side with a slight bend, shoulder-relative."""
    s = rig.SIGN[side]
    return np.broadcast_to(np.array([0.06 * s, -0.96 * body.arm, 0.05 * body.scale]), (T, 3)).copy()


def standing(body: Body, state: State, T: int, rng: np.random.Generator | None = None, sway: float = 1.0) -> Clip:
    """T frames of standing still (with a small natural sway), feet in a neutral stance."""
    t = np.arange(T) / FPS
    heading = np.full(T, state.heading)
    root = np.zeros((T, 3))
    root[:, [0, 2]] = state.xz
    root[:, 1] = body.stand_height
    tilt = Q.identity((T,))
    if rng is not None and sway > 0:
        # Slow weight shifts: a tilt of the pelvis, not a slide, so the feet keep still.
        f1, f2 = rng.uniform(0.15, 0.35, 2)
        p1, p2 = rng.uniform(0, 2 * np.pi, 2)
        roll = sway * 0.025 * np.sin(2 * np.pi * f1 * t + p1)
        pitch = sway * 0.015 * np.sin(2 * np.pi * f2 * t + p2)
        tilt = Q.mul(rig.about([0, 0, 1], roll), rig.about([1, 0, 0], pitch))
    pose = Q.identity((T, 22))
    clip = Clip(
        root=root,
        heading=heading,
        tilt=tilt,
        pose=pose,
        ankles=np.broadcast_to(stance_ankles(body, state.xz, state.heading), (T, 2, 3)).copy(),
        foot_yaw=np.full((T, 2), state.heading),
        toe_up=np.zeros((T, 2)),
        planted=np.ones((T, 2), dtype=bool),
        scale=body.scale,
    )
    for side in rig.SIDES:
        set_arm(clip, body, side, relaxed_wrist(body, side, T))
    return clip


def set_arm(clip: Clip, body: Body, side: str, wrist: np.ndarray, pole: np.ndarray | None = None) -> None:
    """Pose one arm so the wrist reaches `wrist` (T, 3; chest frame, relative to the shoulder)."""
    shoulder, elbow, _ = rig.ARM[side]
    r_upper, hinge = rig.arm_rotations(body, side, wrist, pole)
    clip.pose[:, shoulder] = r_upper
    clip.pose[:, elbow] = hinge


def bend_spine(clip: Clip, axis, angle: np.ndarray, joints=(rig.SPINE1, rig.SPINE2, rig.SPINE3),
               weights=(0.4, 0.35, 0.25)) -> None:
    """Spread a bend (angle (T,) radians about `axis`) over the spine joints, on top of their pose.
    About +X leans forward, about +Z bends to the body's right, about +Y twists to the left."""
    angle = np.broadcast_to(np.asarray(angle, dtype=np.float64), (clip.frames,))
    for j, w in zip(joints, weights):
        clip.pose[:, j] = Q.mul(clip.pose[:, j], rig.about(axis, angle * w))


def turn_head(clip: Clip, axis, angle: np.ndarray) -> None:
    angle = np.broadcast_to(np.asarray(angle, dtype=np.float64), (clip.frames,))
    clip.pose[:, rig.NECK] = Q.mul(clip.pose[:, rig.NECK], rig.about(axis, angle * 0.5))
    clip.pose[:, rig.HEAD] = Q.mul(clip.pose[:, rig.HEAD], rig.about(axis, angle * 0.5))

