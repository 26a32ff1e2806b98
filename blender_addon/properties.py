"""Per-scene settings of the panel, and the history of generations."""

import random

import bpy
from bpy.props import (BoolProperty, CollectionProperty, EnumProperty, FloatProperty,
                       IntProperty, PointerProperty, StringProperty)

from . import bonemaps

_bone_map_items = []
_LABELS = {"smpl": "SMPL", "mixamo": "Mixamo", "rigify": "Rigify metarig",
           "rigify_generated": "Rigify (generated rig)", "ue5_mannequin": "UE5 Mannequin",
           "smplx_addon": "SMPL-X add-on", "cmu_bvh": "CMU / BVH"}


def bone_map_items(self, context):
    # Blender needs the strings kept alive while the enum is shown.
    global _bone_map_items
    items = [("AUTO", "Auto-detect", "Recognise the rig by its bone names (a saved custom map wins)"),
             ("CUSTOM", "Custom (saved on rig)", "The bone map saved on the armature")]
    for pid in bonemaps.preset_ids():
        try:
            desc = bonemaps.load_preset(pid).get("description", "")[:200]
        except Exception:
            continue
        items.append((pid, _LABELS.get(pid, pid.replace("_", " ").title()), desc))
    _bone_map_items = items
    return _bone_map_items


# Settings a history entry remembers and "Load Settings" / "Regenerate" restore.
HISTORY_SETTINGS = ("prompt", "seconds", "seed", "model_guidance", "guidance", "steps", "clean_feet", "model",
                    "target", "bone_map", "root_motion", "translation_bone", "push_to_nla", "stream")

# The backend's shipped models (backend/momug/model/registry.py), sent as `model`. The opt-in one's
# description is its licence and how to accept it, so the user reads them before choosing it.
REAL_LICENCE = ("CC BY-NC 4.0: non-commercial use only, with attribution (Bandai-Namco Research Motion "
                "Dataset, (c) 2022 Bandai Namco Research Inc.)")
ACCEPT_COMMAND = "momug licence accept real"
MODEL_ITEMS = (
    ("default", "Default", "The shipped model, trained on procedural motion only (no licence of its own)"),
    ("real", "Real motion (CC BY-NC 4.0, opt-in)",
     "Trained on procedural and real motion (walks, runs, turns, waves, raised hands in many styles). "
     f"Licence {REAL_LICENCE}. Opt-in: accept its terms once on the backend's machine with "
     f"'{ACCEPT_COMMAND}'. No streaming mode"),
)

# The wire's hard limit (backend/momug/server/schema.py MAX_SECONDS); the loaded model's own
# limits come from /v1/health and are kept in limit_min_seconds / limit_max_seconds.
WIRE_MAX_SECONDS = 600.0
DEFAULT_SECONDS = 4.0


class MOMUG_PG_history(bpy.types.PropertyGroup):
    prompt: StringProperty(name="Prompt")
    seconds: FloatProperty(name="Seconds")
    seed: IntProperty(name="Seed")
    model_guidance: BoolProperty(name="Model's Guidance", default=True)
    guidance: FloatProperty(name="Guidance")
    steps: IntProperty(name="Steps")
    clean_feet: BoolProperty(name="Fix Foot Sliding", default=True)
    model: EnumProperty(name="Model", items=MODEL_ITEMS, default="default")
    target: StringProperty(name="Target")
    bone_map: StringProperty(name="Bone map")
    root_motion: BoolProperty(name="Root motion", default=True)
    translation_bone: StringProperty(name="Translate")
    push_to_nla: BoolProperty(name="Push to NLA")
    stream: BoolProperty(name="Stream")
    action_name: StringProperty(name="Action")
    object_name: StringProperty(name="Object")


class MOMUG_PG_map_row(bpy.types.PropertyGroup):
    joint: StringProperty(name="Joint", description="SMPL joint")
    bone: StringProperty(name="Bone", description="The armature's bone that follows this joint "
                                                   "(empty: none)")


def clamp_seconds(st, value):
    """value clamped to the loaded model's limits when they are known: (seconds, note or '')."""
    value = float(value)
    lo, hi = st.limit_min_seconds, st.limit_max_seconds
    if hi > 0.0 and value > hi + 1e-6:
        return hi, (f"Duration set to {hi:g} s: the backend's model makes at most {hi:g} s "
                    f"({value:g} s asked)")
    if lo > 0.0 and value < lo - 1e-6:
        return lo, (f"Duration set to {lo:g} s: the backend's model makes at least {lo:g} s "
                    f"({value:g} s asked)")
    return value, ""


def _get_seconds(self):
    return float(self.get("_seconds", DEFAULT_SECONDS))


def _set_seconds(self, value):
    value, note = clamp_seconds(self, value)
    self["_seconds"] = value
    self.seconds_note = note


def set_limits(st, limits):
    """Keep the model's limits from /v1/health ({min_seconds, max_seconds, ...}) and clamp the
    duration to them. Returns the clamp note ('' when the duration already fitted)."""
    if not isinstance(limits, dict):
        return ""
    try:
        lo = float(limits.get("min_seconds") or 0.0)
        hi = float(limits.get("max_seconds") or 0.0)
    except (TypeError, ValueError):
        return ""
    st.limit_min_seconds = max(lo, 0.0)
    st.limit_max_seconds = min(max(hi, 0.0), WIRE_MAX_SECONDS)
    st.seconds = st.seconds  # re-clamp through the setter
    return st.seconds_note


