"""Rig data from rigs/ (the SMPL-22 skeleton and bone-map presets) and bone-map detection.

The add-on cannot import the backend package, so this is its own small loader. rigs/ sits inside
the built extension; in a source checkout it is the repository's rigs/ next to blender_addon/.
A bone map is {smpl_joint_name: bone_name}; preset files hold candidate names per joint.
A rig no preset covers is mapped by the backend's automatic mapper (automap.py: names and
hierarchy), loaded by path: a copy inside the built extension, else the source checkout's
backend/momug/motion/automap.py. Saved maps and complete presets win over it.
"""

import importlib.util
import json
import os

import numpy as np

CUSTOM_MAP_KEY = "momug_bone_map"

# Joints a map must cover before we trust it for retargeting.
CORE_JOINTS = ("pelvis", "left_hip", "right_hip", "left_knee", "right_knee",
               "left_ankle", "right_ankle", "spine1")
# A preset covering these (as the backend requires) wins over the automatic map.
FULL_JOINTS = ("pelvis", "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle",
               "right_ankle", "left_shoulder", "right_shoulder", "left_elbow", "right_elbow",
               "left_wrist", "right_wrist")


class BoneMapError(Exception):
    pass


def rigs_dir():
    here = os.path.dirname(os.path.abspath(__file__))
    for path in (os.environ.get("MOMUG_RIGS"), os.path.join(here, "rigs"),
                 os.path.join(os.path.dirname(here), "rigs")):
        if path and os.path.isfile(os.path.join(path, "smpl22.json")):
            return path
    raise BoneMapError("rig data (rigs/smpl22.json) is missing from the add-on; reinstall it")


_automap = None


def automap_module():
    """The shared automap.py (pure Python + numpy), loaded once by path."""
    global _automap
    if _automap is None:
        here = os.path.dirname(os.path.abspath(__file__))
        for path in (os.path.join(here, "automap.py"),
                     os.path.join(os.path.dirname(here), "backend", "momug", "motion", "automap.py")):
            if os.path.isfile(path):
                spec = importlib.util.spec_from_file_location("momug_addon_automap", path)
                module = importlib.util.module_from_spec(spec)
                spec.loader.exec_module(module)
                _automap = module
                break
        else:
            raise BoneMapError("the automatic bone mapper (automap.py) is missing from the add-on; "
                               "reinstall it")
    return _automap


def auto_map(armature_obj):
    """The automatic map of an armature from bone names, parents and rest heads (world space;
    the mapper finds up from the feet and the head). Returns the mapper's result (.bones,
    .filled, .notes); raises BoneMapError naming the chain it could not find."""
    am = automap_module()
    bones = list(armature_obj.data.bones)
    mw = np.array(armature_obj.matrix_world)
    heads = np.array([tuple(b.head_local) for b in bones], dtype=np.float64).reshape(-1, 3)
    world = heads @ mw[:3, :3].T + mw[:3, 3]
    try:
        return am.automap([b.name for b in bones],
                          [b.parent.name if b.parent else None for b in bones], world)
    except am.AutoMapError as exc:
        raise BoneMapError(str(exc)) from None


def load_json(relative):
    with open(os.path.join(rigs_dir(), relative), encoding="utf-8") as f:
        return json.load(f)


class Skeleton:
    """Names, parents and Y-up rest offsets of the SMPL-22 skeleton (parents before children)."""

    def __init__(self, names, parents, offsets):
        self.names = list(names)
        self.parents = list(parents)
        self.offsets = np.asarray(offsets, dtype=np.float64)

    @classmethod
    def from_json(cls, data):
        joints = data["joints"]
        return cls([j["name"] for j in joints], [j["parent"] for j in joints],
                   [j["offset"] for j in joints])

    def index(self, name):
        return self.names.index(name)

    def children(self, j):
        return [c for c, p in enumerate(self.parents) if p == j]

    def rest_positions(self, offsets=None):
        offsets = self.offsets if offsets is None else np.asarray(offsets, dtype=np.float64)
        pos = np.zeros((len(self.names), 3))
        for j, p in enumerate(self.parents):
            pos[j] = offsets[j] if p < 0 else pos[p] + offsets[j]
        return pos


_skeleton = None


def smpl_skeleton():
    global _skeleton
    if _skeleton is None:
        _skeleton = Skeleton.from_json(load_json("smpl22.json"))
    return _skeleton


def preset_ids():
    """Preset file stems available in rigs/bonemaps/, plus the built-in 'smpl' naming."""
    ids = []
    try:
        folder = os.path.join(rigs_dir(), "bonemaps")
        ids = sorted(f[:-5] for f in os.listdir(folder) if f.endswith(".json"))
    except (OSError, BoneMapError):
        pass
    if "smpl" not in ids:
        ids.insert(0, "smpl")
    return ids


