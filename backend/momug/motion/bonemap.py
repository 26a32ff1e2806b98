"""Bone maps: which bone of another rig stands for each SMPL-22 joint.

Presets live in rigs/bonemaps/*.json:
  {"name", "description", "bones": {smpl_joint: [candidate bone names, best first]},
   optional "prefixes" (stripped from rig bone names, optionally followed by digits),
   "signature" (bone names typical of this rig; they only break ties in auto-detection), "notes",
   "keying_only" (true: a map onto animation controls for the Blender add-on to key, e.g. a
   generated Rigify rig's FK controls; their heads are not all at the joints and they do not
   show an IK-animated pose, so motion is never read through it: auto-detection skips it and
   naming it here is an error)}
Joints are resolved in the order the preset lists them; each takes its first candidate present
in the rig, and a bone serves one joint at most.

Matching ignores case, separators (space _ - .) and a namespace before ':' or '|'
("mixamorig:LeftUpLeg", "Armature|LeftUpLeg" and "left_up_leg" all match "LeftUpLeg").

A joint's position is the head of its bone. Required joints must be found; optional ones
(see OPTIONAL_JOINTS) are placed from their neighbours by complete_joints().

A skeleton no preset maps completely is mapped automatically from its names and hierarchy
(momug.motion.automap, the same file the Blender add-on uses) when its parents are given;
a named preset (--rig) never falls back.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np

from momug.errors import MomugError
from momug.motion import automap as _automap
from momug.motion.skeleton import SMPL22_NAMES
from momug.rigs import rigs_dir

REQUIRED_JOINTS: tuple[str, ...] = (
    "pelvis", "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle",
    "left_shoulder", "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist",
)
# At least one joint of each group must be found; the others are interpolated.
REQUIRED_ANY: tuple[tuple[str, ...], ...] = (("spine1", "spine2", "spine3"), ("neck", "head"))
OPTIONAL_JOINTS: tuple[str, ...] = (
    "spine1", "spine2", "spine3", "neck", "head", "left_collar", "right_collar", "left_foot", "right_foot",
)

_SEPARATORS = re.compile(r"[\s_\-.]+")


def normalize_bone_name(name: str) -> str:
    """Lower case, namespace (before the last ':' or '|') removed, separators removed."""
    name = re.split(r"[:|]", name.strip())[-1]
    return _SEPARATORS.sub("", name.lower())


@dataclass(frozen=True)
class BoneMapPreset:
    name: str
    description: str
    bones: dict  # smpl joint -> tuple of candidate bone names
    prefixes: tuple[str, ...] = ()
    signature: tuple[str, ...] = ()
    notes: str = ""
    keying_only: bool = False


@dataclass
class BoneMapping:
    """The result of matching a preset against a rig's bone names."""

    preset: str
    bones: dict[str, str]  # smpl joint -> rig bone name, in SMPL-22 order
    exact: int = 0  # how many bones matched a candidate exactly (tie-breaker)
    signature: int = 0  # how many signature bones the rig has (tie-breaker)
    tried: dict[str, tuple[str, ...]] = field(default_factory=dict)  # candidates per joint
    notes: list[str] = field(default_factory=list)  # how an automatic map was made

    @property
    def unmapped(self) -> list[str]:
        """SMPL-22 joints with no bone (optional ones are interpolated)."""
        return [j for j in SMPL22_NAMES if j not in self.bones]

    @property
    def missing_required(self) -> list[str]:
        """Required joints (or 'a|b' groups needing one of them) that were not found."""
        missing = [j for j in REQUIRED_JOINTS if j not in self.bones]
        for group in REQUIRED_ANY:
            if not any(j in self.bones for j in group):
                missing.append("|".join(group))
        return missing

    @property
    def complete(self) -> bool:
        return not self.missing_required

    def score(self) -> tuple:
        return (self.complete, len(self.bones), self.signature, self.exact)

    def describe_missing(self) -> str:
        parts = []
        for item in self.missing_required:
            names = item.split("|")
            looked = [c for n in names for c in self.tried.get(n, ())]
            label = " or ".join(names)
            parts.append(f"{label} (looked for {', '.join(looked)})" if looked else f"{label} (no candidates in the preset)")
        return "; ".join(parts)


def bonemaps_dir() -> Path:
    return rigs_dir() / "bonemaps"


def list_presets() -> list[str]:
    return sorted(p.stem for p in bonemaps_dir().glob("*.json"))


def _preset_from_json(data: dict, where: str) -> BoneMapPreset:
    try:
        bones = {str(k): tuple(str(c) for c in v) for k, v in data["bones"].items()}
        name = str(data.get("name", Path(where).stem))
    except (KeyError, TypeError, AttributeError) as exc:
        raise MomugError(f"bone map {where} is malformed: it needs a 'bones' object of lists ({exc})") from None
    unknown = [k for k in bones if k not in SMPL22_NAMES]
    if unknown:
        raise MomugError(f"bone map {where} names joints that SMPL-22 does not have: {', '.join(unknown)}")
    return BoneMapPreset(
        name=name,
        description=str(data.get("description", "")),
        bones=bones,
        prefixes=tuple(data.get("prefixes", ())),
        signature=tuple(data.get("signature", ())),
        notes=str(data.get("notes", "")),
        keying_only=bool(data.get("keying_only", False)),
    )