class MOMUG_PG_settings(bpy.types.PropertyGroup):
    prompt: StringProperty(name="Prompt", default="a person walks forward and waves",
                           description="What the character should do")
    seconds: FloatProperty(name="Duration", default=DEFAULT_SECONDS, min=0.1, max=WIRE_MAX_SECONDS,
                           soft_max=20.0, subtype="TIME_ABSOLUTE", unit="TIME_ABSOLUTE",
                           get=_get_seconds, set=_set_seconds,
                           description="Length of the motion in seconds (kept within the "
                                       "backend model's limits once they are known)")
    limit_min_seconds: FloatProperty(default=0.0, min=0.0,
                                     description="Shortest motion of the backend's model (0: unknown)")
    limit_max_seconds: FloatProperty(default=0.0, min=0.0,
                                     description="Longest motion of the backend's model (0: unknown)")
    seconds_note: StringProperty(default="", description="Why the duration was changed")
    seed: IntProperty(name="Seed", default=0, min=0, description="Same seed and settings, same motion")
    model_guidance: BoolProperty(name="Model's Guidance", default=True,
                                 description="Use the chosen model's own guidance scale, the one it was tuned "
                                             "for (2.5 for both Default and Real motion); off: the value below")
    guidance: FloatProperty(name="Guidance", default=2.5, min=0.0, soft_max=10.0,
                            description="Classifier-free guidance: higher follows the prompt more closely")
    steps: IntProperty(name="Steps", default=50, min=1, soft_max=1000,
                       description="Sampling steps: fewer is faster, more is finer (with Stream: "
                                   "flow steps per latent, at most 64)")
    clean_feet: BoolProperty(name="Fix Foot Sliding", default=True,
                             description="Hold the feet still while they stand on the floor (the "
                                         "backend's foot-contact cleanup; the streaming model keys "
                                         "feet as it makes them)")
    model: EnumProperty(name="Model", items=MODEL_ITEMS, default="default",
                        description="Which of the backend's models generates and describes")
    stream: BoolProperty(name="Stream", default=False,
                         description="Use the backend's streaming model and key frames as they are "
                                     "made (Esc removes what was keyed); off: the diffusion model, "
                                     "keyed when the whole motion is done")
    target: EnumProperty(name="Target", items=(
        ("NEW_SMPL", "New SMPL rig", "Create a new SMPL armature with a body (SMPL with model files, else the anny human body, else boxes)"),
        ("ACTIVE", "Active armature", "Key the selected armature through a bone map")),
        default="NEW_SMPL")
    bone_map: EnumProperty(name="Bone map", items=bone_map_items)
    root_motion: BoolProperty(name="Root motion", default=True,
                              description="Travel through the scene; off keeps the hips in place")
    translation_bone: EnumProperty(name="Translate", items=(
        ("HIPS", "Hips", "Root translation on the hips bone"),
        ("ROOT", "Root bone", "Horizontal travel on the rig's top bone, height on the hips")),
        default="HIPS")
    push_to_nla: BoolProperty(name="Push to NLA", default=False,
                              description="Put the new action on an NLA track instead of making it active")
    # Animator tools (animator.py): the body parts "Regenerate" keeps from the active action.
    keep_parts: EnumProperty(name="Keep", options={"ENUM_FLAG"}, default={"lower"}, items=(
        ("lower", "Lower body", "Pelvis and legs"),
        ("upper", "Upper body", "Spine, head and arms"),
        ("left_arm", "Left arm", "Left collar, shoulder, elbow and wrist"),
        ("right_arm", "Right arm", "Right collar, shoulder, elbow and wrist"),
        ("left_leg", "Left leg", "Left hip, knee, ankle and foot"),
        ("right_leg", "Right leg", "Right hip, knee, ankle and foot"),
        ("head", "Head", "Neck and head")),
        description="Body parts of the active action kept as they are; the rest follows the prompt")
    # Job state (shown in the panel)
    running: BoolProperty(default=False)
    progress: FloatProperty(default=0.0, min=0.0, max=1.0, subtype="FACTOR")
    status: StringProperty(default="")
    backend_state: StringProperty(default="unknown")
    caption: StringProperty(name="Caption", default="")
    history: CollectionProperty(type=MOMUG_PG_history)
    history_index: IntProperty(default=0)
    # Bone map being edited (for the armature named map_rows_object)
    map_rows: CollectionProperty(type=MOMUG_PG_map_row)
    map_rows_object: StringProperty(default="")

    def randomize_seed(self):
        self.seed = random.randint(0, 2 ** 31 - 1)


classes = (MOMUG_PG_history, MOMUG_PG_map_row, MOMUG_PG_settings)


def register_props():
    bpy.types.Scene.momug = PointerProperty(type=MOMUG_PG_settings)


def unregister_props():
    del bpy.types.Scene.momug
