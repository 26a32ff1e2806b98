"""Animator constraints: known poses, a continuation, a root path, kept body parts.

One layer every front end (CLI, server, batch, add-on through the server) goes through:

- `build(...)` turns what the user gave (a preceding motion, a following motion, keyed poses, a
  path, a motion to edit with the joints to keep) into a validated `Constraints`, or raises
  ConstraintError with one readable sentence, before any model work.
- `Guide` is the training-free conditioning: at every DDIM step the model's predicted clean
  motion (x0, normalised HumanML3D features) is decoded to a root track (position, yaw) plus
  root-relative joints, pulled onto the constraints in world space and encoded back, so the
  model denoises around what is known (imputation on x0, as MDM-style inpainting does on x_t).
- `project(...)` is the exact last step on the finished joints: the root path met exactly, known
  frames met exactly with the correction faded out smoothly around each key (so the step into
  and out of a key stays no larger than the motion's own typical step), kept joints copied bit
  for bit and the regenerated limbs re-attached to them with the source's bone lengths.

Everything here is in the model's conventions: metres, Y up, SMPL-22, frames at the model's fps.
Frames are the output's frame numbers; a continuation's context sits before frame 0 (negative
frames) and an ending's after the last frame.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from momug.errors import MomugError
from momug.motion import quaternion as Q

NUM_JOINTS = 22
PARENTS = (-1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 12, 13, 14, 16, 17, 18, 19)
HIPS_SHOULDERS = (1, 2, 16, 17)  # left hip, right hip, left shoulder, right shoulder
RIC = slice(4, 4 + (NUM_JOINTS - 1) * 3)  # root-relative positions in the 263-dim features
VELOCITIES = slice(4 + (NUM_JOINTS - 1) * 9, 4 + (NUM_JOINTS - 1) * 9 + NUM_JOINTS * 3)

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
# How far (frames) the sampling-time pull of a key reaches into the frames around it.
GUIDE_REACH = 10
MIN_REACH = 3
# Frames over which a continuation carries the given motion's velocity on (and an ending brings
# the following motion's velocity in) before the model's own motion takes over.
MOMENTUM_FRAMES = 8
# A path farther than this from where a continuation starts is a mistake, not a path.
MAX_PATH_GAP = 0.5
MAX_KEYS = 4000
MAX_PATH_POINTS = 10000


class ConstraintError(MomugError):
    """A constraint that cannot be met or makes no sense; the message says which and why."""


# ---------------------------------------------------------------------------------------------
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


# ---------------------------------------------------------------------------------------------
# What the user gave

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


# ---------------------------------------------------------------------------------------------
# Sampling-time conditioning

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


def _heading(xz: np.ndarray) -> np.ndarray:
    return np.arctan2(xz[..., 0], xz[..., 1])


def _path_turn(path: np.ndarray, model_root: np.ndarray) -> np.ndarray:
    """Per-frame turn (radians) that makes the model's own direction of travel follow the path,
    so facing follows the path while a sidestep or a backward walk keeps its offset. Smoothed and
    weighted by speed: where either stands still the direction says nothing."""
    from scipy.ndimage import gaussian_filter1d

    pv = np.gradient(path, axis=0)
    mv = np.gradient(model_root[:, [0, 2]], axis=0)
    turn = _heading(pv) - _heading(mv)
    weight = np.minimum(np.linalg.norm(pv, axis=1), np.linalg.norm(mv, axis=1))
    c = gaussian_filter1d(weight * np.cos(turn), 3.0, mode="nearest")
    s = gaussian_filter1d(weight * np.sin(turn), 3.0, mode="nearest")
    # Frames with no evidence at all take the path's direction against +Z: no turn.
    return np.where(np.hypot(c, s) > 1e-6, np.arctan2(s, c), 0.0)


class Guide:
    """Pulls the model's predicted clean motion onto the constraints; call once per DDIM step
    with the denormalised x0 features (total, 263) and get the features to continue from."""

    def __init__(self, c: Constraints):
        self.c = c
        self.key_index = c.key_frames + c.lead  # into the sampled timeline
        kj = c.key_joints
        self.key_half = facing_half(kj)
        self.key_ric = to_local(kj, self.key_half) if len(kj) else np.zeros((0, NUM_JOINTS - 1, 3))
        self.weights = key_weights(self.key_index, c.total, GUIDE_REACH) if len(kj) else None
        self.spread = key_weights(self.key_index, c.total, np.inf) if len(kj) else None
        if c.is_edit:
            src = np.asarray(c.source, dtype=np.float64)
            self.src_half = facing_half(src)
            self.src_ric = to_local(src, self.src_half)
            self.src = src

    def anchor(self, half: np.ndarray, root: np.ndarray) -> tuple[float, np.ndarray]:
        """The rigid yaw + ground shift (theta, t) that puts the features' frame in the world: from
        the pose known at the first sampled frame when there is one, else fitted to all keys,
        else from the path's start or the edited motion's first frame."""
        c = self.c
        if c.is_edit:
            return -2.0 * self.src_half[0], self.src[0, 0, [0, 2]]
        idx = self.key_index
        if len(idx):
            use = [0] if idx[0] == 0 else list(range(len(idx)))
            # h_world = h_feat - theta / 2 at each key: theta from a circular mean.
            theta_k = 2.0 * (half[idx[use]] - self.key_half[use])
            theta = float(np.arctan2(np.sin(theta_k).mean(), np.cos(theta_k).mean()))
            moved = Q.rotate(np.broadcast_to(yaw_about(theta), (len(use), 4)), root[idx[use]])
            t = (c.key_joints[use, 0] - moved)[:, [0, 2]].mean(axis=0)
            return theta, t
        if c.path is not None:
            d = c.path[min(len(c.path) - 1, 5)] - c.path[0]
            theta = float(np.arctan2(d[0], d[1])) if np.linalg.norm(d) > 1e-3 else 0.0
            return theta, c.path[0]
        return 0.0, np.zeros(2)

    def world(self, features: np.ndarray):
        """Decoded x0 placed in the world: (half-angles, root, local pose)."""
        half, root, ric = decode(features)
        theta, t = self.anchor(half, root)
        root = Q.rotate(np.broadcast_to(yaw_about(theta), (len(root), 4)), root)
        root[:, [0, 2]] += t
        return half - theta / 2.0, root, ric

    def impose(self, half: np.ndarray, root: np.ndarray, ric: np.ndarray):
        """The constraints applied to a world-placed motion (copies)."""
        c = self.c
        half, root, ric = half.copy(), root.copy(), ric.copy()
        if c.path is not None:
            sl = slice(c.lead, c.lead + c.frames)
            half[sl] -= _path_turn(c.path, root[sl]) / 2.0
            root[sl, 0], root[sl, 2] = c.path[:, 0], c.path[:, 1]
        if c.is_edit:
            keep = [j - 1 for j in c.keep if j > 0]
            half, root = self.src_half.copy(), self.src[:, 0].copy()
            new = ric.copy()
            new[:, keep] = self.src_ric[:, keep]
            ric = reattach(new, ric, self.src_ric, c.keep, local=True)
        if self.weights is not None:
            idx = self.key_index
            # The root's place on the ground drifts as the model integrates its own velocities:
            # that correction is spread over the whole gap between keys (so the path bends
            # gradually towards a key instead of jumping near it), and facing turns with the
            # change of travel direction; the pose and height are pulled only near each key.
            d_ground = (c.key_joints[:, 0] - root[idx]) * np.array([1.0, 0.0, 1.0])
            before = root.copy()
            root += np.einsum("kt,kd->td", self.spread, d_ground)
            half -= _path_turn(root[:, [0, 2]], before) / 2.0
            d_height = (c.key_joints[:, 0, 1] - root[idx, 1])
            d_half = wrap_half(self.key_half - half[idx])
            d_ric = self.key_ric - ric[idx]
            w = self.weights
            root[:, 1] += w.T @ d_height
            half += w.T @ d_half
            ric += np.einsum("kt,kjd->tjd", w, d_ric)
        return half, root, ric

    def __call__(self, features: np.ndarray) -> np.ndarray:
        placed = self.world(features)
        # The model's own last prediction, before the pull: how well it followed by itself.
        self.unguided = compose(*placed)
        half, root, ric = self.impose(*placed)
        # Back into the features' frame: frame 0 at the origin, facing +Z.
        theta = -2.0 * half[0]
        shift = root[0].copy()
        shift[1] = 0.0
        back = Q.rotate(np.broadcast_to(yaw_about(-theta), (len(root), 4)), root - shift)
        back[0, [0, 2]] = 0.0
        return encode(features, half - half[0], back, ric)

    def placement(self, features: np.ndarray) -> tuple[float, np.ndarray]:
        """(theta, t) of the final features: frame 0's world yaw and ground position."""
        half, root, ric = self.impose(*self.world(features))
        return -2.0 * half[0], root[0, [0, 2]]


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


