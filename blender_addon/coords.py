"""The one place where the backend's convention meets Blender's.

Backend (HumanML3D): metres, Y up, the body faces +Z, its left side is +X.
Blender: metres, Z up, a character faces -Y (toward the Front view), its left side is +X.
The change of basis is a +90 degree turn about X: (x, y, z) -> (x, -z, y).
Everything the add-on receives goes through to_blender_*; everything it sends through from_blender_*.
"""

import numpy as np

# Rows map backend axes onto Blender axes: blender = C @ backend.
C = np.array([[1.0, 0.0, 0.0],
              [0.0, 0.0, -1.0],
              [0.0, 1.0, 0.0]])


def to_blender_points(points):
    """(..., 3) Y-up positions or offsets -> Z-up."""
    p = np.asarray(points, dtype=np.float64)
    return np.stack([p[..., 0], -p[..., 2], p[..., 1]], axis=-1)


def from_blender_points(points):
    """(..., 3) Z-up positions -> Y-up."""
    p = np.asarray(points, dtype=np.float64)
    return np.stack([p[..., 0], p[..., 2], -p[..., 1]], axis=-1)


def to_blender_quats(quats):
    """(..., 4) w, x, y, z rotations in the Y-up frame -> the same rotations in the Z-up frame.

    Conjugating by C keeps the angle and maps the axis like a point, so local and global
    rotations both stay valid (C q1 C^-1 C q2 C^-1 = C q1 q2 C^-1).
    """
    q = np.asarray(quats, dtype=np.float64)
    return np.stack([q[..., 0], q[..., 1], -q[..., 3], q[..., 2]], axis=-1)


def from_blender_quats(quats):
    q = np.asarray(quats, dtype=np.float64)
    return np.stack([q[..., 0], q[..., 1], q[..., 3], -q[..., 2]], axis=-1)


def motion_to_blender(motion):
    """A backend motion dict -> a new dict in Blender's frame. Keys that are not geometry pass through."""
    out = dict(motion)
    for key in ("joints", "root_translation", "offsets"):
        if out.get(key) is not None:
            out[key] = to_blender_points(out[key])
    if out.get("rotations") is not None:
        out["rotations"] = to_blender_quats(out["rotations"])
    return out
