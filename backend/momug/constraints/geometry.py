"""The geometry the constraints work in: the HumanML3D features' root track (yaw half-angles and
ground position) and root-relative joints, the smooth fades that spread a correction over frames,
and re-hanging limbs from their parents. Metres, Y up, SMPL-22."""

from __future__ import annotations

import math

import numpy as np

from momug.motion import quaternion as Q

NUM_JOINTS = 22
PARENTS = (-1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 12, 13, 14, 16, 17, 18, 19)
HIPS_SHOULDERS = (1, 2, 16, 17)  # left hip, right hip, left shoulder, right shoulder
RIC = slice(4, 4 + (NUM_JOINTS - 1) * 3)  # root-relative positions in the 263-dim features
VELOCITIES = slice(4 + (NUM_JOINTS - 1) * 9, 4 + (NUM_JOINTS - 1) * 9 + NUM_JOINTS * 3)


# Root yaw as the half-angle the features use: world->root rotation (cos h, 0, sin h, 0).

def yaw_quat(half: np.ndarray) -> np.ndarray:
    half = np.asarray(half, dtype=np.float64)
    q = np.zeros(half.shape + (4,))
    q[..., 0], q[..., 2] = np.cos(half), np.sin(half)
    return q


def wrap_half(d: np.ndarray) -> np.ndarray:
    """A half-angle difference into [-pi/2, pi/2) (q and -q are the same rotation)."""
    return (np.asarray(d) + math.pi / 2) % math.pi - math.pi / 2


def facing_half(joints: np.ndarray) -> np.ndarray:
    """(..., 22, 3) -> the half-angle whose yaw turns each pose's facing (from hips and shoulders,
    as the features define it) onto +Z."""
    lh, rh, ls, rs = HIPS_SHOULDERS
    across = (joints[..., rh, :] - joints[..., lh, :]) + (joints[..., rs, :] - joints[..., ls, :])
    forward_x, forward_z = across[..., 2], -across[..., 0]  # up x across, on the ground
    return -0.5 * np.arctan2(forward_x, forward_z)


def to_local(joints: np.ndarray, half: np.ndarray) -> np.ndarray:
    """World joints (T, 22, 3) -> joints 1..21 relative to the root on the ground, facing +Z
    (heights kept): the features' root-relative positions."""
    rel = joints[:, 1:] - joints[:, :1] * np.array([1.0, 0.0, 1.0])
    return Q.rotate(np.repeat(yaw_quat(half)[:, None], NUM_JOINTS - 1, axis=1), rel)


def compose(half: np.ndarray, root: np.ndarray, ric: np.ndarray) -> np.ndarray:
    """The inverse of to_local: (yaw half-angles, root (T, 3), local (T, 21, 3)) -> world joints."""
    world = Q.rotate(np.repeat(Q.conjugate(yaw_quat(half))[:, None], NUM_JOINTS - 1, axis=1), ric)
    world[..., 0] += root[:, None, 0]
    world[..., 2] += root[:, None, 2]
    return np.concatenate([root[:, None], world], axis=1)


def decode(features: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Denormalised features (T, 263) -> (yaw half-angles, root (T, 3), local (T, 21, 3)) in the
    features' own frame (frame 0 at the origin facing +Z), as features_to_joints decodes them."""
    f = np.asarray(features, dtype=np.float64)
    half = np.concatenate([[0.0], np.cumsum(f[:-1, 0])])
    step = np.zeros((len(f), 3))
    step[1:, [0, 2]] = f[:-1, 1:3]
    root = np.cumsum(Q.rotate(Q.conjugate(yaw_quat(half)), step), axis=0)
    root[:, 1] = f[:, 3]
    return half, root, f[:, RIC].reshape(len(f), NUM_JOINTS - 1, 3).copy()


def encode(features: np.ndarray, half: np.ndarray, root: np.ndarray, ric: np.ndarray) -> np.ndarray:
    """Features whose decoding gives this root track and local pose exactly (frame 0 must be at
    the origin with half-angle 0); rotations and contacts stay as they were, joint velocities
    follow the new positions."""
    f = np.array(features, dtype=np.float64)
    q = yaw_quat(half)
    f[:-1, 0] = wrap_half(np.diff(half))
    f[:-1, 1:3] = Q.rotate(q[1:], root[1:] - root[:-1])[:, [0, 2]]
    f[:, 3] = root[:, 1]
    f[:, RIC] = ric.reshape(len(f), -1)
    joints = compose(half, root, ric)
    vel = Q.rotate(np.repeat(q[:-1, None], NUM_JOINTS, axis=1), joints[1:] - joints[:-1])
    f[:-1, VELOCITIES] = vel.reshape(len(f) - 1, -1)
    return f


def yaw_about(theta: float) -> np.ndarray:
    """Quaternion of a world rotation by theta about +Y."""
    return yaw_quat(np.asarray(theta / 2.0))


def smooth_weight(u: np.ndarray) -> np.ndarray:
    """1 at u = 0 falling smoothly to 0 at |u| >= 1, with zero slope at both ends; w(u) + w(1-u) = 1."""
    u = np.clip(np.abs(u), 0.0, 1.0)
    return 0.5 * (1.0 + np.cos(math.pi * u))


def key_weights(frames: np.ndarray, total: int, reach) -> np.ndarray:
    """(K, total) weights: key k's correction reaches reach[k] frames (never past its neighbours,
    so each key frame gets exactly its own correction and neighbours interpolate between)."""
    t = np.arange(total)
    w = np.zeros((len(frames), total))
    for k, f in enumerate(frames):
        left = f - frames[k - 1] if k > 0 else np.inf
        right = frames[k + 1] - f if k + 1 < len(frames) else np.inf
        r = reach[k] if np.ndim(reach) else reach
        r_left, r_right = min(r, left), min(r, right)
        d = t - f
        w[k] = np.where(d < 0, smooth_weight(d / r_left), smooth_weight(d / r_right))
    return w


def reattach(new: np.ndarray, made: np.ndarray, source: np.ndarray, keep, local: bool = False) -> np.ndarray:
    """Regenerated joints hung from their (kept or re-attached) parents: each bone keeps the
    direction the model gave it and the source's length. Arrays are (T, 22, 3) world joints, or
    with local=True (T, 21, 3) root-relative ones (the root, index 0, is then at the origin)."""
    def get(a, j):
        if local:
            return np.zeros(a.shape[:1] + (3,)) if j == 0 else a[:, j - 1]
        return a[:, j]

    out = new.copy()
    kept = set(keep) | {0}  # the root always comes from the source
    for j in range(1, NUM_JOINTS):
        if j in kept:
            continue
        p = PARENTS[j]
        direction = get(made, j) - get(made, p)
        length = np.linalg.norm(get(source, j) - get(source, p), axis=-1, keepdims=True)
        unit = direction / np.maximum(np.linalg.norm(direction, axis=-1, keepdims=True), 1e-9)
        value = get(out, p) + length * unit
        if local:
            out[:, j - 1] = value
        else:
            out[:, j] = value
    return out
