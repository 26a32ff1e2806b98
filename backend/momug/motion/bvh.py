"""BVH motion files: read any skeleton, write SMPL-22.

Reading conventions (the common BVH ones):
- Rotation channels are Euler angles in degrees, applied in the order they are listed:
  "Zrotation Xrotation Yrotation" means R = Rz * Rx * Ry (intrinsic), whatever the order or count.
- Position channels replace the joint's OFFSET for that frame (on the root: its world position).
  A joint without position channels sits at its OFFSET from the parent.
- Units and axes are whatever the file uses; no scaling happens here (see momug.motion.convert).

Writing: SMPL-22 in our conventions (metres, Y up, body facing +Z), root channels
"Xposition Yposition Zposition Zrotation Xrotation Yrotation", other joints
"Zrotation Xrotation Yrotation" (ZXY, as in the CMU and most Y-up BVH files). The root's
OFFSET is written as zero, so readers that add the offset to the root position and readers
that replace it agree.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from scipy.spatial.transform import Rotation

from momug.errors import MomugError
from momug.motion import quaternion as Q
from momug.motion.skeleton import Skeleton, smpl22

_AXES = {"x": np.array([1.0, 0.0, 0.0]), "y": np.array([0.0, 1.0, 0.0]), "z": np.array([0.0, 0.0, 1.0])}
_CHANNEL_NAMES = {f"{a}{kind}" for a in "xyz" for kind in ("position", "rotation")}

# End Site offsets written after SMPL-22 leaves (metres), so importers give leaf bones a length.
_SMPL_END_SITES = {
    "head": (0.0, 0.10, 0.02),
    "left_foot": (0.0, 0.0, 0.05),
    "right_foot": (0.0, 0.0, 0.05),
    "left_wrist": (0.08, 0.0, 0.0),
    "right_wrist": (-0.08, 0.0, 0.0),
}


@dataclass
class BvhMotion:
    """The content of a BVH file, in the file's own units and axes."""

    names: list[str]
    parents: list[int]  # parents come before children; roots have -1
    offsets: np.ndarray  # (J, 3) rest offsets from the parent
    channels: list[list[str]]  # per joint, as written, e.g. ["Xposition", ..., "Yrotation"]
    rotations: np.ndarray  # (T, J, 4) local quaternions w,x,y,z
    root_positions: np.ndarray  # (T, 3) position of the first root
    frame_time: float  # seconds per frame
    positions: np.ndarray | None = None  # (T, J, 3) local translations, only if any non-root joint has position channels
    end_sites: list[tuple[int, np.ndarray]] = field(default_factory=list)  # (parent joint, offset)

    @property
    def num_frames(self) -> int:
        return int(self.rotations.shape[0])

    @property
    def num_joints(self) -> int:
        return len(self.names)

    @property
    def fps(self) -> float:
        return 1.0 / self.frame_time

    def skeleton(self) -> Skeleton:
        return Skeleton(tuple(self.names), tuple(self.parents), np.asarray(self.offsets, dtype=np.float64))

    def local_translations(self) -> np.ndarray:
        """(T, J, 3): each joint's translation from its parent (offset or position channels)."""
        if self.positions is not None:
            return self.positions
        local = np.broadcast_to(self.offsets, (self.num_frames,) + self.offsets.shape).copy()
        root = self.parents.index(-1)
        local[:, root] = self.root_positions
        return local

    def world_positions(self) -> np.ndarray:
        """World joint positions (T, J, 3) by forward kinematics with the file's own offsets."""
        local = self.local_translations()
        T, J = self.num_frames, self.num_joints
        pos = np.zeros((T, J, 3))
        glob = np.zeros((T, J, 4))
        for j, p in enumerate(self.parents):
            if p < 0:
                glob[:, j] = self.rotations[:, j]
                pos[:, j] = local[:, j]
            else:
                glob[:, j] = Q.mul(glob[:, p], self.rotations[:, j])
                pos[:, j] = pos[:, p] + Q.rotate(glob[:, p], local[:, j])
        return pos

    def rest_positions(self) -> np.ndarray:
        """World rest positions (J, 3) from the offsets alone (roots at their offset)."""
        return self.skeleton().rest_joints()

    def rest_extent(self) -> float:
        """Largest side of the rest pose's bounding box, end sites included (a size in file units)."""
        rest = self.rest_positions()
        points = [rest] + [rest[p][None] + off[None] for p, off in self.end_sites]
        points = np.concatenate(points, axis=0)
        return float(np.max(points.max(axis=0) - points.min(axis=0)))


