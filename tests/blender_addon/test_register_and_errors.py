"""Registration, operators under bpy.ops.momug, and the error cases that must change nothing."""

import numpy as np
import pytest

import bpy
from blender_addon import bonemaps, jobs
from rigs_for_tests import make_mixamo, make_motion


def scene_fingerprint():
    return (sorted(o.name for o in bpy.data.objects), sorted(a.name for a in bpy.data.actions),
            sorted(a.name for a in bpy.data.armatures), sorted(m.name for m in bpy.data.meshes),
            {o.name: (o.animation_data.action.name if o.animation_data and o.animation_data.action
                      else None) for o in bpy.data.objects})


def test_operators_registered(addon):
    for op in ("generate", "describe", "randomize_seed", "history_apply", "copy_caption",
               "save_bone_map", "read_token", "backend_check", "backend_start", "backend_stop"):
        assert hasattr(bpy.ops.momug, op), op
    assert hasattr(bpy.types.Scene, "momug")
    assert bpy.context.scene.momug.target == "NEW_SMPL"


def test_randomize_seed(addon, scene):
    st = scene.momug
    seeds = set()
    for _ in range(3):
        bpy.ops.momug.randomize_seed()
        seeds.add(st.seed)
    assert len(seeds) > 1


def _mesh_selected():
    mesh = bpy.data.meshes.new("Cube")
    obj = bpy.data.objects.new("Cube", mesh)
    bpy.context.collection.objects.link(obj)
    bpy.context.view_layer.objects.active = obj
    return obj


def test_non_armature_selection_reports(addon, scene):
    _mesh_selected()
    scene.momug.target = "ACTIVE"
    before = scene_fingerprint()
    with pytest.raises(RuntimeError, match="not an armature"):
        bpy.ops.momug.generate()
    with pytest.raises(RuntimeError, match="Select an armature"):
        bpy.ops.momug.describe()
    assert scene_fingerprint() == before


def test_unmapped_rig_reports(addon, scene):
    arm = bpy.data.armatures.new("Robot")
    obj = bpy.data.objects.new("Robot", arm)
    bpy.context.collection.objects.link(obj)
    bpy.context.view_layer.objects.active = obj
    bpy.ops.object.mode_set(mode="EDIT")
    for i, name in enumerate(("base", "arm_a", "arm_b")):
        eb = arm.edit_bones.new(name)
        eb.head, eb.tail = (0, 0, i), (0, 0, i + 1)
    bpy.ops.object.mode_set(mode="OBJECT")
    scene.momug.target = "ACTIVE"
    before = scene_fingerprint()
    with pytest.raises(RuntimeError, match="could not recognise the bones"):
        bpy.ops.momug.generate()
    assert scene_fingerprint() == before


def test_unmapped_bones_listed_and_left_alone(scene):
    obj, _ = make_mixamo()
    bpy.context.view_layer.objects.active = obj
    res = jobs.apply_motion(bpy.context, make_motion(), target="ACTIVE")
    assert "mixamorig:HeadTop_End" in res.unmapped_bones
    keyed = {fc.data_path.split('"')[1] for fc in
             __import__("blender_addon").keying.action_fcurves(res.action, obj)}
    assert "mixamorig:HeadTop_End" not in keyed and "mixamorig:Hips" in keyed


def test_partial_map_lists_unmapped_joints(scene):
    obj, _ = make_mixamo()
    bpy.context.view_layer.objects.active = obj
    bonemaps.save_custom_map(obj, {k: v for k, v in __import__("rigs_for_tests").MIXAMO_MAP.items()
                                   if "collar" not in k and "foot" not in k})
    res = jobs.apply_motion(bpy.context, make_motion(), target="ACTIVE", bone_map_mode="CUSTOM")
    assert res.bone_map_label == "custom"
    assert set(res.unmapped_joints) == {"left_collar", "right_collar", "left_foot", "right_foot"}
    assert "SMPL joints without a bone" in res.summary()


def test_no_animation_reports(addon, scene):
    obj, _ = make_mixamo()
    bpy.context.view_layer.objects.active = obj
    before = scene_fingerprint()
    with pytest.raises(RuntimeError, match="has no animation"):
        bpy.ops.momug.describe()
    assert scene_fingerprint() == before


def test_bad_motion_leaves_no_new_rig(scene):
    before = scene_fingerprint()
    bad = make_motion()
    bad["rotations"] = bad["rotations"][:, :21]
    with pytest.raises(jobs.JobError, match="expected"):
        jobs.apply_motion(bpy.context, bad, target="NEW_SMPL")
    bad = make_motion()
    bad["rotations"][3, 4] = np.nan
    with pytest.raises(jobs.JobError, match="NaN"):
        jobs.apply_motion(bpy.context, bad, target="NEW_SMPL")
    assert scene_fingerprint() == before


def test_backend_down_reports(addon, scene, monkeypatch):
    monkeypatch.setenv("MOMUG_CONFIG", "/nonexistent")
    from blender_addon import preferences
    monkeypatch.setattr(preferences._Defaults, "backend_url", "http://127.0.0.1:9")
    scene.momug.target = "NEW_SMPL"
    before = scene_fingerprint()
    with pytest.raises(RuntimeError, match="No backend at"):
        bpy.ops.momug.generate()
    assert scene_fingerprint() == before
    with pytest.raises(RuntimeError, match="No backend at"):
        bpy.ops.momug.backend_check()


def test_bone_map_detection_presets(scene):
    obj, _ = make_mixamo()
    assert bonemaps.detect(obj)[0] == "mixamo"
    from rigs_for_tests import make_rigify_metarig
    rig, _ = make_rigify_metarig()
    pid, found = bonemaps.detect(rig)
    assert pid == "rigify" and len(found) == 22