# ---------------------------------------------------------------------------------------------
# The exact projection on finished joints

def frame_steps(joints: np.ndarray) -> np.ndarray:
    """(T-1,) the largest one-frame move of any joint between consecutive frames."""
    return np.linalg.norm(np.diff(joints, axis=0), axis=-1).max(axis=-1)


def typical_step(joints: np.ndarray) -> float:
    """The motion's typical one-frame step: the median of frame_steps (a floor of 5 mm)."""
    if len(joints) < 2:
        return 0.005
    return max(float(np.median(frame_steps(joints))), 0.005)


def momentum_profile(reach: int) -> np.ndarray:
    """(reach + 1,) h(1..reach+1): 1 at the first frame (so the first step carries the whole
    velocity difference), then fading smoothly to 0 (the model's own motion takes over)."""
    t = np.arange(1, reach + 2, dtype=np.float64)
    return t * smooth_weight((t - 1) / reach)


def carry_velocity(out: np.ndarray, key_index: np.ndarray, at: int, forward: bool, keep_root: bool = False) -> None:
    """In place: make the one-frame step out of frame `at` (forward) or into it (backward) the
    given motion's own step there (the frame after / before `at` is a known frame too), faded
    out over MOMENTUM_FRAMES so a continuation carries the given velocity on instead of changing
    it at the join. Frame `at` and every other known frame stay exactly where they are."""
    sign = 1 if forward else -1
    known = set(int(k) for k in key_index)
    if at - sign not in known:
        return
    # Free frames on the open side of `at`, up to the next known frame (which must not move).
    free = 0
    while 0 <= at + sign * (free + 1) < len(out) and at + sign * (free + 1) not in known:
        free += 1
    reach = min(MOMENTUM_FRAMES, free - 1)
    if reach < 1:
        return
    given = (out[at] - out[at - sign]) * sign
    made = (out[at + sign] - out[at]) * sign
    miss = given - made
    if keep_root:  # a path sets the root on the ground: only the body around it carries on
        miss[:, [0, 2]] -= miss[:1, [0, 2]]
    h = momentum_profile(reach)
    frames = at + sign * np.arange(1, reach + 2)
    out[frames] += sign * h[:, None, None] * miss[None]