# ----------------------------------------------------------------------------------------------
# Reading


class _Tokens:
    """Hierarchy tokens with their line numbers; joint names take the rest of their line."""

    def __init__(self, lines: list[str], where: str):
        self.where = where
        self.items: list[tuple[str, int]] = []
        self.motion_line = None  # index into lines where MOTION starts
        for i, line in enumerate(lines):
            parts = line.split()
            if not parts:
                continue
            if parts[0].upper() == "MOTION":
                self.motion_line = i
                break
            if parts[0].upper() in ("ROOT", "JOINT"):
                rest = line.strip()[len(parts[0]):].strip()
                brace = rest.endswith("{")
                name = rest[:-1].strip() if brace else rest
                self.items.append((parts[0].upper(), i + 1))
                self.items.append((name, i + 1))
                if brace:
                    self.items.append(("{", i + 1))
                continue
            for part in parts:
                # Tolerate "{" or "}" glued to a keyword, e.g. "Site{".
                for piece in _split_braces(part):
                    self.items.append((piece, i + 1))
        self.pos = 0
        self.last_line = len(lines)

    def error(self, message: str, line: int | None = None) -> MomugError:
        if line is None:
            line = self.items[self.pos][1] if self.pos < len(self.items) else self.last_line
        return MomugError(f"{self.where}: line {line}: {message}")

    def peek(self) -> str | None:
        return self.items[self.pos][0] if self.pos < len(self.items) else None

    def next(self, what: str) -> tuple[str, int]:
        if self.pos >= len(self.items):
            raise self.error(f"unexpected end of the hierarchy, expected {what}")
        item = self.items[self.pos]
        self.pos += 1
        return item

    def expect(self, word: str):
        token, line = self.next(f"'{word}'")
        if token.upper() != word.upper():
            raise self.error(f"expected '{word}', found '{token}'", line)

    def number(self, what: str) -> float:
        token, line = self.next(what)
        try:
            value = float(token)
        except ValueError:
            raise self.error(f"expected a number for {what}, found '{token}'", line) from None
        if not np.isfinite(value):
            raise self.error(f"{what} is not a finite number: '{token}'", line)
        return value


def _split_braces(token: str) -> list[str]:
    out, current = [], ""
    for ch in token:
        if ch in "{}":
            if current:
                out.append(current)
            out.append(ch)
            current = ""
        else:
            current += ch
    if current:
        out.append(current)
    return out


