"""Conversion between motion files, chosen by extension:

  .npz  the motion file contract (momug.motion.motionfile)
  .bvh  any skeleton when reading (mapped onto SMPL-22 through a bone map), SMPL-22 when writing
  .npy  HumanML3D frame features (T-1, 263) at 20 fps; when reading, a joints array (T, 22, 3)
        in metres, Y up (HumanML3D's new_joints) is also accepted, told apart by its shape.

BVH input assumptions: Y up (a file whose body clearly stands along +Z is turned to Y up);
units are detected from the body's size (metres, centimetres, millimetres, inches, or the
CMU/cgspeed unit of 0.056444 m), unless a scale (metres per file unit) is given.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from momug.errors import MomugError
from momug.motion import bonemap, kinematics
from momug.motion import quaternion as Q
from momug.motion.bvh import BvhMotion, read_bvh, write_bvh
from momug.motion.motionfile import Motion, load_motion, save_motion
from momug.motion.skeleton import SMPL22_NAMES, smpl22

FORMATS = (".npz", ".bvh", ".npy")
FEATURE_FPS = 20.0

# Metres per file unit, with the name reported to the user.
_UNITS = (
    (1.0, "metres"),
    (0.01, "centimetres"),
    (0.001, "millimetres"),
    (0.0254, "inches"),
    (0.056444, "CMU units (0.056444 m)"),
)
# The SMPL-22 body size measure (leg length + pelvis-to-head distance) is about 1.5 m.
_REFERENCE_SIZE = 1.5


def motion_format(path: str | os.PathLike) -> str:
    ext = Path(path).suffix.lower()
    if ext not in FORMATS:
        raise MomugError(f"{path}: unknown motion format '{ext or '(none)'}'; use one of {', '.join(FORMATS)}")
    return ext


# ----------------------------------------------------------------------------------------------
# Time


def resample(motion: Motion, fps: float) -> Motion:
    """The motion at another frame rate: positions interpolated linearly, rotations by slerp.
    The duration is kept (to the nearest frame)."""
    if fps <= 0 or not np.isfinite(fps):
        raise MomugError(f"fps must be positive, got {fps}")
    if abs(fps - motion.fps) < 1e-9 or motion.num_frames < 2:
        return Motion(motion.joints, fps if motion.num_frames < 2 else motion.fps, motion.prompt,
                      motion.rotations, motion.root_translation)
    duration = (motion.num_frames - 1) / motion.fps
    n = max(2, int(round(duration * fps)) + 1)
    src = np.clip(np.arange(n) / fps * motion.fps, 0, motion.num_frames - 1)
    i0 = np.minimum(np.floor(src).astype(int), motion.num_frames - 2)
    w = src - i0

    def lerp(a):
        a = np.asarray(a, dtype=np.float64)
        wt = w.reshape((-1,) + (1,) * (a.ndim - 1))
        return a[i0] * (1 - wt) + a[i0 + 1] * wt

    joints = lerp(motion.joints)
    rotations = root = None
    if motion.rotations is not None and motion.root_translation is not None:
        rot = Q.make_continuous(np.asarray(motion.rotations, dtype=np.float64))
        rotations = Q.slerp(rot[i0], rot[i0 + 1], np.broadcast_to(w[:, None], rot[i0].shape[:2]))
        root = lerp(motion.root_translation)
    return Motion(joints, fps, motion.prompt, rotations, root)


# ----------------------------------------------------------------------------------------------
# BVH -> SMPL-22


def detect_scale(joints: np.ndarray) -> tuple[float, str]:
    """Metres per unit for SMPL-22-ordered joints in unknown units, judged by the body's size."""
    sk_names = SMPL22_NAMES
    j = {n: joints[:, i] for i, n in enumerate(sk_names)}
    leg = 0.0
    for side in ("left", "right"):
        leg += np.median(np.linalg.norm(j[f"{side}_knee"] - j[f"{side}_hip"], axis=-1)
                         + np.linalg.norm(j[f"{side}_ankle"] - j[f"{side}_knee"], axis=-1)) / 2
    trunk = np.median(np.linalg.norm(j["head"] - j["pelvis"], axis=-1))
    size = leg + trunk
    if not np.isfinite(size) or size <= 0:
        raise MomugError("cannot judge the skeleton's units: its legs and trunk have no length")
    factor, name = min(_UNITS, key=lambda u: abs(np.log(size * u[0] / _REFERENCE_SIZE)))
    return factor, name


