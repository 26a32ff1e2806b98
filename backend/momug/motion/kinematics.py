"""Forward and inverse kinematics on a Skeleton.

Convention (the BVH one): a joint's local rotation turns the offsets of its children, so
  global_rot[j] = global_rot[parent] * local_rot[j]
  pos[j]        = pos[parent] + global_rot[parent] (offset[j])
and the root's position is root_translation.
"""

from __future__ import annotations

import numpy as np

from momug.motion import quaternion as Q
from momug.motion.skeleton import Skeleton

# Which way a limb's lower segment swings when the middle joint bends, in the rest frame of the
# limb's upper joint. Used by IK to pick each limb's twist so elbows and knees never flip.
# A rest pose whose limbs are slightly bent must bend within this plane (rigs/smpl22.json does).
_BEND_HINTS = {
    "left_hip": (0.0, 0.0, -1.0),  # shins swing backwards
    "right_hip": (0.0, 0.0, -1.0),
    "left_shoulder": (0.0, 0.0, 1.0),  # forearms swing forwards
    "right_shoulder": (0.0, 0.0, 1.0),
}


def forward(skeleton: Skeleton, rotations: np.ndarray, root_translation: np.ndarray) -> np.ndarray:
    """Local rotations (T, J, 4) and root positions (T, 3) -> world joint positions (T, J, 3)."""
    rotations = np.asarray(rotations, dtype=np.float64)
    root_translation = np.asarray(root_translation, dtype=np.float64)
    T, J = rotations.shape[:2]
    if J != skeleton.num_joints:
        raise ValueError(f"rotations have {J} joints, skeleton has {skeleton.num_joints}")
    pos = np.zeros((T, J, 3))
    glob = np.zeros((T, J, 4))
    for j, p in enumerate(skeleton.parents):
        if p < 0:
            glob[:, j] = rotations[:, j]
            pos[:, j] = root_translation
        else:
            glob[:, j] = Q.mul(glob[:, p], rotations[:, j])
            pos[:, j] = pos[:, p] + Q.rotate(glob[:, p], np.broadcast_to(skeleton.offsets[j], (T, 3)))
    return pos


def global_rotations(skeleton: Skeleton, rotations: np.ndarray) -> np.ndarray:
    glob = np.zeros_like(rotations, dtype=np.float64)
    for j, p in enumerate(skeleton.parents):
        glob[:, j] = rotations[:, j] if p < 0 else Q.mul(glob[:, p], rotations[:, j])
    return glob


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), 1e-9)


def _weighted_kabsch(src: np.ndarray, dst: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Rotation R (T,4) minimising sum_i w_i |R src_i - dst_i|^2; src/dst (T,N,3), w (T,N)."""
    H = np.einsum("tn,tni,tnj->tij", w, src, dst)
    U, _, Vt = np.linalg.svd(H)
    d = np.sign(np.linalg.det(np.einsum("tji,tkj->tik", Vt, U)))
    D = np.zeros_like(H)
    D[:, 0, 0] = 1.0
    D[:, 1, 1] = 1.0
    D[:, 2, 2] = d
    R = np.einsum("tji,tjk,tlk->til", Vt, D, U)
    return Q.from_matrix(R)


def _any_perpendicular(v: np.ndarray) -> np.ndarray:
    a = np.cross(v, [1.0, 0.0, 0.0])
    if np.linalg.norm(a) < 1e-6:
        a = np.cross(v, [0.0, 1.0, 0.0])
    return _unit(a)


def inverse(skeleton: Skeleton, joints: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """World joint positions (T, J, 3) -> (local rotations (T, J, 4), root translation (T, 3)).

    Each joint's rotation points its bone(s) at the observed children. Joints with several
    children (pelvis, upper spine) are fitted to all of them at once. Single-child joints take
    the smallest rotation from their parent's frame, except shoulders and hips, whose twist
    follows the plane of the elbow or knee bend (fading to the smallest rotation as the limb
    straightens, where that plane is undefined). Leaves keep the identity.
    """
    joints = np.asarray(joints, dtype=np.float64)
    T, J = joints.shape[:2]
    if J != skeleton.num_joints:
        raise ValueError(f"joints have {J} joints, skeleton has {skeleton.num_joints}")
    glob = np.zeros((T, J, 4))
    glob[..., 0] = 1.0
    local = glob.copy()
    names = skeleton.names
    for j, p in enumerate(skeleton.parents):
        parent_glob = glob[:, p] if p >= 0 else Q.identity((T,))
        kids = skeleton.children(j)
        if not kids:
            glob[:, j] = parent_glob
            continue
        if len(kids) > 1:
            src = np.broadcast_to(skeleton.offsets[kids], (T, len(kids), 3))
            dst = joints[:, kids] - joints[:, j : j + 1]
            glob[:, j] = _weighted_kabsch(src, dst, np.ones((T, len(kids))))
        else:
            c = kids[0]
            rest_dir = _unit(skeleton.offsets[c])
            target = joints[:, c] - joints[:, j]
            swing = Q.mul(Q.between(Q.rotate(parent_glob, np.broadcast_to(rest_dir, (T, 3))), target), parent_glob)
            grandkids = skeleton.children(c)
            hint = _BEND_HINTS.get(names[j])
            if hint is not None and len(grandkids) == 1:
                g = grandkids[0]
                lower = joints[:, g] - joints[:, c]
                normal = np.cross(_unit(target), _unit(lower))
                bend = np.linalg.norm(normal, axis=-1)  # sin of the bend angle
                rest_normal = _unit(np.cross(rest_dir, np.asarray(hint)))
                perp = _any_perpendicular(rest_dir)
                src = np.broadcast_to(np.stack([rest_dir, rest_normal, perp]), (T, 3, 3))
                dst = np.stack([_unit(target), _unit(normal), Q.rotate(swing, np.broadcast_to(perp, (T, 3)))], axis=1)
                w = np.stack([np.full(T, 10.0), np.clip(bend / 0.25, 0.0, 1.0) ** 2, np.full(T, 1e-3)], axis=1)
                fitted = _weighted_kabsch(src, dst, w)
                # Make the bone direction exact; the fit only chooses the twist.
                glob[:, j] = Q.mul(Q.between(Q.rotate(fitted, np.broadcast_to(rest_dir, (T, 3))), target), fitted)
            else:
                glob[:, j] = swing
        local[:, j] = Q.mul(Q.conjugate(parent_glob), glob[:, j])
    local = Q.make_continuous(Q.normalize(local))
    return local, joints[:, skeleton.parents.index(-1)].copy()


def fit_bone_lengths(skeleton: Skeleton, joints: np.ndarray) -> Skeleton:
    """The skeleton with each bone's rest length set to its median length in the motion."""
    joints = np.asarray(joints, dtype=np.float64)
    offsets = skeleton.offsets.copy()
    for j, p in enumerate(skeleton.parents):
        if p < 0:
            continue
        length = np.median(np.linalg.norm(joints[:, j] - joints[:, p], axis=-1))
        offsets[j] = _unit(offsets[j]) * length
    return skeleton.with_offsets(offsets)