def _parse_hierarchy(tokens: _Tokens):
    names, parents, offsets, channels, end_sites = [], [], [], [], []
    first_line: dict[str, int] = {}

    def parse_joint(parent: int, keyword_line: int):
        name, line = tokens.next("a joint name")
        if not name or name in "{}":
            raise tokens.error("a joint needs a name", line)
        if name in first_line:
            raise tokens.error(
                f"joint name '{name}' is used twice (first on line {first_line[name]}); "
                "joint names must be unique", line)
        first_line[name] = line
        index = len(names)
        names.append(name)
        parents.append(parent)
        offsets.append(None)
        channels.append([])
        tokens.expect("{")
        while True:
            token, line = tokens.next(f"'}}' closing joint '{name}'")
            key = token.upper()
            if key == "OFFSET":
                offsets[index] = [tokens.number(f"OFFSET of '{name}'") for _ in range(3)]
            elif key == "CHANNELS":
                count_token, count_line = tokens.next("a channel count")
                try:
                    count = int(count_token)
                except ValueError:
                    raise tokens.error(f"expected a channel count for '{name}', found '{count_token}'", count_line) from None
                if count < 0 or count > 6:
                    raise tokens.error(f"joint '{name}' has {count} channels; a BVH joint has 0 to 6", count_line)
                for _ in range(count):
                    ch, ch_line = tokens.next(f"{count} channel names for '{name}'")
                    if ch.lower() not in _CHANNEL_NAMES:
                        raise tokens.error(
                            f"joint '{name}' declares {count} channels but '{ch}' is not a channel name "
                            "(Xposition .. Zrotation)", ch_line)
                    channels[index].append(ch)
                if len({c.lower() for c in channels[index]}) != count:
                    raise tokens.error(f"joint '{name}' lists a channel twice: {' '.join(channels[index])}", line)
            elif key in ("JOINT", "ROOT"):
                if key == "ROOT":
                    raise tokens.error(f"ROOT inside joint '{name}'", line)
                parse_joint(index, line)
            elif key == "END":
                tokens.expect("Site")
                tokens.expect("{")
                tokens.expect("OFFSET")
                site = [tokens.number("End Site OFFSET") for _ in range(3)]
                tokens.expect("}")
                end_sites.append((index, np.array(site)))
            elif key == "}":
                break
            else:
                raise tokens.error(f"unexpected '{token}' in joint '{name}'", line)
        if offsets[index] is None:
            raise tokens.error(f"joint '{name}' has no OFFSET", keyword_line)

    tokens.expect("HIERARCHY")
    while tokens.peek() is not None:
        keyword, line = tokens.next("ROOT")
        if keyword.upper() != "ROOT":
            raise tokens.error(f"expected ROOT, found '{keyword}'", line)
        parse_joint(-1, line)
    if not names:
        raise tokens.error("the hierarchy has no joints")
    return names, parents, np.array(offsets, dtype=np.float64), channels, end_sites


def _header_value(lines: list[str], i: int, label: str, where: str) -> tuple[str, int]:
    """Find 'label: value' at or after line i (skipping blanks); return value text and next index."""
    while i < len(lines) and not lines[i].strip():
        i += 1
    if i >= len(lines):
        raise MomugError(f"{where}: line {i}: file ends before '{label}:'")
    line = lines[i].strip()
    if not line.lower().startswith(label.lower()):
        raise MomugError(f"{where}: line {i + 1}: expected '{label}: ...', found '{line[:40]}'")
    value = line[len(label):].lstrip(" :\t")
    return value, i + 1


def _euler_channels_to_quaternions(values: np.ndarray, axes: list[str]) -> np.ndarray:
    """values (T, k) degrees for rotation channels about axes (k,), applied in listed order."""
    T = values.shape[0]
    q = Q.identity((T,))
    for i, axis in enumerate(axes):
        q = Q.mul(q, Q.from_axis_angle(np.broadcast_to(_AXES[axis], (T, 3)), np.radians(values[:, i])))
    return q