def _up_axis_fix(joints: np.ndarray) -> tuple[np.ndarray, bool]:
    """Turn a Z-up body to Y up: (x, y, z) -> (x, z, -y). Returns (joints, turned)."""
    up = np.median(joints[:, SMPL22_NAMES.index("head")] - joints[:, SMPL22_NAMES.index("pelvis")], axis=0)
    if abs(up[2]) > 2 * abs(up[1]) and up[2] > 0:
        return np.stack([joints[..., 0], joints[..., 2], -joints[..., 1]], axis=-1), True
    return joints, False


def _rotations_are_smpl(bvh: BvhMotion, mapping: bonemap.BoneMapping) -> list[int] | None:
    """If the BVH is an SMPL-22 skeleton in our rest pose (same names, same parents, bones in the
    same directions), the file's joint indices in SMPL-22 order; else None."""
    if any(mapping.bones.get(n) != n for n in SMPL22_NAMES):
        return None
    sk = smpl22()
    index = [bvh.names.index(n) for n in SMPL22_NAMES]
    for j, p in enumerate(sk.parents):
        bp = bvh.parents[index[j]]
        if p < 0:
            continue
        if bp < 0 or bvh.names[bp] != SMPL22_NAMES[p]:
            return None
        a, b = sk.offsets[j], bvh.offsets[index[j]]
        if np.dot(a, b) < 0.999 * np.linalg.norm(a) * np.linalg.norm(b):
            return None
    # Extra joints between SMPL ones would break the correspondence of local rotations.
    return index


def _mapping_pose(bvh: BvhMotion, world: np.ndarray) -> np.ndarray:
    """Joint positions for the automatic bone map: the rest pose, unless it is not a body shape
    (Bandai-Namco's files give every bone its offset along its parent's X, so their rest pose
    is a line); then the first frame."""
    inner = [j for j, p in enumerate(bvh.parents) if p >= 0 and bvh.parents[p] >= 0]
    offsets = np.abs(np.asarray(bvh.offsets, dtype=np.float64)[inner])
    lengths = offsets.sum(axis=1)
    offsets, lengths = offsets[lengths > 0], lengths[lengths > 0]
    if len(lengths):
        share = offsets.sum(axis=0) / lengths.sum()  # how much of all bone length lies along x, y, z
        if share.max() > 0.85:
            return world[0]
    return bvh.rest_positions()


def bvh_to_motion(bvh: BvhMotion, rig: str | None = None, scale: float | None = None,
                  report: list[str] | None = None) -> Motion:
    """A BVH (any skeleton) as an SMPL-22 Motion in metres, Y up, at the file's frame rate."""
    if bvh.num_frames < 1:
        raise MomugError("the BVH has no frames of motion")
    world = bvh.world_positions()
    mapping = bonemap.resolve_bone_map(bvh.names, rig, bvh.parents, _mapping_pose(bvh, world))
    positions = {joint: world[:, bvh.names.index(bone)] for joint, bone in mapping.bones.items()}
    joints = bonemap.complete_joints(positions)
    if scale is None:
        scale, unit_name = detect_scale(joints)
    else:
        if not (np.isfinite(scale) and scale > 0):
            raise MomugError(f"scale must be a positive number of metres per unit, got {scale}")
        unit_name = f"{scale} m per unit (given)"
    joints = joints * scale
    joints, turned = _up_axis_fix(joints)
    if report is not None:
        if mapping.preset == "auto":
            report.append(f"bone map: auto (no preset fits; mapped {len(mapping.bones)} of 22 joints "
                          "by name and hierarchy)")
            report.extend(f"  {line}" for line in mapping.notes if not line.startswith("filled"))
        else:
            report.append(f"bone map: {mapping.preset}")
        if mapping.unmapped:
            report.append(f"interpolated joints: {', '.join(mapping.unmapped)}")
        report.append(f"units: {unit_name}")
        if turned:
            report.append("the body stands along +Z: turned to Y up")

    index = None if turned else _rotations_are_smpl(bvh, mapping)
    if index is not None:
        rotations = bvh.rotations[:, index]
        root = joints[:, 0]
    else:
        rotations, root = kinematics.inverse(smpl22(), joints)
    return Motion(joints, bvh.fps, None, rotations, root)


