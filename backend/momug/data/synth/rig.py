"""The body a synthetic motion is performed by, and the analytic two-bone IK that poses its limbs.

All rotations are quaternions (w, x, y, z) in the kinematics convention of momug.motion.kinematics.
The SMPL-22 rest pose is a T-pose facing +Z with the body's left on +X, so the rest frame of every
joint is the world frame: a joint's global rotation is simply "how far it turned from the rest pose".
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from momug.motion import quaternion as Q
from momug.motion.skeleton import Skeleton, smpl22

PELVIS, L_HIP, R_HIP, SPINE1, L_KNEE, R_KNEE, SPINE2, L_ANKLE, R_ANKLE, SPINE3 = range(10)
L_FOOT, R_FOOT, NECK, L_COLLAR, R_COLLAR, HEAD = range(10, 16)
L_SHOULDER, R_SHOULDER, L_ELBOW, R_ELBOW, L_WRIST, R_WRIST = range(16, 22)

SIDES = ("left", "right")
LEG = {"left": (L_HIP, L_KNEE, L_ANKLE), "right": (R_HIP, R_KNEE, R_ANKLE)}
ARM = {"left": (L_SHOULDER, L_ELBOW, L_WRIST), "right": (R_SHOULDER, R_ELBOW, R_WRIST)}
SIGN = {"left": 1.0, "right": -1.0}  # the body's left is +X

UP = np.array([0.0, 1.0, 0.0])
X_AXIS = np.array([1.0, 0.0, 0.0])


def unit(v: np.ndarray) -> np.ndarray:
    return v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), 1e-9)


def about(axis, angle) -> np.ndarray:
    """Quaternions (T, 4) for rotations by angle (scalar or (T,)) about a fixed axis."""
    angle = np.atleast_1d(np.asarray(angle, dtype=np.float64))
    return Q.from_axis_angle(np.broadcast_to(np.asarray(axis, dtype=np.float64), angle.shape + (3,)), angle)


@dataclass(frozen=True)
class Body:
    """A per-motion skeleton (scaled standard adult) and the measures the actions need."""

    skeleton: Skeleton
    scale: float
    stance_half_width: float  # lateral distance of each ankle from the pelvis when standing

    @classmethod
    def make(cls, scale: float = 1.0, stance: float = 1.0) -> "Body":
        sk = smpl22().scaled(scale)
        half = abs(sk.offsets[L_HIP, 0]) * 1.25 * stance
        return cls(sk, float(scale), float(half))

    @property
    def thigh(self) -> float:
        return float(np.linalg.norm(self.skeleton.offsets[L_KNEE]))

    @property
    def shin(self) -> float:
        return float(np.linalg.norm(self.skeleton.offsets[L_ANKLE]))

    @property
    def leg(self) -> float:
        return self.thigh + self.shin

    @property
    def ankle_height(self) -> float:
        """Ankle height above the floor with the foot flat (the toe joint then touches at ~3 cm)."""
        return float(self.skeleton.rest_joints()[L_ANKLE, 1])

    @property
    def stand_height(self) -> float:
        """Pelvis height when standing with the knees very slightly bent."""
        rest = self.skeleton.rest_joints()
        return float(rest[PELVIS, 1] - 0.012 * self.scale)

    @property
    def upper_arm(self) -> float:
        return float(np.linalg.norm(self.skeleton.offsets[L_ELBOW]))

    @property
    def forearm(self) -> float:
        return float(np.linalg.norm(self.skeleton.offsets[L_WRIST]))

    @property
    def arm(self) -> float:
        return self.upper_arm + self.forearm

    def hip_offset(self, side: str) -> np.ndarray:
        return self.skeleton.offsets[LEG[side][0]]

    def shoulder_in_chest(self, side: str) -> np.ndarray:
        """The shoulder joint relative to spine3, in the chest frame."""
        o = self.skeleton.offsets
        collar = L_COLLAR if side == "left" else R_COLLAR
        return o[collar] + o[ARM[side][0]]

    def head_in_chest(self) -> np.ndarray:
        o = self.skeleton.offsets
        return o[NECK] + o[HEAD]

    def chest_in_pelvis(self) -> np.ndarray:
        o = self.skeleton.offsets
        return o[SPINE1] + o[SPINE2] + o[SPINE3]


def _frame(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Orthonormal frames (T, 3, 3) with columns a, b (made perpendicular to a), a x b."""
    a = unit(a)
    b = unit(b - np.sum(b * a, axis=-1, keepdims=True) * a)
    return np.stack([a, b, np.cross(a, b)], axis=-1)


