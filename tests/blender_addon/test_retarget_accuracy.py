"""World positions of the mapped bones after retargeting, on three kinds of rig.

Tolerance held: every mapped joint within TOL_M (1 mm) of the generated joints after scaling,
on every frame. The arithmetic is exact up to float32 keys, so anything larger is a bug.
"""

import numpy as np
import pytest

import bpy
from blender_addon import bonemaps, coords, jobs, retarget, smpl_rig
from rigs_for_tests import MIXAMO_MAP, RIGIFY_MAP, make_mixamo, make_rigify_metarig, make_motion

TOL_M = 1e-3


def world_heads(obj, bone_map, frames):
    names = bonemaps.smpl_skeleton().names
    scene = bpy.context.scene
    out = np.zeros((len(frames), len(names), 3))
    for i, f in enumerate(frames):
        scene.frame_set(int(f))
        mw = obj.matrix_world
        for j, n in enumerate(names):
            if n in bone_map:
                out[i, j] = tuple(mw @ obj.pose.bones[bone_map[n]].head)
    return out


def expected_world(motion, obj, bone_map, scale, root_motion=True):
    """Generated joints in Blender's frame, scaled, starting over the target's rest hips."""
    fps = bpy.context.scene.render.fps
    rot = coords.to_blender_quats(motion["rotations"])
    root = coords.to_blender_points(motion["root_translation"])
    rot, root = retarget.resample(rot, root, fps)
    skel = bonemaps.smpl_skeleton()
    _, pos = retarget.forward(skel.parents, coords.to_blender_points(skel.offsets), rot, root)
    pos = pos * scale
    hips = np.array(obj.matrix_world @ obj.data.bones[bone_map["pelvis"]].head_local)
    shift = np.zeros(3)
    shift[:2] = hips[:2] - pos[0, 0, :2]
    shift[2] = obj.matrix_world.translation.z
    if not root_motion:
        pos[:, :, :2] -= pos[:, :1, :2] - pos[0, 0, :2]
    return pos + shift


def check(obj, bone_map, motion, result, root_motion=True, resampled=True):
    exp = expected_world(motion, obj, bone_map, result.scale, root_motion)
    got = world_heads(obj, bone_map, result.frames)
    idx = [j for j, n in enumerate(bonemaps.smpl_skeleton().names) if n in bone_map]
    err = np.linalg.norm(got[:, idx] - exp[:, idx], axis=-1)
    print(f"{obj.name}: max error {err.max() * 1000:.4f} mm over {len(idx)} joints x {len(exp)} frames")
    assert err.max() < TOL_M
    return err.max()


def test_smpl_rig(scene):
    motion = make_motion()
    res = jobs.apply_motion(bpy.context, motion, target="NEW_SMPL", prompt="a person waves")
    assert res.obj.get(smpl_rig.RIG_TAG)
    assert abs(res.scale - 1.0) < 1e-6
    # 41 frames at 20 fps = 2 s -> 49 frames at 24 fps
    assert len(res.frames) == 49
    names = bonemaps.smpl_skeleton().names
    check(res.obj, {n: n for n in names}, motion, res)


def test_rigify_metarig_a_pose(scene):
    obj, _ = make_rigify_metarig()
    bpy.context.view_layer.objects.active = obj
    motion = make_motion(seed=1)
    res = jobs.apply_motion(bpy.context, motion, target="ACTIVE", bone_map_mode="rigify")
    assert abs(res.scale - 1.07) < 1e-3
    assert "spine.005" in res.unmapped_bones and "breast.L" in res.unmapped_bones
    check(obj, RIGIFY_MAP, motion, res)


def test_mixamo_fbx_layout(scene):
    obj, _ = make_mixamo()
    bpy.context.view_layer.objects.active = obj
    motion = make_motion(seed=2)
    res = jobs.apply_motion(bpy.context, motion, target="ACTIVE", bone_map_mode="AUTO")
    assert res.bone_map_label == "mixamo"
    assert abs(res.scale - 0.95) < 1e-3
    check(obj, MIXAMO_MAP, motion, res)
    # Keys follow the rig's own Euler rotation mode; the rig itself is not switched to quaternions.
    assert obj.pose.bones["mixamorig:Hips"].rotation_mode == "XYZ"


def test_in_place(scene):
    obj, _ = make_mixamo()
    bpy.context.view_layer.objects.active = obj
    motion = make_motion(seed=3)
    res = jobs.apply_motion(bpy.context, motion, target="ACTIVE", root_motion=False)
    check(obj, MIXAMO_MAP, motion, res, root_motion=False)


def test_joints_field_at_20fps(scene):
    """At 20 fps no resampling happens: compare with the backend's own joints array directly."""
    scene.render.fps = 20
    motion = make_motion(seed=4)
    obj, _ = make_rigify_metarig(scale=1.0)
    bpy.context.view_layer.objects.active = obj
    res = jobs.apply_motion(bpy.context, motion, target="ACTIVE", bone_map_mode="AUTO")
    assert res.bone_map_label == "rigify"
    joints = coords.to_blender_points(motion["joints"])
    hips = np.array(obj.matrix_world @ obj.data.bones["spine"].head_local)
    joints[..., :2] += hips[:2] - joints[0, 0, :2]
    got = world_heads(obj, RIGIFY_MAP, res.frames)
    err = np.linalg.norm(got - joints, axis=-1).max()
    print(f"20 fps against motion['joints']: max error {err * 1000:.4f} mm")
    assert err < TOL_M