def project(joints: np.ndarray, c: Constraints, clean_feet: bool = False, fps: float = 20.0) -> np.ndarray:
    """The finished motion over the sampled timeline (total, 22, 3), world placed -> the output
    (frames, 22, 3) with the constraints met exactly."""
    from momug.motion.cleanup import clean_foot_contacts

    out = np.array(joints, dtype=np.float64)
    if c.path is not None:
        sl = slice(c.lead, c.lead + c.frames)
        shift = c.path - out[sl, 0][:, [0, 2]]
        out[sl, :, 0] += shift[:, None, 0]
        out[sl, :, 2] += shift[:, None, 1]
    if len(c.key_frames):
        idx = c.key_frames + c.lead
        # Where the body stands on the ground: spread over the whole gap between keys, before
        # the feet are held, so planted feet stay planted through it.
        ground = (c.key_joints[:, 0] - out[idx, 0]) * np.array([1.0, 0.0, 1.0])
        out += np.einsum("kt,kd->td", key_weights(idx, c.total, np.inf), ground)[:, None, :]
    if clean_feet:
        out = clean_foot_contacts(out, fps)
    if len(c.key_frames):
        step = typical_step(out)
        # The rest (pose, height) near each key, over enough frames to add at most half a typical
        # step per frame (a cosine fade of length r adds at most pi/2 * |delta| / r per frame).
        delta = c.key_joints - out[idx]
        need = np.linalg.norm(delta, axis=-1).max(axis=-1) * math.pi / step
        reach = np.maximum(np.ceil(need), MIN_REACH)
        out += np.einsum("kt,kjd->tjd", key_weights(idx, c.total, reach), delta)
        out[idx] = c.key_joints  # exact, not merely within rounding
        if c.lead >= 2:
            carry_velocity(out, idx, c.lead - 1, forward=True, keep_root=c.path is not None)
        if c.tail >= 1:
            carry_velocity(out, idx, c.lead + c.frames - 1, forward=False, keep_root=c.path is not None)
    out = out[c.lead:c.lead + c.frames]
    if c.is_edit:
        src = np.asarray(c.source, dtype=np.float64)
        new = out.copy()
        keep = list(c.keep)
        new[:, keep] = src[:, keep]
        new[:, 0] = src[:, 0]
        out = reattach(new, out, src, c.keep)
        final = out.astype(np.float32)
        final[:, keep] = c.source[:, keep]  # bit for bit
        final[:, 0] = c.source[:, 0]
        return final
    return out.astype(np.float32)


