"""Physical plausibility of a motion, from joint positions alone (metres, Y up).

foot_skating      mean horizontal speed (m/s) of foot joints while they touch the ground
ground_penetration mean depth (m) below the floor of the lowest joint, over frames
jitter            mean magnitude of joint jerk (m/s^3), the third time derivative
bone_length_error mean over bones of the std of the bone's length over time (m)
largest_step      the largest distance (m) any joint moves from one frame to the next: a pop,
                  where a joint jumps instead of moving
"""

from __future__ import annotations

import numpy as np

# A foot joint lower than CONTACT_HEIGHT touches the floor: the same height the foot cleanup
# calls planted, so the check and the cleanup agree on what touching is.
from momug.motion.cleanup import CONTACT_HEIGHT
from momug.motion.skeleton import smpl22

FOOT_JOINTS = (7, 8, 10, 11)


def foot_skating(joints: np.ndarray, fps: float, floor: float = 0.0) -> float:
    feet = joints[:, FOOT_JOINTS]
    speed = np.linalg.norm(np.diff(feet[..., [0, 2]], axis=0), axis=-1) * fps
    touching = (feet[1:, :, 1] - floor < CONTACT_HEIGHT) & (feet[:-1, :, 1] - floor < CONTACT_HEIGHT)
    return float(speed[touching].mean()) if touching.any() else 0.0


def ground_penetration(joints: np.ndarray, floor: float = 0.0) -> float:
    lowest = joints[..., 1].min(axis=1)
    return float(np.clip(floor - lowest, 0.0, None).mean())


def jitter(joints: np.ndarray, fps: float) -> float:
    if len(joints) < 4:
        return 0.0
    jerk = np.diff(joints, n=3, axis=0) * fps**3
    return float(np.linalg.norm(jerk, axis=-1).mean())


def bone_length_error(joints: np.ndarray) -> float:
    parents = smpl22().parents
    lengths = np.stack(
        [np.linalg.norm(joints[:, j] - joints[:, p], axis=-1) for j, p in enumerate(parents) if p >= 0], axis=1
    )
    return float(lengths.std(axis=0).mean())


def largest_step(joints: np.ndarray) -> float:
    if len(joints) < 2:
        return 0.0
    return float(np.linalg.norm(np.diff(joints, axis=0), axis=-1).max())


def physics_report(joints: np.ndarray, fps: float = 20.0) -> dict[str, float]:
    joints = np.asarray(joints, dtype=np.float64)
    return {
        "foot_skating_m_s": foot_skating(joints, fps),
        "ground_penetration_m": ground_penetration(joints),
        "jitter_m_s3": jitter(joints, fps),
        "bone_length_error_m": bone_length_error(joints),
        "largest_step_m": largest_step(joints),
    }
