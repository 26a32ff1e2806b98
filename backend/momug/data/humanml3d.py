"""Read any folder in the HumanML3D layout: the procedural corpus, HumanML3D or KIT-ML.

    ROOT/new_joint_vecs/<id>.npy   (T, D) frame features (D = 263 HumanML3D, 251 KIT-ML)
    ROOT/texts/<id>.txt            lines `caption#tokens#start#end` (start/end in seconds; 0 = whole clip)
    ROOT/<split>.txt               ids, one per line
    ROOT/Mean.npy, ROOT/Std.npy    per-dimension normalisation statistics
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from momug.errors import MomugError


@dataclass
class Caption:
    text: str
    start: float = 0.0  # seconds; 0/0 means the whole clip
    end: float = 0.0


def read_captions(path: Path) -> list[Caption]:
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        parts = line.strip().split("#")
        if not parts or not parts[0].strip():
            continue
        start = end = 0.0
        if len(parts) >= 4:
            try:
                start, end = float(parts[2] or 0), float(parts[3] or 0)
            except ValueError:
                start = end = 0.0
        if start != start or end != end:  # NaN in some HumanML3D lines
            start = end = 0.0
        out.append(Caption(parts[0].strip(), start, end))
    return out


def read_smpl22_joints(path: Path, supported_by: str) -> np.ndarray:
    """A new_joints/ file, checked to be SMPL-22 (T, 22, 3); the error names what needs that shape
    (supported_by: e.g. "mirroring supports")."""
    from momug.motion.features import humanml3d_spec

    joints = np.load(path, allow_pickle=False)
    joints_count = humanml3d_spec().num_joints
    if joints.ndim != 3 or joints.shape[1:] != (joints_count, 3):
        raise MomugError(f"{path} holds joints shaped {joints.shape}; {supported_by} "
                         f"SMPL-22 folders only ((T, {joints_count}, 3))")
    return joints


def read_split(root: Path, split: str) -> list[str]:
    """The motion ids listed in ROOT/<split>.txt, one per line."""
    split_file = Path(root) / f"{split}.txt"
    if not split_file.is_file():
        hint = f" (make it with: momug data mirror {root})" if split.endswith("_mirrored") else ""
        raise MomugError(f"{root} has no split '{split}': {split_file.name} is missing{hint}")
    return [line.strip() for line in split_file.read_text().splitlines() if line.strip()]


class MotionTextFolder:
    """The clips of one split, with their captions, read lazily (features are memory-mapped)."""

    def __init__(self, root: str | Path, split: str = "train", fps: float = 20.0, min_frames: int = 1):
        self.root = Path(root)
        self.fps = fps
        for need in (self.root / "new_joint_vecs", self.root / "texts", self.root / "Mean.npy", self.root / "Std.npy"):
            if not need.exists():
                raise MomugError(f"{self.root} is not a HumanML3D-format folder: {need.name} is missing")
        ids = read_split(self.root, split)
        self.mean = np.load(self.root / "Mean.npy").astype(np.float32)
        self.std = np.load(self.root / "Std.npy").astype(np.float32)
        self.ids, self.captions = [], []
        for motion_id in ids:
            feats = self.root / "new_joint_vecs" / f"{motion_id}.npy"
            texts = self.root / "texts" / f"{motion_id}.txt"
            if not (feats.is_file() and texts.is_file()):
                continue
            caps = read_captions(texts)
            if caps:
                self.ids.append(motion_id)
                self.captions.append(caps)
        if not self.ids:
            raise MomugError(f"no usable clips in split '{split}' of {self.root} (each needs new_joint_vecs/ID.npy "
                             f"and a non-empty texts/ID.txt)")
        self.min_frames = min_frames
        self.feature_dim = int(self.mean.shape[0])

    def __len__(self) -> int:
        return len(self.ids)

    def features(self, index: int) -> np.ndarray:
        return np.load(self.root / "new_joint_vecs" / f"{self.ids[index]}.npy", mmap_mode="r",
                       allow_pickle=False)

    def sample(self, index: int, rng: np.random.Generator, max_frames: int) -> tuple[np.ndarray, str]:
        """A (features, caption) pair: a random caption, its time span if it has one, and a random
        window of at most max_frames frames."""
        feats = self.features(index)
        cap = self.captions[index][int(rng.integers(len(self.captions[index])))]
        if cap.end > cap.start:
            a, b = int(cap.start * self.fps), int(cap.end * self.fps)
            if b - a >= self.min_frames:
                feats = feats[a:b]
        if len(feats) > max_frames:
            start = int(rng.integers(0, len(feats) - max_frames + 1))
            feats = feats[start:start + max_frames]
        return np.asarray(feats, dtype=np.float32), cap.text
