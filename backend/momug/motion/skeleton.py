"""The SMPL 22-joint skeleton (data in rigs/smpl22.json) and skeleton descriptions in general."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np

from momug.rigs import load_rig_json


@dataclass(frozen=True)
class Skeleton:
    """A joint hierarchy in a rest pose. Parents come before children; the root's parent is -1."""

    names: tuple[str, ...]
    parents: tuple[int, ...]
    offsets: np.ndarray  # (J, 3) rest position relative to the parent, metres; root: rest position
    chains: tuple[tuple[int, ...], ...] = ()
    feet: dict = field(default_factory=dict)  # {"left": [ankle, toe], "right": [...]}
    face_joints: dict = field(default_factory=dict)  # r_hip, l_hip, r_shoulder, l_shoulder

    def __post_init__(self):
        for j, p in enumerate(self.parents):
            if p >= j:
                raise ValueError(f"joint {self.names[j]!r}: parent {p} must come before it")

    @property
    def num_joints(self) -> int:
        return len(self.names)

    def index(self, name: str) -> int:
        return self.names.index(name)

    def children(self, j: int) -> list[int]:
        return [c for c, p in enumerate(self.parents) if p == j]

    def rest_joints(self) -> np.ndarray:
        """World rest positions (J, 3)."""
        pos = np.zeros((self.num_joints, 3))
        for j, p in enumerate(self.parents):
            pos[j] = self.offsets[j] if p < 0 else pos[p] + self.offsets[j]
        return pos

    def bone_lengths(self) -> np.ndarray:
        lengths = np.linalg.norm(self.offsets, axis=-1)
        lengths[[j for j, p in enumerate(self.parents) if p < 0]] = 0.0
        return lengths

    def scaled(self, factor: float) -> "Skeleton":
        return Skeleton(self.names, self.parents, self.offsets * factor, self.chains, self.feet, self.face_joints)

    def with_offsets(self, offsets: np.ndarray) -> "Skeleton":
        return Skeleton(self.names, self.parents, np.asarray(offsets, dtype=np.float64), self.chains, self.feet, self.face_joints)


def skeleton_from_json(data: dict) -> Skeleton:
    joints = data["joints"]
    return Skeleton(
        names=tuple(j["name"] for j in joints),
        parents=tuple(int(j["parent"]) for j in joints),
        offsets=np.array([j["offset"] for j in joints], dtype=np.float64),
        chains=tuple(tuple(c) for c in data.get("kinematic_chains", ())),
        feet=dict(data.get("feet", {})),
        face_joints=dict(data.get("face_joints", {})),
    )


@lru_cache(maxsize=None)
def smpl22() -> Skeleton:
    """The standard-adult SMPL-22 skeleton every motion in the backend is expressed on."""
    return skeleton_from_json(load_rig_json("smpl22.json"))


SMPL22_NAMES: tuple[str, ...] = (
    "pelvis", "left_hip", "right_hip", "spine1", "left_knee", "right_knee", "spine2",
    "left_ankle", "right_ankle", "spine3", "left_foot", "right_foot", "neck", "left_collar",
    "right_collar", "head", "left_shoulder", "right_shoulder", "left_elbow", "right_elbow",
    "left_wrist", "right_wrist",
)
