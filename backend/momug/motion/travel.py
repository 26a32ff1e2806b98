"""How far and how fast the body travels over the ground.

Joints are (T, J, 3) world positions, Y up, joint 0 the root (the pelvis on the SMPL-22 skeleton),
so travel is the root's path on the XZ plane: height changes (a jump, a squat) do not count.
"""

from __future__ import annotations

import numpy as np


def root_ground_speed(joints: np.ndarray, fps: float) -> np.ndarray:
    """Per-frame speed (m/s) of the root over the ground: T - 1 values, one per frame step."""
    ground = np.asarray(joints, dtype=np.float64)[:, 0, [0, 2]]
    return np.linalg.norm(np.diff(ground, axis=0), axis=-1) * fps


def root_path_length(joints: np.ndarray) -> float:
    """Metres the root covers over the ground, summed frame by frame (a circle counts in full)."""
    return float(root_ground_speed(joints, 1.0).sum())
