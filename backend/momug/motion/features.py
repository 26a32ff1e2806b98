"""HumanML3D frame features, both ways, for SMPL-22 (263 dims) and KIT-ML (21 joints, 251 dims).

Per frame, in this order (J joints):
  root yaw velocity (1)          stored as HumanML3D does: the half angle, arcsin of the y of
                                 the frame-to-frame yaw quaternion
  root linear velocity XZ (2)    in the root's facing frame
  root height (1)
  root-relative positions ((J-1)*3), rotated to face +Z (heights absolute)
  continuous 6D local rotations ((J-1)*6)
  local joint velocities (J*3), in the root's facing frame
  foot contacts (4)              left ankle, left toe, right ankle, right toe
The feature sequence is one frame shorter than the joints. Decoding uses the root track and the
root-relative positions only, as every HumanML3D consumer does, so decoding real HumanML3D or
KIT-ML feature files gives their joints.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from scipy.ndimage import gaussian_filter1d

from momug.motion import kinematics
from momug.motion import quaternion as Q
from momug.motion.skeleton import Skeleton, skeleton_from_json, smpl22
from momug.rigs import load_rig_json

_UP = np.array([0.0, 1.0, 0.0])
_FORWARD = np.array([0.0, 0.0, 1.0])
# HumanML3D's contact rule: squared per-frame displacement of a foot joint below this.
CONTACT_STEP_SQUARED = 0.002
# HumanML3D smooths the facing direction over time before taking root rotations.
_FACING_SMOOTH_SIGMA = 20


@dataclass(frozen=True)
class FeatureSpec:
    skeleton: Skeleton

    @property
    def num_joints(self) -> int:
        return self.skeleton.num_joints

    @property
    def dim(self) -> int:
        return feature_dim(self.num_joints)

    def slices(self) -> dict[str, slice]:
        J = self.num_joints
        bounds = {"root_yaw_velocity": 1, "root_velocity_xz": 2, "root_height": 1,
                  "positions": (J - 1) * 3, "rotations": (J - 1) * 6, "velocities": J * 3, "contacts": 4}
        out, start = {}, 0
        for name, size in bounds.items():
            out[name] = slice(start, start + size)
            start += size
        return out


def feature_dim(num_joints: int) -> int:
    return 4 + (num_joints - 1) * 9 + num_joints * 3 + 4


@lru_cache(maxsize=None)
def humanml3d_spec() -> FeatureSpec:
    return FeatureSpec(smpl22())


@lru_cache(maxsize=None)
def kit_spec() -> FeatureSpec:
    return FeatureSpec(skeleton_from_json(load_rig_json("kit21.json")))


def spec_for_dim(dim: int) -> FeatureSpec:
    for spec in (humanml3d_spec(), kit_spec()):
        if spec.dim == dim:
            return spec
    raise ValueError(f"no known feature layout has {dim} dims (HumanML3D: 263, KIT-ML: 251)")


def _facing(spec: FeatureSpec, joints: np.ndarray) -> np.ndarray:
    """Unit forward direction on the ground, (T, 3), from the hips and shoulders."""
    f = spec.skeleton.face_joints
    across = (joints[:, f["right_hip"]] - joints[:, f["left_hip"]]) + (
        joints[:, f["right_shoulder"]] - joints[:, f["left_shoulder"]]
    )
    forward = np.cross(_UP, across)
    forward[:, 1] = 0.0
    return forward / np.maximum(np.linalg.norm(forward, axis=-1, keepdims=True), 1e-9)


def _smoothed_facing(spec: FeatureSpec, joints: np.ndarray) -> np.ndarray:
    forward = gaussian_filter1d(_facing(spec, joints), _FACING_SMOOTH_SIGMA, axis=0, mode="nearest")
    return forward / np.maximum(np.linalg.norm(forward, axis=-1, keepdims=True), 1e-9)


def canonicalize(joints: np.ndarray, spec: FeatureSpec | None = None) -> np.ndarray:
    """Floor at height 0, first root on the origin, first (smoothed) facing along +Z.

    This is the pose joints_to_features encodes and features_to_joints returns.
    """
    spec = spec or humanml3d_spec()
    joints = np.array(joints, dtype=np.float64)
    joints[..., 1] -= joints[..., 1].min()
    joints -= joints[0, 0] * np.array([1.0, 0.0, 1.0])
    # HumanML3D turns by the raw facing of frame 0; turning by the smoothed facing instead makes
    # the first root rotation exactly the identity, which decoding assumes, so the round trip is exact.
    turn = Q.between(_smoothed_facing(spec, joints)[0], _FORWARD)
    return Q.rotate(np.broadcast_to(turn, joints.shape[:-1] + (4,)), joints)


def _foot_contacts(spec: FeatureSpec, joints: np.ndarray) -> np.ndarray:
    feet = spec.skeleton.feet
    idx = list(feet["left"]) + list(feet["right"])
    step = np.sum((joints[1:, idx] - joints[:-1, idx]) ** 2, axis=-1)
    return (step < CONTACT_STEP_SQUARED).astype(np.float64)


def joints_to_features(joints: np.ndarray, spec: FeatureSpec | None = None) -> np.ndarray:
    """World joint positions (T, J, 3) in metres, Y up -> features (T-1, D) float32."""
    spec = spec or humanml3d_spec()
    joints = np.asarray(joints, dtype=np.float64)
    if joints.ndim != 3 or joints.shape[1:] != (spec.num_joints, 3):
        raise ValueError(f"expected joints shaped (T, {spec.num_joints}, 3), got {joints.shape}")
    if joints.shape[0] < 2:
        raise ValueError("need at least two frames to compute features")
    if not np.all(np.isfinite(joints)):
        raise ValueError("joints contain NaN or infinite values")
    T, J = joints.shape[:2]
    pos = canonicalize(joints, spec)
    contacts = _foot_contacts(spec, pos)

    # Root rotation: the yaw that turns the smoothed facing onto +Z (world -> root frame).
    r_rot = Q.between(_smoothed_facing(spec, pos), np.broadcast_to(_FORWARD, (T, 3)))
    rel = Q.mul(r_rot[1:], Q.conjugate(r_rot[:-1]))
    rel = np.where(rel[:, :1] < 0, -rel, rel)  # shortest way round, so the wrap at 180 deg is safe
    yaw_velocity = np.arcsin(np.clip(rel[:, 2:3], -1.0, 1.0))
    root_velocity = Q.rotate(r_rot[1:], pos[1:, 0] - pos[:-1, 0])[:, [0, 2]]
    root_height = pos[:-1, 0, 1:2]

    local = pos - pos[:, :1] * np.array([1.0, 0.0, 1.0])
    local = Q.rotate(np.repeat(r_rot[:, None], J, axis=1), local)
    ric = local[:-1, 1:].reshape(T - 1, -1)

    rotations, _ = kinematics.inverse(spec.skeleton, pos)
    rot6d = Q.to_cont6d(rotations[:-1, 1:]).reshape(T - 1, -1)

    velocities = Q.rotate(np.repeat(r_rot[:-1, None], J, axis=1), pos[1:] - pos[:-1]).reshape(T - 1, -1)

    feats = np.concatenate([yaw_velocity, root_velocity, root_height, ric, rot6d, velocities, contacts], axis=-1)
    return feats.astype(np.float32)


def root_track(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Features (T, D) -> (root yaw quaternions world->root (T, 4), root positions (T, 3))."""
    f = np.asarray(features, dtype=np.float64)
    half_angle = np.concatenate([[0.0], np.cumsum(f[:-1, 0])])
    r_rot = np.zeros((len(f), 4))
    r_rot[:, 0] = np.cos(half_angle)
    r_rot[:, 2] = np.sin(half_angle)
    step = np.zeros((len(f), 3))
    step[1:, [0, 2]] = f[:-1, 1:3]
    root = np.cumsum(Q.rotate(Q.conjugate(r_rot), step), axis=0)
    root[:, 1] = f[:, 3]
    return r_rot, root