def two_bone(root: np.ndarray, target: np.ndarray, pole: np.ndarray, upper: float, lower: float,
             rest_upper: np.ndarray, rest_pole: np.ndarray, rest_lower: np.ndarray):
    """Analytic two-bone IK, vectorised over T.

    root, target, pole: (T, 3) in one frame (pole: where the middle joint should be pushed).
    rest_upper/rest_lower: the bones' rest directions; rest_pole: the middle joint's rest push
    direction. Returns the upper bone's rotation (T, 4) (from the rest pose, in that frame) and the
    middle joint's local hinge rotation (T, 4). The middle joint always lies on the pole side of
    the root-target line, so knees and elbows only ever bend their natural way.
    """
    T = len(root)
    d_vec = target - root
    d = np.linalg.norm(d_vec, axis=-1)
    reach = (upper + lower) * 0.9995
    d = np.clip(d, abs(upper - lower) + 1e-4, reach)
    u = unit(d_vec)
    along = (upper**2 - lower**2 + d**2) / (2 * d)
    height = np.sqrt(np.maximum(upper**2 - along**2, 0.0))
    v = unit(pole - np.sum(pole * u, axis=-1, keepdims=True) * u)
    middle = root + along[:, None] * u + height[:, None] * v
    end = root + d[:, None] * u
    upper_dir = unit(middle - root)
    rest = _frame(np.broadcast_to(unit(rest_upper), (T, 3)), np.broadcast_to(rest_pole, (T, 3)))
    # The bend plane's "pushed" side, seen from the upper bone: opposite to where the end lies.
    # Taken from the solved geometry (the pole alone can be ambiguous once projected), falling
    # back to the pole only as the limb straightens and the geometry stops telling.
    away = -(u - np.sum(u * upper_dir, axis=-1, keepdims=True) * upper_dir)
    size = np.linalg.norm(away, axis=-1, keepdims=True)
    trust = np.clip(size / 0.02, 0.0, 1.0)
    pole_perp = unit(v - np.sum(v * upper_dir, axis=-1, keepdims=True) * upper_dir)
    now = _frame(upper_dir, trust * unit(away) + (1 - trust) * pole_perp)
    r_upper = Q.from_matrix(now @ np.swapaxes(rest, -1, -2))
    lower_local = Q.rotate(Q.conjugate(r_upper), unit(end - middle))
    hinge = Q.between(np.broadcast_to(unit(rest_lower), (T, 3)), lower_local)
    return r_upper, hinge


def arm_rotations(body: Body, side: str, wrist: np.ndarray, pole: np.ndarray | None = None):
    """Local shoulder and elbow rotations (T, 4) putting the wrist at `wrist` (T, 3), given in the
    chest frame relative to the shoulder joint. The collars stay at rest, so the chest frame is
    the shoulder's parent frame. Default pole: elbow pushed back, a little down and out."""
    s = SIGN[side]
    wrist = np.atleast_2d(wrist)
    T = len(wrist)
    if pole is None:
        pole = np.broadcast_to([0.3 * s, -0.5, -1.0], (T, 3))
    rest_dir = np.array([s, 0.0, 0.0])
    r_upper, hinge = two_bone(np.zeros((T, 3)), wrist, np.asarray(pole, dtype=np.float64), body.upper_arm,
                              body.forearm, rest_dir, np.array([0.0, 0.0, -1.0]), rest_dir)
    return r_upper, hinge


def leg_rotations(body: Body, pelvis_pos: np.ndarray, pelvis_rot: np.ndarray, side: str,
                  ankle: np.ndarray, foot_rot: np.ndarray, knee_dir: np.ndarray):
    """Local hip, knee and ankle rotations (T, 4) that put the ankle at `ankle` (T, 3, world) with
    the foot's global rotation `foot_rot` (T, 4). knee_dir (T, 3): where the knee points."""
    hip_joint, knee_joint, ankle_joint = LEG[side]
    offsets = body.skeleton.offsets
    T = len(ankle)
    hip = pelvis_pos + Q.rotate(pelvis_rot, np.broadcast_to(offsets[hip_joint], (T, 3)))
    r_hip, hinge = two_bone(hip, ankle, knee_dir, body.thigh, body.shin, offsets[knee_joint],
                            np.array([0.0, 0.0, 1.0]), offsets[ankle_joint])
    hip_local = Q.mul(Q.conjugate(pelvis_rot), r_hip)
    knee_global = Q.mul(r_hip, hinge)
    ankle_local = Q.mul(Q.conjugate(knee_global), foot_rot)
    return hip_local, hinge, ankle_local


def max_pelvis_height(body: Body, pelvis_pos: np.ndarray, pelvis_rot: np.ndarray, side: str,
                      ankle: np.ndarray, slack: float = 0.985) -> np.ndarray:
    """Highest pelvis height (T,) at which the leg still reaches the ankle target."""
    T = len(ankle)
    hip_rel = Q.rotate(pelvis_rot, np.broadcast_to(body.hip_offset(side), (T, 3)))
    hip_xz = pelvis_pos[:, [0, 2]] + hip_rel[:, [0, 2]]
    horiz2 = np.sum((ankle[:, [0, 2]] - hip_xz) ** 2, axis=-1)
    reach = body.leg * slack
    vertical = np.sqrt(np.maximum(reach**2 - horiz2, 0.0))
    return ankle[:, 1] + vertical - hip_rel[:, 1]
