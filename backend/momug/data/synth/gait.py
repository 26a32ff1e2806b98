"""Footstep planning: turns a pelvis path and facing into planted footholds and swing arcs.

Every stepping action (walking any way, running, turning on the spot, marching, spinning) goes
through `step`. Each foot alternates stance (fixed in the world) and swing (a smooth arc to its next
foothold). A foothold is the neutral stance position around where the pelvis will be at the middle
of that stance, so the feet follow any path, including curves, circles and sideways travel.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from momug.data.synth.clip import smoothstep, stance_ankles
from momug.data.synth.rig import Body


@dataclass
class Gait:
    period: float  # frames per stride (two steps)
    duty: float  # fraction of the stride each foot is on the ground (>0.5 walk, <0.5 run)
    clearance: float  # swing foot lift, metres
    lead: int = 0  # 0: left foot steps first, 1: right
    offset: float = 0.5  # the second foot's phase lag, as a fraction of the stride (limp: != 0.5)
    second_duty: float | None = None  # the trailing foot's duty when it differs (limp)


@dataclass
class Steps:
    ankles: np.ndarray  # (T, 2, 3)
    foot_yaw: np.ndarray  # (T, 2)
    toe_up: np.ndarray  # (T, 2)
    planted: np.ndarray  # (T, 2) bool
    phase: np.ndarray  # (T,) stride phase, radians; 0 at the lead foot's first mid-stance
    first_contact: float  # frame of the lead foot's first mid-stance


def frames_needed(gait: Gait) -> int:
    """Extra frames after the pelvis stops for the feet to close into a stance."""
    return int(np.ceil(gait.period * 1.25)) + 2


def _interp(track: np.ndarray, t: float) -> np.ndarray:
    t = float(np.clip(t, 0, len(track) - 1))
    i = int(np.floor(t))
    j = min(i + 1, len(track) - 1)
    return track[i] * (1 - (t - i)) + track[j] * (t - i)


def steady_phase(T: int, gait: Gait, start: float) -> np.ndarray:
    """Stride phase (T,) for stepping at the gait's fixed period from frame `start`."""
    return (np.arange(T, dtype=np.float64) - start) / gait.period


def step(body: Body, root_xz: np.ndarray, facing: np.ndarray, gait: Gait, phase: np.ndarray, stop: float) -> Steps:
    """Footholds and swings for T = len(root_xz) frames.

    phase (T,): stride count, strictly increasing (its rate is the cadence, which may follow the
    speed); the lead foot lifts off when it reaches 0. Stepping continues until both feet have
    closed into a stance around the pelvis after frame `stop`.
    """
    T = len(root_xz)
    facing = np.asarray(facing, dtype=np.float64)
    ankles = np.zeros((T, 2, 3))
    yaw = np.zeros((T, 2))
    toe = np.zeros((T, 2))
    planted = np.ones((T, 2), dtype=bool)
    t = np.arange(T, dtype=np.float64)
    frame_at = lambda p: float(np.interp(p, phase, t, left=-np.inf, right=np.inf))  # noqa: E731
    initial = stance_ankles(body, root_xz[0], facing[0])
    for k, foot in enumerate((gait.lead, 1 - gait.lead)):
        duty = gait.duty if k == 0 or gait.second_duty is None else gait.second_duty
        mid = 1.0 - gait.duty / 2.0 + (gait.offset if k == 1 else 0.0)  # phase of the first mid-stance
        prev_pos, prev_yaw, prev_time = initial[foot], facing[0], -np.inf
        ankles[:, foot] = prev_pos
        yaw[:, foot] = prev_yaw
        while True:
            lift, land, c = frame_at(mid - 1 + duty / 2), frame_at(mid - duty / 2), frame_at(mid)
            # Stop once this foot has closed into the final stance (planted after the pelvis stopped).
            if prev_time >= stop or lift > T - 1:
                break
            c = min(c, T - 1.0)
            land = min(land, T - 1.0)
            pos = stance_ankles(body, _interp(root_xz, c), _interp(facing, c))[foot]
            new_yaw = float(_interp(facing, c))
            swing = (t > lift) & (t < land)
            u = (t[swing] - lift) / max(land - lift, 1e-6)
            w = smoothstep(u)[:, None]
            ankles[swing, foot] = prev_pos * (1 - w) + pos * w
            ankles[swing, foot, 1] += gait.clearance * np.sin(np.pi * u)
            yaw[swing, foot] = prev_yaw * (1 - w[:, 0]) + new_yaw * w[:, 0]
            toe[swing, foot] = 0.25 * np.sin(np.pi * u) ** 2
            planted[swing, foot] = False
            after = t >= land
            ankles[after, foot] = pos
            yaw[after, foot] = new_yaw
            prev_pos, prev_yaw, prev_time = pos, new_yaw, c
            mid += 1.0
    first = frame_at(1.0 - gait.duty / 2.0)
    stride_angle = 2 * np.pi * (phase - (1.0 - gait.duty / 2.0))
    return Steps(ankles, yaw, toe, planted, stride_angle, first)