def features_to_joints(features: np.ndarray, spec: FeatureSpec | None = None) -> np.ndarray:
    """Features (T, D) -> joint positions (T, J, 3), canonical placement (see canonicalize)."""
    features = np.asarray(features, dtype=np.float64)
    if features.ndim != 2:
        raise ValueError(f"expected features shaped (T, D), got {features.shape}")
    spec = spec or spec_for_dim(features.shape[1])
    if features.shape[1] != spec.dim:
        raise ValueError(f"expected {spec.dim} feature dims, got {features.shape[1]}")
    J = spec.num_joints
    r_rot, root = root_track(features)
    local = features[:, spec.slices()["positions"]].reshape(len(features), J - 1, 3)
    world = Q.rotate(np.repeat(Q.conjugate(r_rot)[:, None], J - 1, axis=1), local)
    world[..., 0] += root[:, None, 0]
    world[..., 2] += root[:, None, 2]
    return np.concatenate([root[:, None], world], axis=1)


def mean_std(feature_arrays, spec: FeatureSpec | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Normalisation statistics the HumanML3D way: per-dimension mean; per-dimension std with
    each feature group's std replaced by the group's mean std (so a group keeps its relative scale)."""
    arrays = [np.asarray(a, dtype=np.float64) for a in feature_arrays]
    if not arrays:
        raise ValueError("no feature arrays to compute statistics from")
    data = np.concatenate(arrays, axis=0)
    spec = spec or spec_for_dim(data.shape[1])
    mean = data.mean(axis=0)
    std = data.std(axis=0)
    for group in spec.slices().values():
        std[group] = std[group].mean()
    std = np.where(std < 1e-6, 1.0, std)  # a constant group (e.g. no contacts ever) stays as is
    return mean.astype(np.float32), std.astype(np.float32)
