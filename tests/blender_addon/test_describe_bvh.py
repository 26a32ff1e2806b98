"""Describe samples joints from a rig the add-on did not make: a BVH imported with Blender's own
importer (CMU naming, its default axes: -Z forward, Y up, which is our own Y-up to Z-up map). The sampled joints must be the motion's joints in the backend convention."""

import os

import numpy as np
import pytest

import bpy
from blender_addon import bonemaps, describe
from rigs_for_tests import make_motion

CMU = {"pelvis": "Hips", "spine1": "Spine", "spine2": "Spine1", "spine3": "Neck", "neck": "Neck1",
       "head": "Head", "left_hip": "LeftUpLeg", "right_hip": "RightUpLeg", "left_knee": "LeftLeg",
       "right_knee": "RightLeg", "left_ankle": "LeftFoot", "right_ankle": "RightFoot",
       "left_foot": "LeftToeBase", "right_foot": "RightToeBase", "left_collar": "LeftShoulder",
       "right_collar": "RightShoulder", "left_shoulder": "LeftArm", "right_shoulder": "RightArm",
       "left_elbow": "LeftForeArm", "right_elbow": "RightForeArm", "left_wrist": "LeftHand",
       "right_wrist": "RightHand"}


def write_bvh(path, motion):
    from mathutils import Quaternion
    skel = bonemaps.smpl_skeleton()
    lines = ["HIERARCHY"]

    def emit(j, depth):
        pad = "  " * depth
        name = CMU[skel.names[j]]
        off = skel.offsets[j] if skel.parents[j] >= 0 else np.zeros(3)
        lines.append(f"{pad}{'ROOT' if depth == 0 else 'JOINT'} {name}")
        lines.append(pad + "{")
        lines.append(f"{pad}  OFFSET {off[0]:.6f} {off[1]:.6f} {off[2]:.6f}")
        if depth == 0:
            lines.append(f"{pad}  CHANNELS 6 Xposition Yposition Zposition Zrotation Xrotation Yrotation")
        else:
            lines.append(f"{pad}  CHANNELS 3 Zrotation Xrotation Yrotation")
        kids = skel.children(j)
        for c in kids:
            emit(c, depth + 1)
        if not kids:
            lines.extend([f"{pad}  End Site", pad + "  {", f"{pad}    OFFSET 0.0 0.05 0.0", pad + "  }"])
        lines.append(pad + "}")
        order.append(j)

    order = []
    # BVH channel order is depth-first pre-order; collect it separately.
    emit(0, 0)
    pre = []

    def walk(j):
        pre.append(j)
        for c in skel.children(j):
            walk(c)
    walk(0)
    T = len(motion["rotations"])
    lines += ["MOTION", f"Frames: {T}", "Frame Time: 0.05"]
    for t in range(T):
        vals = list(motion["root_translation"][t])
        for j in pre:
            e = Quaternion(motion["rotations"][t, j]).to_euler("YXZ")
            vals += [np.degrees(e.z), np.degrees(e.x), np.degrees(e.y)]
        lines.append(" ".join(f"{v:.6f}" for v in vals))
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")


def test_describe_samples_imported_bvh(scene, tmp_path):
    import addon_utils
    addon_utils.enable("io_anim_bvh", default_set=False)
    motion = make_motion(T=40, seed=7)
    path = str(tmp_path / "clip.bvh")
    write_bvh(path, motion)
    bpy.ops.import_anim.bvh(filepath=path, axis_forward="-Z", axis_up="Y", global_scale=1.0,
                            update_scene_fps=True, frame_start=1, rotate_mode="NATIVE")
    obj = bpy.context.active_object
    assert obj.type == "ARMATURE" and obj.animation_data.action is not None
    frame_before = bpy.context.scene.frame_current
    joints, info = describe.sample(bpy.context, obj)
    assert info["bone_map"] == "cmu_bvh" and info["filled"] == []
    assert bpy.context.scene.frame_current == frame_before
    exp = np.array(motion["joints"], dtype=np.float64)
    exp[..., 1] -= exp[..., 1].min()
    exp[..., [0, 2]] -= exp[0, 0, [0, 2]]
    assert joints.shape == exp.shape
    err = np.abs(joints - exp).max()
    print(f"describe on an imported BVH: max error {err * 1000:.3f} mm over {len(exp)} frames")
    assert err < 1e-3
    addon_utils.disable("io_anim_bvh", default_set=False)


def test_describe_fills_missing_joints(scene):
    from rigs_for_tests import MIXAMO_MAP, make_mixamo
    obj, _ = make_mixamo()
    bpy.context.view_layer.objects.active = obj
    from blender_addon import jobs
    jobs.apply_motion(bpy.context, make_motion(), target="ACTIVE")
    bonemaps.save_custom_map(obj, {k: v for k, v in MIXAMO_MAP.items() if "collar" not in k})
    joints, info = describe.sample(bpy.context, obj, "CUSTOM")
    assert set(info["filled"]) == {"left_collar", "right_collar"}
    assert np.isfinite(joints).all() and joints.shape[1:] == (22, 3)
