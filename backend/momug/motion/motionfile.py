"""The .npz motion file: the contract between the backend, the add-on and users' scripts.

Keys: joints float32 (T, 22, 3) metres Y up; fps (float); optional prompt (str),
rotations float32 (T, 22, 4) local quaternions w,x,y,z on SMPL-22, root_translation float32 (T, 3).
"""

from __future__ import annotations

import os
import tempfile
import zipfile
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from momug.errors import MomugError
from momug.motion import kinematics
from momug.motion.skeleton import smpl22

NUM_JOINTS = 22


@dataclass
class Motion:
    joints: np.ndarray
    fps: float = 20.0
    prompt: str | None = None
    rotations: np.ndarray | None = None
    root_translation: np.ndarray | None = None
    # The prompts it was made from, in order, when a prompt naming actions in order was made one
    # action at a time (MotionPipeline.generate); None: from its prompt alone. Not written to files.
    made_from: list[str] | None = None

    def __post_init__(self):
        self.joints = np.asarray(self.joints, dtype=np.float32)
        if self.joints.ndim != 3 or self.joints.shape[1:] != (NUM_JOINTS, 3) or len(self.joints) < 1:
            raise MomugError(f"motion joints must be shaped (T, {NUM_JOINTS}, 3), got {self.joints.shape}")
        if not np.all(np.isfinite(self.joints)):
            raise MomugError("motion joints contain NaN or infinite values")
        if not (np.isfinite(self.fps) and 0 < self.fps <= 1000):
            raise MomugError(f"fps must be a positive number, got {self.fps}")
        self.fps = float(self.fps)
        T = len(self.joints)
        for name, width in (("rotations", (NUM_JOINTS, 4)), ("root_translation", (3,))):
            value = getattr(self, name)
            if value is None:
                continue
            value = np.asarray(value, dtype=np.float32)
            if value.shape != (T,) + width:
                raise MomugError(f"{name} must be shaped {(T,) + width}, got {value.shape}")
            if not np.all(np.isfinite(value)):
                raise MomugError(f"{name} contains NaN or infinite values")
            setattr(self, name, value)

    @property
    def num_frames(self) -> int:
        return len(self.joints)

    @property
    def seconds(self) -> float:
        return self.num_frames / self.fps

    def with_rotations(self) -> "Motion":
        """This motion with rotations and root translation filled in by IK on SMPL-22."""
        if self.rotations is not None and self.root_translation is not None:
            return self
        rotations, root = kinematics.inverse(smpl22(), self.joints)
        return replace(self, rotations=rotations, root_translation=root)


def save_motion(path: str | os.PathLike, motion: Motion) -> Path:
    """Write atomically: a crash never leaves a half-written file under the final name."""
    path = Path(path)
    arrays = {"joints": motion.joints, "fps": np.float32(motion.fps)}
    if motion.prompt is not None:
        arrays["prompt"] = np.array(motion.prompt)
    if motion.rotations is not None:
        arrays["rotations"] = motion.rotations
    if motion.root_translation is not None:
        arrays["root_translation"] = motion.root_translation
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=".npz.part")
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **arrays)
        # mkstemp makes the file owner-only; give it the permissions a normal new file gets.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def load_motion(path: str | os.PathLike) -> Motion:
    path = Path(path)
    if not path.is_file():
        raise MomugError(f"motion file not found: {path}")
    try:
        # allow_pickle=False: a motion file never needs Python objects, and loading them runs code.
        with np.load(path, allow_pickle=False) as data:
            if "joints" not in data:
                raise MomugError(f"{path} is not a motion file: it has no 'joints' array")
            fps = float(data["fps"]) if "fps" in data else 20.0
            prompt = str(data["prompt"]) if "prompt" in data else None
            rotations = data["rotations"] if "rotations" in data else None
            root = data["root_translation"] if "root_translation" in data else None
            joints = data["joints"]
    except (zipfile.BadZipFile, ValueError, OSError, EOFError) as exc:
        raise MomugError(f"cannot read motion file {path}: {exc}") from None
    return Motion(joints, fps, prompt, rotations, root)