def parse_bvh(text: str, where: str = "<bvh>") -> BvhMotion:
    lines = text.splitlines()
    tokens = _Tokens(lines, where)
    names, parents, offsets, channels, end_sites = _parse_hierarchy(tokens)
    if tokens.motion_line is None:
        raise MomugError(f"{where}: line {len(lines)}: the file has no MOTION section")

    frames_text, i = _header_value(lines, tokens.motion_line + 1, "Frames", where)
    try:
        num_frames = int(frames_text)
    except ValueError:
        raise MomugError(f"{where}: line {i}: 'Frames:' needs a whole number, found '{frames_text}'") from None
    if num_frames < 0:
        raise MomugError(f"{where}: line {i}: negative frame count {num_frames}")
    time_text, i = _header_value(lines, i, "Frame Time", where)
    try:
        frame_time = float(time_text)
    except ValueError:
        raise MomugError(f"{where}: line {i}: 'Frame Time:' needs a number, found '{time_text}'") from None
    if not (np.isfinite(frame_time) and frame_time > 0):
        raise MomugError(f"{where}: line {i}: 'Frame Time:' must be positive, found {time_text}")

    num_channels = sum(len(c) for c in channels)
    data = np.zeros((num_frames, num_channels))
    frame = 0
    while frame < num_frames and i < len(lines):
        line = lines[i]
        i += 1
        parts = line.split()
        if not parts:
            continue
        if len(parts) != num_channels:
            raise MomugError(
                f"{where}: line {i}: frame {frame + 1} has {len(parts)} values, but the hierarchy "
                f"declares {num_channels} channels")
        try:
            row = [float(p) for p in parts]
        except ValueError:
            bad = next(p for p in parts if not _is_float(p))
            raise MomugError(f"{where}: line {i}: frame {frame + 1}: '{bad}' is not a number") from None
        if not all(np.isfinite(row)):
            raise MomugError(f"{where}: line {i}: frame {frame + 1} has a NaN or infinite value")
        data[frame] = row
        frame += 1
    if frame < num_frames:
        raise MomugError(
            f"{where}: line {len(lines)}: motion is truncated: the header says {num_frames} frames "
            f"but the file ends after {frame}")

    T, J = num_frames, len(names)
    rotations = np.zeros((T, J, 4))
    local = np.broadcast_to(offsets, (T, J, 3)).copy()
    has_positions = False
    col = 0
    for j, chans in enumerate(channels):
        rot_axes, rot_cols = [], []
        for c in chans:
            axis, kind = c[0].lower(), c[1:].lower()
            if kind == "position":
                local[:, j, "xyz".index(axis)] = data[:, col]
                if parents[j] >= 0:
                    has_positions = True
            else:
                rot_axes.append(axis)
                rot_cols.append(col)
            col += 1
        rotations[:, j] = _euler_channels_to_quaternions(data[:, rot_cols], rot_axes)
    root = parents.index(-1)
    return BvhMotion(
        names=names,
        parents=parents,
        offsets=offsets,
        channels=channels,
        rotations=rotations,
        root_positions=local[:, root].copy(),
        frame_time=frame_time,
        positions=local if has_positions or parents.count(-1) > 1 else None,
        end_sites=end_sites,
    )


def _is_float(text: str) -> bool:
    try:
        float(text)
        return True
    except ValueError:
        return False


def read_bvh(path: str | os.PathLike) -> BvhMotion:
    path = Path(path)
    if not path.is_file():
        raise MomugError(f"BVH file not found: {path}")
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise MomugError(f"cannot read {path}: {exc}") from None
    return parse_bvh(text, str(path))


# ----------------------------------------------------------------------------------------------
# Writing


def _quaternions_to_euler(q: np.ndarray, order: str) -> np.ndarray:
    """(N, 4) w,x,y,z -> (N, 3) degrees for intrinsic rotation order like "ZXY"."""
    xyzw = np.concatenate([q[..., 1:], q[..., :1]], axis=-1)
    with warnings.catch_warnings():
        # At gimbal lock scipy picks one of the equivalent angle sets; the rotation is still exact.
        warnings.simplefilter("ignore", UserWarning)
        return Rotation.from_quat(xyzw).as_euler(order.upper(), degrees=True)