# ---------------------------------------------------------------------------------------------
# Continuing a motion with the streaming model

STREAM_FADE_FRAMES = 10


class StreamJoin:
    """Places streamed frames so they carry on from a given motion, frame by frame as they come:
    the whole stream turned and moved so its first frame stands one step past the given motion's
    end (root and facing), then the first frame's remaining pose difference faded out over
    STREAM_FADE_FRAMES. Causal (each frame needs only the first one), so frames already sent
    never change. The streaming model itself does not see the given motion."""

    def __init__(self, before):
        before = _finite_array(before, (NUM_JOINTS, 3), "the motion to continue", min_len=2)
        # Where the next frame would be if the motion went on as it ends.
        self.target = 2.0 * before[-1] - before[-2]
        speed = np.linalg.norm(before[-1] - before[-2], axis=-1).max() * 20.0
        if speed > MAX_JOINT_SPEED + MAX_ROOT_SPEED:
            raise ConstraintError(f"the motion to continue ends moving {speed:.1f} m/s; is it at 20 fps?")
        self.turn = None
        self.sent = 0

    def __call__(self, joints: np.ndarray) -> np.ndarray:
        joints = np.asarray(joints, dtype=np.float64)
        if self.turn is None:
            first = joints[0]
            theta = -2.0 * wrap_half(facing_half(self.target) - facing_half(first))
            self.turn = yaw_about(theta)
            turned = Q.rotate(np.broadcast_to(self.turn, first.shape[:-1] + (4,)), first)
            self.shift = (self.target[0] - turned[0]) * np.array([1.0, 0.0, 1.0])
            self.delta = self.target - (turned + self.shift)
        out = Q.rotate(np.broadcast_to(self.turn, joints.shape[:-1] + (4,)), joints) + self.shift
        k = np.arange(self.sent, self.sent + len(joints))
        out += smooth_weight(k / STREAM_FADE_FRAMES)[:, None, None] * self.delta[None]
        self.sent += len(joints)
        return out


__all__ = ["StreamJoin", "BODY_PARTS", "ConstraintError", "Constraints", "Guide", "build", "frame_steps", "load_keys_file",
           "load_motion_joints", "load_path_file", "parse_keep", "project", "read_path", "typical_step"]