def load_preset(preset_id):
    """{'name', 'description', 'bones': {joint: [candidates]}}; 'smpl' falls back to joint names."""
    path = os.path.join(rigs_dir(), "bonemaps", preset_id + ".json")
    if os.path.isfile(path):
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    elif preset_id == "smpl":
        data = {"name": "SMPL", "description": "SMPL joint names", "bones": {}}
    else:
        raise BoneMapError(f"no bone map preset named {preset_id!r}")
    bones = {}
    for joint, cands in data.get("bones", {}).items():
        bones[joint] = [cands] if isinstance(cands, str) else list(cands)
    if preset_id == "smpl":
        # The add-on's own SMPL rig uses the joint names; accept them whatever the file says.
        for name in smpl_skeleton().names:
            bones.setdefault(name, [])
            if name not in bones[name]:
                bones[name].append(name)
    data["bones"] = bones
    return data


def _strip_namespace(name):
    # FBX imports prefix names ("mixamorig:Hips", "mixamorig1:Hips", "Armature|Hips").
    for sep in (":", "|"):
        if sep in name:
            name = name.rsplit(sep, 1)[1]
    return name.lower()


def match_preset(bone_names, preset):
    """Map each SMPL joint to the first candidate found among bone_names: exact, then
    case-insensitive, then ignoring FBX namespaces."""
    exact = set(bone_names)
    lower = {}
    bare = {}
    for b in bone_names:
        lower.setdefault(b.lower(), b)
        bare.setdefault(_strip_namespace(b), b)
    result = {}
    used = set()
    for joint in smpl_skeleton().names:
        for cand in preset["bones"].get(joint, []):
            bone = (cand if cand in exact else lower.get(cand.lower())
                    or bare.get(_strip_namespace(cand)))
            if bone and bone not in used:
                result[joint] = bone
                used.add(bone)
                break
    return result


def custom_map(armature_obj):
    raw = armature_obj.data.get(CUSTOM_MAP_KEY) if armature_obj.data else None
    if not raw:
        return None
    try:
        data = json.loads(raw)
    except (TypeError, ValueError):
        raise BoneMapError(f"the bone map saved on {armature_obj.name!r} is not valid JSON")
    names = set(armature_obj.data.bones.keys())
    return {j: b for j, b in data.items() if b in names}


def save_custom_map(armature_obj, bone_map):
    armature_obj.data[CUSTOM_MAP_KEY] = json.dumps(bone_map, sort_keys=True)


def detect(armature_obj):
    """Best preset for an armature: (preset_id, bone_map). Raises BoneMapError when none fits."""
    names = list(armature_obj.data.bones.keys())
    exact = set(names)
    lower = {n.lower() for n in names}
    best, best_score = (None, {}), (0, 0, 0)
    for pid in preset_ids():
        try:
            preset = load_preset(pid)
            found = match_preset(names, preset)
        except (OSError, ValueError, BoneMapError):
            continue
        # More joints first; among equals, the preset with more of its signature bones (a
        # generated Rigify rig has both the DEF- bones of 'rigify' and the controls of
        # 'rigify_generated'), then the one whose spelling matches exactly.
        signature = sum(1 for s in preset.get("signature", ()) if str(s).lower() in lower)
        score = (len(found), signature, sum(1 for j, b in found.items() if b in exact))
        if score > best_score:
            best, best_score = (pid, found), score
    pid, found = best
    if pid is not None and all(j in found for j in FULL_JOINTS) and (
            "spine1" in found or "spine2" in found or "spine3" in found):
        return pid, found
    try:
        return "auto", dict(auto_map(armature_obj).bones)
    except BoneMapError as exc:
        auto_error = str(exc)
    missing = [j for j in CORE_JOINTS if j not in found]
    if pid is not None and not missing:
        return pid, found  # a partial preset still drives the legs and spine, as before
    raise BoneMapError(
        f"could not recognise the bones of {armature_obj.name!r}: {auto_error} "
        f"(best preset guess {pid or 'none'}, missing {', '.join(missing) or 'all'}); "
        "pick a bone map preset or save a custom map on the rig")


def resolve(armature_obj, mode):
    """mode: 'AUTO', 'CUSTOM' or a preset id. Returns (label, bone_map, unmapped_joints, unmapped_bones)."""
    if mode == "CUSTOM":
        found = custom_map(armature_obj)
        if not found:
            raise BoneMapError(f"{armature_obj.name!r} has no saved custom bone map")
        label = "custom"
    elif mode == "AUTO":
        custom = custom_map(armature_obj)
        if custom:
            label, found = "custom", custom
        else:
            label, found = detect(armature_obj)
    else:
        found = match_preset(list(armature_obj.data.bones.keys()), load_preset(mode))
        label = mode
    # The automatic map has already checked the body; a rig without a lower spine bone is fine.
    core = [j for j in CORE_JOINTS if j != "spine1"] if label == "auto" else CORE_JOINTS
    missing = [j for j in core if j not in found]
    if missing:
        raise BoneMapError(
            f"bone map {label!r} leaves core joints of {armature_obj.name!r} unmapped: "
            + ", ".join(missing))
    unmapped_joints = [j for j in smpl_skeleton().names if j not in found]
    mapped = set(found.values())
    unmapped_bones = [b.name for b in armature_obj.data.bones if b.name not in mapped]
    return label, found, unmapped_joints, unmapped_bones