@lru_cache(maxsize=None)
def _load_preset_file(path: str) -> BoneMapPreset:
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except (OSError, json.JSONDecodeError) as exc:
        raise MomugError(f"cannot read bone map {path}: {exc}") from None
    return _preset_from_json(data, path)


def load_preset(name: str) -> BoneMapPreset:
    """A preset by name (e.g. 'mixamo') or a path to a bone map .json file."""
    path = Path(name)
    if path.suffix.lower() == ".json" and path.is_file():
        return _load_preset_file(str(path.resolve()))
    candidate = bonemaps_dir() / f"{name}.json"
    if not candidate.is_file():
        raise MomugError(f"unknown rig preset '{name}'; known presets: {', '.join(list_presets())} "
                         "(or give a path to a bone map .json)")
    return _load_preset_file(str(candidate))


def _lookup_table(bone_names, prefixes) -> dict[str, str]:
    """normalized key -> bone name; keys without a preset prefix rank after the plain ones."""
    table: dict[str, str] = {}
    for bone in bone_names:
        table.setdefault(normalize_bone_name(bone), bone)
    norm_prefixes = [normalize_bone_name(p) for p in prefixes if normalize_bone_name(p)]
    for bone in bone_names:
        key = normalize_bone_name(bone)
        for p in norm_prefixes:
            if key.startswith(p) and len(key) > len(p):
                rest = key[len(p):]
                table.setdefault(rest.lstrip("0123456789") or rest, bone)
    return table


def match_preset(preset: BoneMapPreset, bone_names) -> BoneMapping:
    bone_names = list(bone_names)
    table = _lookup_table(bone_names, preset.prefixes)
    used: set[str] = set()
    found: dict[str, str] = {}
    exact = 0
    for joint, candidates in preset.bones.items():
        for cand in candidates:
            bone = table.get(normalize_bone_name(cand))
            if bone is not None and bone not in used:
                found[joint] = bone
                used.add(bone)
                exact += bone == cand
                break
    present = {normalize_bone_name(b) for b in bone_names}
    signature = sum(normalize_bone_name(s) in present for s in preset.signature)
    ordered = {j: found[j] for j in SMPL22_NAMES if j in found}
    return BoneMapping(preset.name, ordered, exact, signature, dict(preset.bones))


def rank_presets(bone_names) -> list[BoneMapping]:
    """Every preset that reads motion (not the add-on's keying-only maps) matched against the
    bone names, best first."""
    bone_names = list(bone_names)
    presets = [load_preset(name) for name in list_presets()]
    mappings = [match_preset(p, bone_names) for p in presets if not p.keying_only]
    return sorted(mappings, key=lambda m: m.score(), reverse=True)


def detect_preset(bone_names) -> BoneMapping:
    """The best-matching preset's mapping (complete or not; see resolve_bone_map)."""
    return rank_presets(bone_names)[0]


def resolve_bone_map(bone_names, rig: str | None = None, parents=None, positions=None,
                     up=None) -> BoneMapping:
    """Map bone names onto SMPL-22 with the named preset (or path), or the best complete preset,
    or else automatically from names and hierarchy (needs parents: index or name per bone;
    positions (J, 3), any units and axes, tell left from right when names do not).
    Raises MomugError naming the joints or the chain that could not be mapped."""
    bone_names = list(bone_names)
    if rig:
        preset = load_preset(rig)
        if preset.keying_only:
            raise MomugError(
                f"the '{preset.name}' bone map is for keying a rig's animation controls in Blender, "
                "not for reading motion from a skeleton; for a generated Rigify rig use 'rigify' "
                "(its DEF- bones)")
        mapping = match_preset(preset, bone_names)
        if not mapping.complete:
            raise MomugError(
                f"cannot map the skeleton onto SMPL-22 with the '{mapping.preset}' bone map: "
                f"no bone found for {mapping.describe_missing()}. "
                f"The skeleton's bones are: {_short_list(bone_names)}")
        return mapping
    ranked = rank_presets(bone_names)
    best = ranked[0]
    if best.complete:
        return best
    auto_error = "no bone parents were given to map it automatically"
    if parents is not None:
        try:
            return auto_bone_map(bone_names, parents, positions, up)
        except MomugError as exc:
            auto_error = str(exc)
    tried = ", ".join(f"{m.preset} ({len(m.bones)}/22)" for m in ranked)
    raise MomugError(
        f"no bone map fits this skeleton ({auto_error}); no preset is "
        f"complete (closest: '{best.preset}', which found no bone for {best.describe_missing()}; "
        f"tried {tried}). The skeleton's bones are: {_short_list(bone_names)}. Name a preset "
        f"with --rig, or write a bone map .json (see {bonemaps_dir()}) and pass its path to --rig")