def format_bvh(
    rotations: np.ndarray,
    root_translation: np.ndarray,
    fps: float = 20.0,
    skeleton: Skeleton | None = None,
    rotation_order: str = "ZXY",
) -> str:
    """BVH text for local rotations (T, J, 4) and root positions (T, 3) on a skeleton
    (default SMPL-22), in metres, Y up."""
    skeleton = skeleton or smpl22()
    rotations = Q.normalize(np.asarray(rotations, dtype=np.float64))
    root_translation = np.asarray(root_translation, dtype=np.float64)
    T, J = rotations.shape[:2]
    if J != skeleton.num_joints or rotations.shape[2:] != (4,):
        raise MomugError(f"rotations must be shaped (T, {skeleton.num_joints}, 4), got {rotations.shape}")
    if root_translation.shape != (T, 3):
        raise MomugError(f"root translation must be shaped ({T}, 3), got {root_translation.shape}")
    order = rotation_order.upper()
    if sorted(order) != ["X", "Y", "Z"]:
        raise MomugError(f"rotation order must be a permutation of XYZ, got {rotation_order!r}")
    rot_channels = " ".join(f"{a}rotation" for a in order)

    out = ["HIERARCHY"]

    def write_joint(j: int, depth: int):
        pad = "\t" * depth
        keyword = "ROOT" if skeleton.parents[j] < 0 else "JOINT"
        out.append(f"{pad}{keyword} {skeleton.names[j]}")
        out.append(f"{pad}{{")
        offset = np.zeros(3) if skeleton.parents[j] < 0 else skeleton.offsets[j]
        out.append(f"{pad}\tOFFSET {offset[0]:.6f} {offset[1]:.6f} {offset[2]:.6f}")
        if skeleton.parents[j] < 0:
            out.append(f"{pad}\tCHANNELS 6 Xposition Yposition Zposition {rot_channels}")
        else:
            out.append(f"{pad}\tCHANNELS 3 {rot_channels}")
        kids = skeleton.children(j)
        for c in kids:
            write_joint(c, depth + 1)
        if not kids:
            site = _SMPL_END_SITES.get(skeleton.names[j], (0.0, 0.05, 0.0))
            out.append(f"{pad}\tEnd Site")
            out.append(f"{pad}\t{{")
            out.append(f"{pad}\t\tOFFSET {site[0]:.6f} {site[1]:.6f} {site[2]:.6f}")
            out.append(f"{pad}\t}}")
        out.append(f"{pad}}}")

    # Write in depth-first order; the reader's joint order is then this order.
    for root in [j for j, p in enumerate(skeleton.parents) if p < 0]:
        write_joint(root, 0)
    order_of_writing = _depth_first(skeleton)

    euler = _quaternions_to_euler(rotations.reshape(-1, 4), order).reshape(T, J, 3)
    out.append("MOTION")
    out.append(f"Frames: {T}")
    out.append(f"Frame Time: {1.0 / fps:.8f}")
    for t in range(T):
        values = []
        for j in order_of_writing:
            if skeleton.parents[j] < 0:
                values.extend(f"{v:.6f}" for v in root_translation[t])
            values.extend(f"{v:.6f}" for v in euler[t, j])
        out.append(" ".join(values))
    return "\n".join(out) + "\n"


def _depth_first(skeleton: Skeleton) -> list[int]:
    order = []

    def visit(j):
        order.append(j)
        for c in skeleton.children(j):
            visit(c)

    for root in [j for j, p in enumerate(skeleton.parents) if p < 0]:
        visit(root)
    return order


def write_bvh(
    path: str | os.PathLike,
    rotations: np.ndarray,
    root_translation: np.ndarray,
    fps: float = 20.0,
    skeleton: Skeleton | None = None,
    rotation_order: str = "ZXY",
) -> Path:
    """Write a BVH (see format_bvh). Joints appear in depth-first order in the file."""
    path = Path(path)
    text = format_bvh(rotations, root_translation, fps, skeleton, rotation_order)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.part")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
    return path


def joints_in_order(bvh: BvhMotion, names: list[str] | tuple[str, ...]) -> np.ndarray:
    """World positions (T, len(names), 3) of the named joints, in that order."""
    world = bvh.world_positions()
    missing = [n for n in names if n not in bvh.names]
    if missing:
        raise MomugError(f"BVH has no joints named {', '.join(missing)}")
    return world[:, [bvh.names.index(n) for n in names]]