# ----------------------------------------------------------------------------------------------
# SMPL-22 -> BVH


def motion_to_bvh_arrays(motion: Motion):
    """(skeleton, rotations, root) that reproduce the motion's joints as closely as SMPL-22 can:
    bone lengths fitted to the motion, the motion's own rotations kept when they fit."""
    joints = np.asarray(motion.joints, dtype=np.float64)
    skeleton = kinematics.fit_bone_lengths(smpl22(), joints)
    if motion.rotations is not None and motion.root_translation is not None:
        fk = kinematics.forward(skeleton, motion.rotations, motion.root_translation)
        if np.max(np.abs(fk - joints)) < 1e-3:
            return skeleton, np.asarray(motion.rotations, dtype=np.float64), np.asarray(motion.root_translation, dtype=np.float64)
    rotations, root = kinematics.inverse(skeleton, joints)
    return skeleton, rotations, root


# ----------------------------------------------------------------------------------------------
# Files


def read_motion(path: str | os.PathLike, rig: str | None = None, scale: float | None = None,
                input_fps: float | None = None, report: list[str] | None = None) -> Motion:
    """Any supported file as an SMPL-22 Motion. input_fps sets the rate of a .npy joints array
    (default 20, HumanML3D's); BVH and .npz files carry their own rate."""
    path = Path(path)
    ext = motion_format(path)
    if not path.is_file():
        raise MomugError(f"file not found: {path}")
    if ext == ".npz":
        return load_motion(path)
    if ext == ".bvh":
        return bvh_to_motion(read_bvh(path), rig, scale, report)
    try:
        array = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise MomugError(f"cannot read {path}: {exc}") from None
    if array.ndim == 3 and array.shape[1:] == (22, 3):
        if report is not None:
            report.append("input: joints (T, 22, 3)")
        return Motion(array.astype(np.float32), input_fps or FEATURE_FPS)
    if array.ndim == 2 and array.shape[1] == 263:
        from momug.motion.features import features_to_joints

        if not np.all(np.isfinite(array)):
            raise MomugError(f"{path}: features contain NaN or infinite values")
        if report is not None:
            report.append("input: HumanML3D features (T, 263)")
        return Motion(features_to_joints(array).astype(np.float32), FEATURE_FPS)
    if array.ndim == 2 and array.shape[1] == 251:
        raise MomugError(f"{path} holds KIT-ML features (251 dims, 21 joints); convert works on SMPL-22 "
                         "(HumanML3D, 263 dims)")
    raise MomugError(f"{path}: expected HumanML3D features shaped (T, 263) or joints shaped (T, 22, 3), "
                     f"got an array shaped {array.shape}")


def write_motion(path: str | os.PathLike, motion: Motion, fps: float | None = None) -> Path:
    """Write a Motion in the format named by the extension, at fps if given. Feature files are
    always 20 fps (HumanML3D)."""
    path = Path(path)
    ext = motion_format(path)
    if ext == ".npy":
        if fps is not None and abs(fps - FEATURE_FPS) > 1e-9:
            raise MomugError(f"HumanML3D feature files are {FEATURE_FPS:g} fps; drop --fps or write .npz/.bvh")
        from momug.motion.features import joints_to_features

        motion = resample(motion, FEATURE_FPS)
        if motion.num_frames < 2:
            raise MomugError("a feature file needs a motion of at least two frames")
        features = joints_to_features(motion.joints)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.stem}.part.npy")
        np.save(tmp, features)
        os.replace(tmp, path)
        return path
    if fps is not None:
        motion = resample(motion, fps)
    if ext == ".npz":
        return save_motion(path, motion.with_rotations())
    skeleton, rotations, root = motion_to_bvh_arrays(motion)
    return write_bvh(path, rotations, root, motion.fps, skeleton)


def convert_file(src: str | os.PathLike, dst: str | os.PathLike, rig: str | None = None,
                 fps: float | None = None, scale: float | None = None,
                 input_fps: float | None = None) -> list[str]:
    """Convert one file; returns notes for the user (bone map used, units, ...)."""
    report: list[str] = []
    motion = read_motion(src, rig, scale, input_fps, report)
    out = write_motion(dst, motion, fps)
    report.append(f"wrote {out} (from {motion.num_frames} frames at {motion.fps:g} fps)")
    return report
