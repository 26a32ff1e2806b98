"""Left-right mirrored copies of a HumanML3D-format folder's clips, the augmentation HumanML3D
itself ships (its "M" files): each motion reflected through the body's sagittal plane, with
"left"/"right" and "clockwise"/"counterclockwise" swapped in its captions.

The mirrors are written beside the originals as M<id> files, and a new ids file lists the
originals and their mirrors (train.txt -> train_mirrored.txt); the original split files, Mean.npy
and Std.npy are not changed, so runs and evaluations that read them are unaffected. A training
config opts in with split = "train_mirrored" in [train].

SMPL-22 folders only (263-dim features): the reflection needs the skeleton's left/right joint
pairs and a lateral X axis, which the corpus, HumanML3D and momug's SMPL-22 rig share.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
from tqdm import tqdm

from momug.data.humanml3d import read_smpl22_joints, read_split
from momug.errors import MomugError
from momug.motion.features import humanml3d_spec, joints_to_features

_SWAPS = {"left": "right", "right": "left", "clockwise": "counterclockwise", "counterclockwise": "clockwise",
          "Left": "Right", "Right": "Left"}
_SWAP_PATTERN = re.compile(r"\b(" + "|".join(sorted(_SWAPS, key=len, reverse=True)) + r")\b")
MIRROR_PREFIX = "M"


def mirror_text(line: str) -> str:
    """Swap the side and turning-sense words of a caption line (the POS tokens part too)."""
    return _SWAP_PATTERN.sub(lambda m: _SWAPS[m.group(1)], line)


def names_one_side(text: str) -> bool:
    """Whether a caption names one side only ("left" or "right", not both; "left-handed" counts):
    then its mirror_text names the other, a caption of a different motion."""
    words = set(re.findall(r"[a-z]+", text.lower()))
    return len(words & {"left", "right"}) == 1


def mirror_pairs(names: tuple[str, ...]) -> np.ndarray:
    """Joint order of the mirrored skeleton: each left_* joint takes its right_* twin's place."""
    order = np.arange(len(names))
    for i, name in enumerate(names):
        for a, b in (("left_", "right_"), ("right_", "left_")):
            if name.startswith(a):
                twin = b + name[len(a):]
                if twin not in names:
                    raise MomugError(f"joint {name!r} has no {twin!r} twin to mirror onto")
                order[i] = names.index(twin)
    return order


def mirror_joints(joints: np.ndarray, order: np.ndarray) -> np.ndarray:
    """(T, J, 3) world joints, Y up: reflect X and swap each left joint with its right twin."""
    out = np.array(joints, dtype=np.float32)[:, order]
    out[..., 0] *= -1.0
    return out


def write_mirrors(root: str | Path, split: str = "train", progress: bool = True) -> dict:
    """Write M<id> mirrors for every clip of ROOT/<split>.txt and ROOT/<split>_mirrored.txt listing
    both. Ids that already start with M, and clips whose M id the split already lists (HumanML3D's
    own mirrors), are listed once as they are and their files left alone. Rerunning skips mirrors
    already written, so an interrupted run resumes."""
    root = Path(root)
    ids = read_split(root, split)
    if not (root / "new_joints").is_dir():
        raise MomugError(f"{root} has no new_joints/ folder: mirroring needs the joint positions")
    spec = humanml3d_spec()
    order = mirror_pairs(spec.skeleton.names)
    known = set(ids)
    listed, written = [], 0
    for motion_id in tqdm(ids, desc=f"mirroring {split}", unit="clip", disable=not progress):
        listed.append(motion_id)
        if motion_id.startswith(MIRROR_PREFIX) or MIRROR_PREFIX + motion_id in known:
            continue  # a mirror, or a clip whose mirror the split already lists: leave both as they are
        joints_path = root / "new_joints" / f"{motion_id}.npy"
        texts_path = root / "texts" / f"{motion_id}.txt"
        if not (joints_path.is_file() and texts_path.is_file()):
            continue
        mirror_id = MIRROR_PREFIX + motion_id
        listed.append(mirror_id)
        targets = [root / "new_joints" / f"{mirror_id}.npy", root / "new_joint_vecs" / f"{mirror_id}.npy",
                   root / "texts" / f"{mirror_id}.txt"]
        if all(t.is_file() for t in targets):
            continue
        joints = read_smpl22_joints(joints_path, "mirroring supports")
        mirrored = mirror_joints(joints, order)
        # Text last: a clip counts as mirrored only once all three files exist.
        np.save(targets[0], mirrored)
        np.save(targets[1], joints_to_features(mirrored, spec))
        targets[2].write_text(mirror_text(texts_path.read_text(encoding="utf-8")), encoding="utf-8")
        written += 1
    out_file = root / f"{split}_mirrored.txt"
    out_file.write_text("".join(f"{i}\n" for i in listed))
    return {"split_file": str(out_file), "clips": len(listed), "written": written}
