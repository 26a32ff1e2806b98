"""The keying helper on this Blender version, and what a generation does to existing animation."""

import time

import numpy as np
import pytest

import bpy
from blender_addon import jobs, keying
from rigs_for_tests import make_mixamo, make_motion, make_rigify_metarig


def fcurve_snapshot(action, obj=None):
    out = {}
    for fc in keying.action_fcurves(action, obj):
        co = np.zeros(2 * len(fc.keyframe_points), dtype=np.float32)
        fc.keyframe_points.foreach_get("co", co)
        out[(fc.data_path, fc.array_index)] = co.tolist()
    return out


def test_writer_keys_land_fast(scene):
    obj, _ = make_rigify_metarig()
    writer = keying.ActionWriter(obj, keying.action_name("test keys"))
    frames = np.arange(200, dtype=np.float64) + 1
    t0 = time.perf_counter()
    for pb in obj.pose.bones:
        path = f'pose.bones["{pb.name}"].rotation_quaternion'
        q = np.tile([1.0, 0.0, 0.0, 0.0], (200, 1))
        q[:, 3] = np.linspace(0, 0.5, 200)
        writer.write_vector(path, frames, q / np.linalg.norm(q, axis=1, keepdims=True), group=pb.name)
    elapsed = time.perf_counter() - t0
    writer.assign()
    n_bones = len(obj.pose.bones)
    assert writer.fast_path_used == 4 * n_bones
    fcs = keying.action_fcurves(obj.animation_data.action, obj)
    assert len(fcs) == 4 * n_bones and all(len(fc.keyframe_points) == 200 for fc in fcs)
    assert all(fc.group is not None for fc in fcs)
    print(f"Blender {bpy.app.version_string}: keyed {n_bones} bones x 4 channels x 200 frames "
          f"in {elapsed * 1000:.1f} ms (slotted API: {keying.SLOTTED})")
    assert elapsed < 2.0
    bpy.context.scene.frame_set(200)
    q = obj.pose.bones["thigh.L"].rotation_quaternion
    assert abs(q[3] - 0.5 / np.sqrt(1.25)) < 1e-4


def test_slotted_api_matches_version():
    assert keying.SLOTTED == (bpy.app.version >= (4, 4, 0))


def test_existing_action_untouched_and_new_action_per_generation(scene):
    obj, _ = make_mixamo()
    bpy.context.view_layer.objects.active = obj
    pb = obj.pose.bones["mixamorig:LeftArm"]
    pb.rotation_euler = (0.3, 0.0, 0.0)
    pb.keyframe_insert("rotation_euler", frame=1)
    pb.rotation_euler = (0.0, 0.6, 0.0)
    pb.keyframe_insert("rotation_euler", frame=30)
    mine = obj.animation_data.action
    mine.name = "my walk"
    before = fcurve_snapshot(mine, obj)
    n_actions = len(bpy.data.actions)

    res1 = jobs.apply_motion(bpy.context, make_motion(), target="ACTIVE", prompt="a person jumps")
    res2 = jobs.apply_motion(bpy.context, make_motion(seed=5), target="ACTIVE", prompt="a person jumps")
    assert len(bpy.data.actions) == n_actions + 2
    assert res1.action != res2.action and res1.action.name.startswith("MoMug: a person jumps")
    assert res1.action.get("momug_prompt") == "a person jumps"
    assert obj.animation_data.action == res2.action
    assert fcurve_snapshot(mine) == before  # the user's keys are exactly as they were
    assert mine.use_fake_user  # and it survives saving although nothing uses it now


def test_push_to_nla_keeps_active_action(scene):
    obj, _ = make_mixamo()
    bpy.context.view_layer.objects.active = obj
    obj.pose.bones["mixamorig:Hips"].keyframe_insert("location", frame=1)
    mine = obj.animation_data.action
    bpy.context.scene.frame_current = 10
    res = jobs.apply_motion(bpy.context, make_motion(), target="ACTIVE", push_to_nla=True,
                            prompt="nla test")
    assert obj.animation_data.action == mine
    tracks = obj.animation_data.nla_tracks
    assert len(tracks) == 1 and tracks[0].strips[0].action == res.action
    assert tracks[0].strips[0].frame_start == 10
    assert res.frames[0] == 10
