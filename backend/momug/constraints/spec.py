"""What the user gave, checked: `build(...)` turns a preceding or following motion, keyed poses,
a path, or a motion to edit with the parts to keep into a validated `Constraints`, or raises
ConstraintError with one readable sentence before any model work; and the file readers the
front ends share."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from momug.constraints.geometry import NUM_JOINTS, PARENTS, facing_half, to_local
from momug.errors import MomugError

# Body parts by SMPL-22 index. The pelvis is in "lower"; an edit always keeps the source's root
# track (pelvis position and facing), because the kept joints hang from it.
BODY_PARTS = {
    "lower": (0, 1, 2, 4, 5, 7, 8, 10, 11),
    "upper": (3, 6, 9, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21),
    "legs": (1, 2, 4, 5, 7, 8, 10, 11),
    "left_leg": (1, 4, 7, 10),
    "right_leg": (2, 5, 8, 11),
    "arms": (13, 14, 16, 17, 18, 19, 20, 21),
    "left_arm": (13, 16, 18, 20),
    "right_arm": (14, 17, 19, 21),
    "spine": (0, 3, 6, 9),
    "head": (12, 15),
}
# Frames of a preceding (following) motion the model sees, so it carries on its velocity.
CONTEXT_FRAMES = 8
# A person's root does not travel faster than a sprint; no joint moves faster than this relative
# to the root (a fast punch or kick peaks near 10 m/s).
MAX_ROOT_SPEED = 9.0
MAX_JOINT_SPEED = 14.0
# A path farther than this from where a continuation starts is a mistake, not a path.
MAX_PATH_GAP = 0.5
MAX_KEYS = 4000
MAX_PATH_POINTS = 10000


class ConstraintError(MomugError):
    """A constraint that cannot be met or makes no sense; the message says which and why."""


@dataclass
class Constraints:
    """Validated constraints for one motion of `frames` frames at the model's fps.

    key_frames (K,) ints, sorted and unique, from -lead to frames - 1 + tail; key_joints (K, 22, 3)
    world poses. path (frames, 2): root x, z per frame. source (frames, 22, 3) and keep (joint
    indices): an edit. lead / tail: context frames of a preceding / following motion."""
    frames: int
    key_frames: np.ndarray
    key_joints: np.ndarray
    path: np.ndarray | None = None
    source: np.ndarray | None = None
    keep: tuple[int, ...] = ()
    lead: int = 0
    tail: int = 0

    @property
    def total(self) -> int:
        """Frames the model samples: the output plus the context on either side."""
        return self.lead + self.frames + self.tail

    @property
    def is_edit(self) -> bool:
        return self.source is not None

    def summary(self) -> dict:
        """What was asked, for manifests and logs (no arrays)."""
        out = {"frames": self.frames}
        inner = [int(k) for k in self.key_frames if 0 <= k < self.frames]
        if inner:
            out["keys"] = inner
        if self.lead:
            out["continues"] = True
        if self.tail:
            out["ends_at_pose"] = True
        if self.path is not None:
            out["path_length_m"] = round(float(np.linalg.norm(np.diff(self.path, axis=0), axis=1).sum()), 3)
        if self.is_edit:
            out["keep"] = [int(j) for j in self.keep]
        return out


def _finite_array(value, shape_tail: tuple, what: str, min_len: int = 1) -> np.ndarray:
    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise ConstraintError(f"{what} must be an array of numbers") from None
    if array.ndim != 1 + len(shape_tail) or array.shape[1:] != shape_tail:
        shape = "(N, " + ", ".join(str(s) for s in shape_tail) + ")"
        raise ConstraintError(f"{what} must be shaped {shape}, got {array.shape}")
    if len(array) < min_len:
        raise ConstraintError(f"{what} needs at least {min_len} frame(s), got {len(array)}")
    if not np.isfinite(array).all():
        raise ConstraintError(f"{what} contains NaN or infinite values")
    if np.abs(array).max(initial=0.0) > 1.0e4:
        raise ConstraintError(f"{what} has coordinates beyond 10 km: are they in metres?")
    return array


def parse_keep(keep) -> tuple[int, ...]:
    """"lower", "left_arm,right_arm" or a list of part names / SMPL-22 indices -> sorted indices."""
    if isinstance(keep, str):
        keep = [p for p in keep.replace("+", ",").split(",") if p.strip()]
    if not keep:
        raise ConstraintError(f"say which body parts to keep: {', '.join(BODY_PARTS)}")
    out: set[int] = set()
    for part in keep:
        if isinstance(part, (int, np.integer)) and not isinstance(part, bool):
            if not 0 <= int(part) < NUM_JOINTS:
                raise ConstraintError(f"joint index {part} is not an SMPL-22 joint (0..21)")
            out.add(int(part))
        elif isinstance(part, str) and part.strip().lower() in BODY_PARTS:
            out.update(BODY_PARTS[part.strip().lower()])
        else:
            raise ConstraintError(f"unknown body part {part!r}; choose from {', '.join(BODY_PARTS)}")
    if len(out) == NUM_JOINTS:
        raise ConstraintError("keeping every joint leaves nothing to regenerate")
    return tuple(sorted(out))


def anchored(keep) -> tuple[int, ...]:
    """The kept joints plus what they hang from: every ancestor, and every child of an ancestor
    (a hip or collar socket, the lower spine). A joint's place under joint rotations depends on
    its ancestors' rotations, and a joint's rotation on where all its children are, so without
    these the kept joints would move once the motion is posed by rotations on a rig."""
    out = set(keep) | {0}
    ancestors = set()
    for j in keep:
        p = PARENTS[j]
        while p >= 0:
            ancestors.add(p)
            p = PARENTS[p]
    out |= ancestors
    out |= {c for c in range(NUM_JOINTS) if PARENTS[c] in ancestors}
    return tuple(sorted(out))


def path_from_waypoints(waypoints, speed: float, fps: float) -> np.ndarray:
    """A polyline walked at a constant speed (m/s) -> one [x, z] per frame at fps."""
    points = _finite_array(waypoints, (2,), "path waypoints", min_len=2)
    if not (isinstance(speed, (int, float)) and math.isfinite(speed) and speed > 0):
        raise ConstraintError(f"path speed must be a positive number of metres per second, got {speed!r}")
    if speed > MAX_ROOT_SPEED:
        raise ConstraintError(f"path speed {speed:g} m/s is faster than a sprint (at most {MAX_ROOT_SPEED:g} m/s)")
    seg = np.linalg.norm(np.diff(points, axis=0), axis=1)
    along = np.concatenate([[0.0], np.cumsum(seg)])
    if along[-1] < 1e-6:
        raise ConstraintError("path waypoints are all at the same place")
    n = int(round(along[-1] / speed * fps)) + 1
    if n > MAX_PATH_POINTS:
        raise ConstraintError(f"the path would take {n} frames; the limit is {MAX_PATH_POINTS}")
    s = np.linspace(0.0, along[-1], max(n, 2))
    return np.stack([np.interp(s, along, points[:, 0]), np.interp(s, along, points[:, 1])], axis=1)


def read_path(value, fps: float) -> np.ndarray:
    """The path as given on the wire or in a JSON file: [[x, z], ...] per frame, or
    {"waypoints": [[x, z], ...], "speed": m/s}."""
    if isinstance(value, dict):
        extra = set(value) - {"waypoints", "speed"}
        if extra or "waypoints" not in value or "speed" not in value:
            raise ConstraintError('a path object needs exactly "waypoints" and "speed"')
        return path_from_waypoints(value["waypoints"], value["speed"], fps)
    path = _finite_array(value, (2,), "path", min_len=2)
    if len(path) > MAX_PATH_POINTS:
        raise ConstraintError(f"the path has {len(path)} points; the limit is {MAX_PATH_POINTS}")
    return path


def load_path_file(path: str | Path, fps: float) -> np.ndarray:
    try:
        value = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConstraintError(f"cannot read path file {path}: {exc.strerror or exc}") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ConstraintError(f"path file {path} is not JSON: {exc}") from None
    return read_path(value, fps)


def load_keys_file(path: str | Path, fps: float) -> tuple[np.ndarray, np.ndarray]:
    """(frames, joints) from an .npz with `frames` and `joints` (known poses at those frames), or
    any motion file (.npz motion, .bvh, .npy joints) whose every frame is known."""
    from momug.motion.convert import read_motion, resample

    path = Path(path)
    if path.suffix.lower() == ".npz" and path.is_file():
        try:
            with np.load(path, allow_pickle=False) as data:
                if "frames" in data.files:
                    if "joints" not in data.files:
                        raise ConstraintError(f"{path} has `frames` but no `joints`")
                    return np.asarray(data["frames"]), np.asarray(data["joints"])
        except (ValueError, OSError, EOFError) as exc:
            raise ConstraintError(f"cannot read keys file {path}: {exc}") from None
    motion = resample(read_motion(path), fps)
    return np.arange(motion.num_frames), np.asarray(motion.joints, dtype=np.float64)


def load_motion_joints(path: str | Path, fps: float) -> np.ndarray:
    """A motion file's joints at the model's fps (float32, as read)."""
    from momug.motion.convert import read_motion, resample

    return np.asarray(resample(read_motion(path), fps).joints)


def continuing(before: np.ndarray, frames: int) -> Constraints:
    """Constraints for `frames` frames that continue `before` (T, 22, 3), a motion momug itself made
    (a sequence's previous step): the same context as build(start=...), without the checks that
    guard what a user gives; a wild step of the model's own must not stop the next one."""
    context = np.asarray(before, dtype=np.float64)[-CONTEXT_FRAMES:]
    return Constraints(frames=int(frames), key_frames=np.arange(-len(context), 0), key_joints=context,
                       lead=len(context))


def _check_speeds(frames: np.ndarray, joints: np.ndarray, fps: float, what: str) -> None:
    """Keys closer in time than a body can move between them."""
    for a, b in zip(range(len(frames) - 1), range(1, len(frames))):
        dt = (frames[b] - frames[a]) / fps
        root = np.linalg.norm((joints[b, 0] - joints[a, 0])[[0, 2]]) / dt
        if root > MAX_ROOT_SPEED:
            raise ConstraintError(
                f"{what} at frames {frames[a]} and {frames[b]} put the root "
                f"{root * dt:.2f} m apart in {dt:.2f} s ({root:.1f} m/s), faster than a sprint "
                f"(at most {MAX_ROOT_SPEED:g} m/s); move them further apart in time")
        ha, hb = facing_half(joints[a]), facing_half(joints[b])
        la = to_local(joints[a][None], np.array([ha]))[0]
        lb = to_local(joints[b][None], np.array([hb]))[0]
        # Turning in place is not a joint speed: compare the poses as seen from the root.
        joint = np.linalg.norm(lb - la, axis=-1).max() / dt
        if joint > MAX_JOINT_SPEED:
            raise ConstraintError(
                f"{what} at frames {frames[a]} and {frames[b]} need a joint to move {joint:.1f} m/s "
                f"relative to the body (at most {MAX_JOINT_SPEED:g} m/s); move them further apart in time")


def build(frames: int | None, fps: float, max_frames: int, *, start=None, end=None, keys=None, path=None,
          edit=None, keep=None, default_frames: int = 80) -> Constraints | None:
    """Check what the user gave and return Constraints (None when nothing was given).

    start / end: joints (T, 22, 3) of the motion before / after (at fps). keys: (frames, joints).
    path: per-frame [x, z] (frames at fps). edit + keep: the motion to edit and what to keep.
    frames None: taken from the path, the edited motion or the last key, else default_frames."""
    if all(v is None for v in (start, end, keys, path, edit)):
        if keep is not None:
            raise ConstraintError("--keep needs --edit FILE (the motion whose joints are kept)")
        return None
    if edit is not None:
        if keep is None:
            raise ConstraintError("an edit needs the body parts to keep (e.g. lower, upper, left_arm)")
        if path is not None or start is not None or end is not None:
            raise ConstraintError("an edit keeps the edited motion's own root path and timing; "
                                  "it cannot be combined with a path, a start or an end")
        source = _finite_array(edit, (NUM_JOINTS, 3), "the motion to edit", min_len=2)
        keep_idx = anchored(parse_keep(keep))
        if len(keep_idx) == NUM_JOINTS:
            raise ConstraintError("keeping these parts keeps every joint; nothing is left to regenerate")
        if frames is not None and frames != len(source):
            raise ConstraintError(f"the edited motion has {len(source)} frames ({len(source) / fps:g} s); an edit "
                                  f"keeps its length, so leave out the length or ask for {len(source) / fps:g} s")
        frames = len(source)
    elif keep is not None:
        raise ConstraintError("keep needs an edit (the motion whose joints are kept)")
    else:
        source, keep_idx = None, ()
    if path is not None:
        path = _finite_array(path, (2,), "path", min_len=2)
        if frames is not None and frames != len(path):
            raise ConstraintError(f"the path has {len(path)} points, one per frame at {fps:g} fps "
                                  f"({len(path) / fps:g} s), but {frames} frames were asked for; "
                                  "leave out the length or give a path of that many points")
        frames = len(path)
        speed = np.linalg.norm(np.diff(path, axis=0), axis=1) * fps
        fast = int(np.argmax(speed))
        if speed[fast] > MAX_ROOT_SPEED:
            raise ConstraintError(f"the path moves {speed[fast]:.1f} m/s at frame {fast}, faster than a sprint "
                                  f"(at most {MAX_ROOT_SPEED:g} m/s); make it shorter or the motion longer")
    key_frames: list[int] = []
    key_joints: list[np.ndarray] = []
    if keys is not None:
        kf, kj = keys
        try:
            kf_array = np.asarray(kf)
        except (TypeError, ValueError):
            raise ConstraintError("key frames must be a list of whole numbers") from None
        if kf_array.ndim != 1 or kf_array.dtype.kind not in "iuf" or len(kf_array) == 0:
            raise ConstraintError("key frames must be a non-empty list of whole numbers")
        if not np.isfinite(kf_array).all() or (kf_array != np.round(kf_array)).any():
            raise ConstraintError("key frames must be whole frame numbers")
        kj = _finite_array(kj, (NUM_JOINTS, 3), "key poses")
        if len(kj) != len(kf_array):
            raise ConstraintError(f"{len(kf_array)} key frames but {len(kj)} key poses")
        if len(kf_array) > MAX_KEYS:
            raise ConstraintError(f"{len(kf_array)} keys; the limit is {MAX_KEYS}")
        kf_array = kf_array.astype(np.int64)
        if len(set(kf_array.tolist())) != len(kf_array):
            raise ConstraintError("two keys are at the same frame")
        if kf_array.min() < 0:
            raise ConstraintError(f"key frame {int(kf_array.min())} is before the clip's first frame (0)")
        if frames is None:
            frames = int(kf_array.max()) + 1
        if kf_array.max() >= frames:
            raise ConstraintError(f"key frame {int(kf_array.max())} is outside the clip "
                                  f"(frames 0 to {frames - 1}, {frames / fps:g} s at {fps:g} fps)")
        key_frames += kf_array.tolist()
        key_joints += list(kj)
    if frames is None:
        frames = default_frames
    lead = tail = 0
    if start is not None:
        before = _finite_array(start, (NUM_JOINTS, 3), "the motion to continue", min_len=2)
        context = before[-CONTEXT_FRAMES:]
        lead = len(context)
        key_frames += list(range(-lead, 0))
        key_joints += list(context)
        if path is not None:
            gap = np.linalg.norm(path[0] - before[-1, 0, [0, 2]])
            if gap > MAX_PATH_GAP:
                raise ConstraintError(f"the path starts {gap:.2f} m from where the continued motion ends; "
                                      "start it at the root's last position")
    if end is not None:
        after = _finite_array(end, (NUM_JOINTS, 3), "the motion to end at", min_len=1)
        # The output's last frame is `after`'s first pose; the rest is context beyond the clip.
        context = after[:CONTEXT_FRAMES]
        tail = len(context) - 1
        key_frames += list(range(frames - 1, frames - 1 + len(context)))
        key_joints += list(context)
    order = np.argsort(key_frames, kind="stable")
    kf = np.asarray(key_frames, dtype=np.int64)[order]
    kj = np.asarray(key_joints, dtype=np.float64).reshape(-1, NUM_JOINTS, 3)[order]
    if len(set(kf.tolist())) != len(kf):
        clash = sorted({int(f) for f in kf if (kf == f).sum() > 1})
        raise ConstraintError(f"two constraints set the pose at frame {clash[0]} (a key and the start or end)")
    total = lead + frames + tail
    if frames < 2:
        raise ConstraintError(f"the clip needs at least 2 frames, got {frames}")
    if total > max_frames:
        extra = f" plus {lead + tail} frames of context" if lead + tail else ""
        raise ConstraintError(f"{frames} frames{extra} is longer than this model makes "
                              f"({max_frames} frames, {max_frames / fps:g} s)")
    _check_speeds(kf, kj, fps, "keys")
    return Constraints(frames=int(frames), key_frames=kf, key_joints=kj, path=path,
                       source=None if source is None else np.asarray(edit, dtype=np.float32),
                       keep=keep_idx, lead=lead, tail=tail)
