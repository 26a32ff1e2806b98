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
TOL_DEG = 2.0  # segment directions on a rig with other proportions (Rigify's own metarig)


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
    fps = bpy.context.scene.render.fps / bpy.context.scene.render.fps_base
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


@pytest.mark.parametrize("fps, fps_base, start", [(30, 1.0, 7), (30, 1.001, 13), (60, 1.0, 100)])
def test_resampled_to_scene_rate_at_current_frame(scene, fps, fps_base, start):
    """20 fps motion lands at the scene's rate (NTSC's 29.97 too), from the current frame."""
    scene.render.fps, scene.render.fps_base = fps, fps_base
    scene.frame_current = start
    obj, _ = make_mixamo()
    bpy.context.view_layer.objects.active = obj
    motion = make_motion(seed=5)
    res = jobs.apply_motion(bpy.context, motion, target="ACTIVE")
    rate = fps / fps_base
    assert res.frames[0] == start
    assert len(res.frames) == int(np.floor(40 * rate / 20 + 1e-6)) + 1  # 41 source frames = 2 s
    check(obj, MIXAMO_MAP, motion, res)


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


def test_root_translation_on_a_root_bone(scene):
    """translation_bone='ROOT': horizontal travel on the rig's top bone, height on the hips."""
    from blender_addon import keying
    obj = smpl_rig.build_armature(bpy.context, name="Rooted")
    bpy.context.view_layer.objects.active = obj
    bpy.ops.object.mode_set(mode="EDIT")
    root = obj.data.edit_bones.new("root")
    root.head, root.tail = (0.0, 0.0, 0.0), (0.0, 0.3, 0.0)
    obj.data.edit_bones["pelvis"].parent = root
    bpy.ops.object.mode_set(mode="OBJECT")
    motion = make_motion(seed=6)
    res = jobs.apply_motion(bpy.context, motion, target="ACTIVE", bone_map_mode="smpl",
                            translation_bone="ROOT")
    names = bonemaps.smpl_skeleton().names
    check(obj, {n: n for n in names}, motion, res)
    curves = {(fc.data_path, fc.array_index): fc for fc in keying.action_fcurves(res.action, obj)}
    root_loc = [curves[('pose.bones["root"].location', i)] for i in range(3)]
    # The root only travels: its rotation is held at rest (keyed so, since a pose left by
    # another action would otherwise turn the whole body).
    for i, rest_value in enumerate((1.0, 0.0, 0.0, 0.0)):
        fc = curves[('pose.bones["root"].rotation_quaternion', i)]
        assert all(abs(k.co[1] - rest_value) < 1e-9 for k in fc.keyframe_points)
    # In world terms the root bone's keys are horizontal only; the height stays on the hips.
    loc = np.stack([[k.co[1] for k in fc.keyframe_points] for fc in root_loc], axis=-1)
    rest = np.array(obj.data.bones["root"].matrix_local)[:3, :3]
    world = loc @ rest.T
    assert np.abs(world[:, 2]).max() < 1e-6
    assert np.linalg.norm(world[-1, :2] - world[0, :2]) > 0.5
    assert ('pose.bones["pelvis"].location', 2) in curves
    assert "root" not in res.unmapped_bones  # it carries the travel, so it is not "left alone"


@pytest.fixture
def rigify_enabled():
    """Blender's bundled Rigify add-on (it provides the human metarig), disabled again after."""
    try:
        bpy.ops.preferences.addon_enable(module="rigify")
    except Exception as exc:  # noqa: BLE001
        pytest.skip(f"Rigify is not available in this Blender: {exc}")
    yield
    bpy.ops.preferences.addon_disable(module="rigify")


def test_blenders_own_human_metarig(scene, rigify_enabled):
    """Rigify's real human metarig: its own proportions (not SMPL's), rest pose and bone rolls.
    Positions cannot match a differently proportioned skeleton, so what a viewer sees is held:
    every mapped bone segment points the way the generated one does (tolerance TOL_DEG), and
    the hips follow the scaled root path to 1 mm."""
    bpy.ops.object.armature_human_metarig_add()
    obj = bpy.context.active_object
    assert obj.type == "ARMATURE"
    motion = make_motion(seed=8)
    res = jobs.apply_motion(bpy.context, motion, target="ACTIVE", bone_map_mode="AUTO")
    assert res.bone_map_label == "rigify"
    label, bone_map, _, _ = bonemaps.resolve(obj, "AUTO")
    skel = bonemaps.smpl_skeleton()
    names = skel.names
    exp = expected_world(motion, obj, bone_map, res.scale)
    got = world_heads(obj, bone_map, res.frames)
    def angle(a, b):
        cos = np.sum(a * b, -1) / (np.linalg.norm(a, axis=-1) * np.linalg.norm(b, axis=-1))
        return np.degrees(np.arccos(np.clip(cos, -1, 1))).max()

    ix = {n: i for i, n in enumerate(names)}
    worst = {}
    for c, p in enumerate(skel.parents):
        # Single-child segments; at the branching pelvis and spine3 the hips and collars sit
        # elsewhere on this rig, so there the left-right lines are compared instead (below).
        if p < 0 or names[p] in ("pelvis", "spine3") and names[c] != ("spine1" if p == 0 else "neck"):
            continue
        if names[c] in bone_map and names[p] in bone_map:
            worst[f"{names[p]}->{names[c]}"] = angle(exp[:, c] - exp[:, p], got[:, c] - got[:, p])
    for a, b in (("left_hip", "right_hip"), ("left_collar", "right_collar")):
        worst[f"{a}<->{b}"] = angle(exp[:, ix[a]] - exp[:, ix[b]], got[:, ix[a]] - got[:, ix[b]])
    print("metarig segment direction errors (deg):",
          {k: round(v, 3) for k, v in sorted(worst.items(), key=lambda kv: -kv[1])[:6]})
    hips_err = np.linalg.norm(got[:, 0] - exp[:, 0], axis=-1).max()
    print(f"metarig hips error {hips_err * 1000:.4f} mm")
    assert hips_err < TOL_M
    assert max(worst.values()) < TOL_DEG
