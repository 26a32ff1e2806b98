"""Per-scene settings of the panel, and the history of generations."""

import random

import bpy
from bpy.props import (BoolProperty, CollectionProperty, EnumProperty, FloatProperty,
                       IntProperty, PointerProperty, StringProperty)

from . import bonemaps

_bone_map_items = []
_LABELS = {"smpl": "SMPL", "mixamo": "Mixamo", "rigify": "Rigify (metarig / generated)",
           "ue5_mannequin": "UE5 Mannequin", "smplx_addon": "SMPL-X add-on", "cmu_bvh": "CMU / BVH"}


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


class MOMUG_PG_history(bpy.types.PropertyGroup):
    prompt: StringProperty(name="Prompt")
    seconds: FloatProperty(name="Seconds")
    seed: IntProperty(name="Seed")
    guidance: FloatProperty(name="Guidance")
    steps: IntProperty(name="Steps")
    action_name: StringProperty(name="Action")
    object_name: StringProperty(name="Object")


class MOMUG_PG_settings(bpy.types.PropertyGroup):
    prompt: StringProperty(name="Prompt", default="a person walks forward and waves",
                           description="What the character should do")
    seconds: FloatProperty(name="Duration", default=4.0, min=0.5, max=20.0, subtype="TIME_ABSOLUTE",
                           unit="TIME_ABSOLUTE", description="Length of the motion in seconds")
    seed: IntProperty(name="Seed", default=0, min=0, description="Same seed and settings, same motion")
    guidance: FloatProperty(name="Guidance", default=2.5, min=0.0, soft_max=10.0,
                            description="Classifier-free guidance: higher follows the prompt more closely")
    steps: IntProperty(name="Steps", default=50, min=1, soft_max=1000,
                       description="Sampling steps: fewer is faster, more is finer")
    target: EnumProperty(name="Target", items=(
        ("NEW_SMPL", "New SMPL rig", "Create a new SMPL armature with a simple body"),
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
    # Job state (shown in the panel)
    running: BoolProperty(default=False)
    progress: FloatProperty(default=0.0, min=0.0, max=1.0, subtype="FACTOR")
    status: StringProperty(default="")
    backend_state: StringProperty(default="unknown")
    caption: StringProperty(name="Caption", default="")
    history: CollectionProperty(type=MOMUG_PG_history)
    history_index: IntProperty(default=0)

    def randomize_seed(self):
        self.seed = random.randint(0, 2 ** 31 - 1)


classes = (MOMUG_PG_history, MOMUG_PG_settings)


def register_props():
    bpy.types.Scene.momug = PointerProperty(type=MOMUG_PG_settings)


def unregister_props():
    del bpy.types.Scene.momug