def auto_bone_map(bone_names, parents, positions=None, up=None) -> BoneMapping:
    """The automatic map (momug.motion.automap) as a BoneMapping named 'auto'."""
    try:
        result = _automap.automap(bone_names, parents, positions, up)
    except _automap.AutoMapError as exc:
        raise MomugError(str(exc)) from None
    return BoneMapping("auto", dict(result.bones), notes=list(result.notes))


def _short_list(names, limit: int = 60) -> str:
    names = list(names)
    text = ", ".join(names[:limit])
    return text + (f", ... ({len(names) - limit} more)" if len(names) > limit else "")


# ----------------------------------------------------------------------------------------------
# Filling in optional joints

# Distances along the SMPL-22 rest spine (metres), used to place missing spine/neck/head joints.
_SPINE_CHAIN = ("pelvis", "spine1", "spine2", "spine3", "neck", "head")


def _spine_arc() -> dict[str, float]:
    from momug.motion.skeleton import smpl22

    sk = smpl22()
    arc, total = {}, 0.0
    for name in _SPINE_CHAIN:
        j = sk.index(name)
        if sk.parents[j] >= 0:
            total += float(np.linalg.norm(sk.offsets[j]))
        arc[name] = total
    return arc


def _lerp_by_arc(arc, a: str, b: str, target: str, pa: np.ndarray, pb: np.ndarray) -> np.ndarray:
    t = (arc[target] - arc[a]) / (arc[b] - arc[a])
    return pa + t * (pb - pa)


def complete_joints(positions: dict[str, np.ndarray]) -> np.ndarray:
    """SMPL-22 joint positions (T, 22, 3) from the mapped ones ({joint: (T, 3)}), placing missing
    optional joints from their neighbours (Y up, body facing as the hips say):
      spine1/2/3, neck: along the line between the nearest found spine joints, at SMPL-22 proportions;
      head: the neck-spine3 direction continued; collars: between spine3, neck and the shoulder;
      feet (toes): in front of and below the ankle, along the facing direction of the hips."""
    from momug.motion.skeleton import smpl22

    missing = [j for j in REQUIRED_JOINTS if j not in positions]
    for group in REQUIRED_ANY:
        if not any(j in positions for j in group):
            missing.append("|".join(group))
    if missing:
        raise MomugError(f"cannot build SMPL-22 joints: missing {', '.join(missing)}")
    pos = {k: np.asarray(v, dtype=np.float64) for k, v in positions.items()}
    arc = _spine_arc()

    def nearest(name: str, direction: int) -> str | None:
        i = _SPINE_CHAIN.index(name) + direction
        while 0 <= i < len(_SPINE_CHAIN):
            if _SPINE_CHAIN[i] in pos:
                return _SPINE_CHAIN[i]
            i += direction
        return None

    # Spine chain: interpolate where there are found joints on both sides, then extrapolate
    # upwards (neck, head) from the two highest.
    for name in ("spine1", "spine2", "spine3", "neck"):
        if name in pos:
            continue
        below, above = nearest(name, -1), nearest(name, +1)
        if below is not None and above is not None:
            pos[name] = _lerp_by_arc(arc, below, above, name, pos[below], pos[above])
    for name in ("neck", "head"):
        if name in pos:
            continue
        top = nearest(name, -1)
        lower = nearest(top, -1)
        pos[name] = _lerp_by_arc(arc, lower, top, name, pos[lower], pos[top])

    for side in ("left", "right"):
        collar, shoulder = f"{side}_collar", f"{side}_shoulder"
        if collar not in pos:
            # Weights that reproduce the SMPL-22 rest collar from spine3, neck and shoulder.
            pos[collar] = 0.31 * pos["spine3"] + 0.26 * pos["neck"] + 0.43 * pos[shoulder]

    sk = smpl22()
    rest_leg = sum(np.linalg.norm(sk.offsets[sk.index(n)]) for n in ("left_knee", "left_ankle"))
    up = np.array([0.0, 1.0, 0.0])
    across = pos["left_hip"] - pos["right_hip"]
    forward = np.cross(across, up)
    forward /= np.maximum(np.linalg.norm(forward, axis=-1, keepdims=True), 1e-9)
    for side in ("left", "right"):
        foot, ankle = f"{side}_foot", f"{side}_ankle"
        if foot in pos:
            continue
        leg = (np.linalg.norm(pos[f"{side}_knee"] - pos[f"{side}_hip"], axis=-1)
               + np.linalg.norm(pos[ankle] - pos[f"{side}_knee"], axis=-1))
        scale = np.median(leg) / rest_leg
        rest_foot = sk.offsets[sk.index(foot)]
        pos[foot] = pos[ankle] + scale * (rest_foot[2] * forward + rest_foot[1] * up)

    return np.stack([pos[name] for name in SMPL22_NAMES], axis=1)
