"""Retargeting onto rigs whose hips sit under other bones (issue 23): Character Creator layouts
with a root bone pointing along -Y above the hips, a legs-only pelvis bone beside the spine root,
twist and share bones beside and between mapped bones, thighs whose rest direction is up, arms
in an A-pose, an FBX-style object transform, hips connected to a root bone, and poses left on
the unmapped bones by another action.

The rigs have SMPL proportions (scaled), so what a viewer sees is measured exactly: every mapped
segment's direction against the source's (TOL_DEG), the pelvis against the scaled root path
(TOL_ROOT x the rig's size), for a whole motion (apply_motion) and for a streamed one keyed chunk
by chunk (StreamKeyer); Describe reads the keyed motion back to the motion's joints (TOL_DESCRIBE).
"""

import math

import numpy as np
import pytest

import bpy
from blender_addon import bonemaps, coords, describe, jobs
from rigs_for_tests import CC_MAP, make_character_creator, make_connected_root, make_motion
from test_retarget_accuracy import expected_world, world_heads

TOL_DEG = 2.0
TOL_ROOT = 0.01      # metres at SMPL size, scaled by the rig's size
TOL_DESCRIBE = 0.01  # metres, in the backend's convention (SMPL size)

LEGS_ONLY_MAP = {**CC_MAP, "pelvis": "CC_Base_Pelvis"}

LAYOUTS = {
    # name: (builder, rig scale)
    "cc_root_minus_y": (lambda: make_character_creator(scale=1.1), 1.1),
    "cc_helpers_between_fbx": (lambda: make_character_creator(scale=0.9, chain_helpers=True,
                                                              fbx_layout=True), 0.9),
    "connected_root": (lambda: make_connected_root(scale=1.05), 1.05),
}


def build(layout, bone_map):
    builder, size = LAYOUTS[layout]
    obj, _ = builder()
    bpy.context.view_layer.objects.active = obj
    bonemaps.save_custom_map(obj, bone_map)
    leave_stale_pose(obj)
    return obj, size


def leave_stale_pose(obj):
    """What playing another action (the BVH's own) leaves on bones the new action may not key:
    a turned and moved root, a bent legs-only pelvis and twisted helpers between mapped bones."""
    stale = {"RL_BoneRoot": ((1, 0, 0), 90.0), "CC_Base_Pelvis": ((0, 1, 0), 25.0),
             "CC_Base_NeckTwist02": ((0, 0, 1), 30.0), "CC_Base_L_UpperarmTwist02": ((1, 0, 0), 40.0),
             "CC_Base_R_KneeShareBone": ((0, 1, 1), 35.0)}
    from mathutils import Quaternion
    for name, (axis, deg) in stale.items():
        pb = obj.pose.bones[name]
        q = Quaternion(axis, math.radians(deg))
        if pb.rotation_mode == "QUATERNION":
            pb.rotation_quaternion = q
        else:
            pb.rotation_euler = q.to_euler(pb.rotation_mode)
    obj.pose.bones["RL_BoneRoot"].location = (0.3, -0.2, 0.1)


def measure(obj, motion, result, root_motion=True, upto=None):
    """(worst segment angle in degrees, {segment: angle}, worst pelvis error / rig size,
    worst joint error in metres) over the keyed frames (the first `upto` of them)."""
    frames = result.frames if upto is None else result.frames[:upto]
    skel = bonemaps.smpl_skeleton()
    names = skel.names
    exp = expected_world(motion, obj, CC_MAP, result.scale, root_motion)[:len(frames)]
    got = world_heads(obj, CC_MAP, frames)
    worst = {}
    for c, p in enumerate(skel.parents):
        if p < 0:
            continue
        a, b = exp[:, c] - exp[:, p], got[:, c] - got[:, p]
        cos = np.sum(a * b, -1) / (np.linalg.norm(a, axis=-1) * np.linalg.norm(b, axis=-1))
        worst[f"{names[p]}->{names[c]}"] = float(np.degrees(np.arccos(np.clip(cos, -1, 1))).max())
    root_err = np.linalg.norm(got[:, 0] - exp[:, 0], axis=-1).max() / result.scale
    joint_err = np.linalg.norm(got - exp, axis=-1).max()
    return max(worst.values()), worst, float(root_err), float(joint_err)


def assert_accurate(obj, motion, result, label, root_motion=True, upto=None):
    deg, worst, root_err, joint_err = measure(obj, motion, result, root_motion, upto)
    top = sorted(worst.items(), key=lambda kv: -kv[1])[:3]
    print(f"{label}: max limb angle {deg:.4f} deg ({', '.join(f'{k} {v:.3f}' for k, v in top)}), "
          f"root {root_err * 1000:.4f} mm (at SMPL size), joints {joint_err * 1000:.4f} mm")
    assert deg < TOL_DEG, worst
    assert root_err < TOL_ROOT
    return deg, root_err


def travel(obj, result):
    got = world_heads(obj, CC_MAP, result.frames)[:, 0]
    return float(np.linalg.norm(got[-1, :2] - got[0, :2]))


@pytest.mark.parametrize("pelvis_map", ["common_parent", "legs_only"])
@pytest.mark.parametrize("layout", list(LAYOUTS))
def test_generated_motion(scene, layout, pelvis_map):
    """A whole motion keyed through apply_motion, the pelvis mapped to the bone that parents legs
    and spine (CC_Base_Hip) or to the legs-only bone (CC_Base_Pelvis): the same result."""
    bone_map = CC_MAP if pelvis_map == "common_parent" else LEGS_ONLY_MAP
    obj, size = build(layout, bone_map)
    motion = make_motion(seed=11)
    res = jobs.apply_motion(bpy.context, motion, target="ACTIVE", bone_map_mode="CUSTOM")
    assert res.bone_map_label == "custom"
    assert abs(res.scale - size) < 1e-3
    assert_accurate(obj, motion, res, f"{layout}/{pelvis_map}")
    # It travels: the source's root moves about 1.6 m in 2 s.
    src = motion["root_translation"]
    src_travel = np.linalg.norm((src[-1] - src[0])[[0, 2]]) * size
    assert abs(travel(obj, res) - src_travel) < TOL_ROOT * size
    # The helpers the keys rely on are held at rest in the new action and still reported as
    # bones the motion does not drive; leaf helpers are not keyed at all.
    keyed = {fc.data_path.split('"')[1] for fc in
             __import__("blender_addon").keying.action_fcurves(res.action, obj)}
    assert {"CC_Base_Pelvis", "CC_Base_NeckTwist02"} <= keyed
    assert "CC_Base_NeckTwist02" in res.unmapped_bones
    assert ("CC_Base_Pelvis" in res.unmapped_bones) == (pelvis_map == "common_parent")
    assert "CC_Base_JawRoot" not in keyed and "CC_Base_L_CalfTwist01" not in keyed


def test_character_creator_preset(scene):
    """The rigs/bonemaps preset maps the CC rig (pelvis on CC_Base_Hip) and keys it right."""
    obj, _ = make_character_creator(scale=1.2)
    bpy.context.view_layer.objects.active = obj
    leave_stale_pose(obj)
    motion = make_motion(seed=16)
    res = jobs.apply_motion(bpy.context, motion, target="ACTIVE", bone_map_mode="character_creator")
    label, bone_map, unmapped, _ = bonemaps.resolve(obj, "character_creator")
    assert res.bone_map_label == "character_creator" and bone_map == CC_MAP and unmapped == []
    assert_accurate(obj, motion, res, "cc preset")


@pytest.mark.parametrize("layout", ["cc_root_minus_y", "cc_helpers_between_fbx"])
def test_travel_on_the_root_bone(scene, layout):
    """translation_bone='ROOT': horizontal travel on RL_BoneRoot (pointing along -Y, or lying in
    an FBX armature's Y-up axes), height and facing on the hips."""
    obj, size = build(layout, LEGS_ONLY_MAP)
    motion = make_motion(seed=12)
    res = jobs.apply_motion(bpy.context, motion, target="ACTIVE", bone_map_mode="CUSTOM",
                            translation_bone="ROOT")
    assert_accurate(obj, motion, res, f"{layout}/root bone")
    scene = bpy.context.scene
    heads = []
    for f in res.frames:
        scene.frame_set(int(f))
        heads.append(np.array(obj.matrix_world @ obj.pose.bones["RL_BoneRoot"].head))
    heads = np.array(heads)
    assert np.abs(heads[:, 2] - heads[0, 2]).max() < 1e-5      # no height on the root
    assert np.linalg.norm(heads[-1, :2] - heads[0, :2]) > 0.5 * size
    assert "RL_BoneRoot" not in res.unmapped_bones


@pytest.mark.parametrize("layout", ["cc_root_minus_y", "connected_root"])
def test_in_place(scene, layout):
    obj, _ = build(layout, CC_MAP)
    motion = make_motion(seed=13)
    res = jobs.apply_motion(bpy.context, motion, target="ACTIVE", bone_map_mode="CUSTOM",
                            root_motion=False)
    assert_accurate(obj, motion, res, f"{layout}/in place", root_motion=False)
    assert travel(obj, res) < 1e-4


@pytest.mark.parametrize("translation_bone", ["HIPS", "ROOT"])
@pytest.mark.parametrize("layout", list(LAYOUTS))
def test_streamed_motion(scene, layout, translation_bone):
    """Chunks keyed as they arrive (StreamKeyer, as the streaming operator does): the frames keyed
    after each chunk are already right, and the final keys equal one keying of the whole motion."""
    obj, size = build(layout, LEGS_ONLY_MAP)
    motion = make_motion(T=44, seed=14)
    keyer = jobs.StreamKeyer(bpy.context, target="ACTIVE", bone_map_mode="CUSTOM",
                             translation_bone=translation_bone, prompt="streamed", target_obj=obj,
                             fps=20.0)
    rot, root = motion["rotations"], motion["root_translation"]
    bounds = [0, 1, 9, 25, len(rot)]
    for a, b in zip(bounds[:-1], bounds[1:]):
        keyer.add(rot[a:b], root[a:b])
        if b > 1 and b < len(rot):
            class Partial:  # the frames keyed so far
                frames, scale = keyer.frames, keyer.result["scale"]
            sub = {k: v[:b] for k, v in motion.items() if k != "fps"}
            sub["fps"] = 20.0
            assert_accurate(obj, sub, Partial, f"{layout}/streamed to frame {b}")
    res = keyer.finish()
    assert_accurate(obj, motion, res, f"{layout}/streamed ({translation_bone})")
    # Same keys as one apply_motion() of the whole motion (on a copy of the rig).
    bpy.context.scene.frame_set(1)
    obj2, _ = build(layout, LEGS_ONLY_MAP)
    whole = jobs.apply_motion(bpy.context, motion, target="ACTIVE", bone_map_mode="CUSTOM",
                              translation_bone=translation_bone)
    from rigs_for_tests import keys_of
    k1, k2 = keys_of(res.action, obj), keys_of(whole.action, obj2)
    assert k1.keys() == k2.keys()
    assert max(np.abs(k1[k] - k2[k]).max() for k in k1) < 1e-5


@pytest.mark.parametrize("fps", [20, 24])
@pytest.mark.parametrize("describe_map", ["common_parent", "legs_only"])
@pytest.mark.parametrize("layout", list(LAYOUTS))
def test_describe_reads_keyed_motion_back(scene, layout, describe_map, fps):
    """Describe samples the keyed rig (through either map) back to the motion's joints. At 20 fps
    its samples fall on the keys, so they are the motion's own joints; at 24 fps they fall between
    keys, where Blender interpolates the F-curves, so they are compared with the joints the rig
    shows at those times (the keyed motion itself)."""
    scene.render.fps = fps
    obj, size = build(layout, CC_MAP)
    motion = make_motion(T=41, seed=15)  # 2 s: whole frames at 24 fps and at 20
    res = jobs.apply_motion(bpy.context, motion, target="ACTIVE", bone_map_mode="CUSTOM")
    bonemaps.save_custom_map(obj, CC_MAP if describe_map == "common_parent" else LEGS_ONLY_MAP)
    joints, info = describe.sample(bpy.context, obj, "CUSTOM")
    assert info["filled"] == [] and joints.shape == (41, 22, 3)
    if fps == 20:
        exp = np.array(motion["joints"], dtype=np.float64)
    else:
        shown = np.zeros((41, 22, 3))
        names = bonemaps.smpl_skeleton().names
        for i in range(41):
            f = res.frames[0] + i * fps / 20.0
            scene.frame_set(int(np.floor(f)), subframe=float(f - np.floor(f)))
            for j, n in enumerate(names):
                shown[i, j] = tuple(obj.matrix_world @ obj.pose.bones[CC_MAP[n]].head)
        exp = coords.from_blender_points(shown / res.scale)
    exp[..., 1] -= exp[..., 1].min()
    exp[..., [0, 2]] -= exp[0, 0, [0, 2]]
    err = np.linalg.norm(joints - exp, axis=-1).max()
    print(f"{layout}/describe via {describe_map} at {fps} fps: max joint error {err * 1000:.4f} mm")
    assert err < TOL_DESCRIBE


def write_cc_bvh(path):
    """A short BVH on a CC skeleton (Y up, metres) as Blender's importer will read it: position
    channels on RL_BoneRoot only, so the importer connects CC_Base_Hip to the root's tail; the
    clip turns the root and bends the hips (what a real clip leaves on the bones)."""
    skel = bonemaps.smpl_skeleton()
    P = {n: p for n, p in zip(skel.names, skel.rest_positions())}
    tree = {"RL_BoneRoot": (np.zeros(3), None), "CC_Base_Hip": (P["pelvis"], "RL_BoneRoot"),
            "CC_Base_Pelvis": (P["pelvis"] + [0, -0.02, 0.01], "CC_Base_Hip"),
            "CC_Base_Waist": (P["spine1"], "CC_Base_Hip"),
            "CC_Base_Spine01": (P["spine2"], "CC_Base_Waist"),
            "CC_Base_Spine02": (P["spine3"], "CC_Base_Spine01"),
            "CC_Base_NeckTwist01": (P["neck"], "CC_Base_Spine02"),
            "CC_Base_NeckTwist02": ((P["neck"] + P["head"]) / 2, "CC_Base_NeckTwist01"),
            "CC_Base_Head": (P["head"], "CC_Base_NeckTwist02")}
    for S, side in (("L", "left"), ("R", "right")):
        chain = [("Thigh", "hip", "CC_Base_Pelvis"), ("Calf", "knee", None), ("Foot", "ankle", None),
                 ("ToeBase", "foot", None), ("Clavicle", "collar", "CC_Base_Spine02"),
                 ("Upperarm", "shoulder", None), ("Forearm", "elbow", None), ("Hand", "wrist", None)]
        prev = None
        for bone, joint, parent in chain:
            name = f"CC_Base_{S}_{bone}"
            tree[name] = (P[f"{side}_{joint}"], parent or prev)
            prev = name
    kids = {n: [c for c, (_, p) in tree.items() if p == n] for n in tree}
    lines, order = ["HIERARCHY"], []

    def emit(name, depth):
        pad = "  " * depth
        head, parent = tree[name]
        off = head - (tree[parent][0] if parent else 0)
        lines.append(f"{pad}{'ROOT' if parent is None else 'JOINT'} {name}")
        lines.append(pad + "{")
        lines.append(f"{pad}  OFFSET {off[0]:.6f} {off[1]:.6f} {off[2]:.6f}")
        lines.append(f"{pad}  CHANNELS " + ("6 Xposition Yposition Zposition " if parent is None else "3 ")
                     + "Zrotation Xrotation Yrotation")
        order.append(name)
        for c in kids[name]:
            emit(c, depth + 1)
        if not kids[name]:
            lines.extend([f"{pad}  End Site", pad + "  {", f"{pad}    OFFSET 0.0 0.05 0.0", pad + "  }"])
        lines.append(pad + "}")

    emit("RL_BoneRoot", 0)
    rng = np.random.default_rng(3)
    lines += ["MOTION", "Frames: 5", "Frame Time: 0.05"]
    for t in range(5):
        vals = [0.2 * t, 0.0, 0.1 * t]
        for name in order:
            big = name in ("RL_BoneRoot", "CC_Base_Hip", "CC_Base_Pelvis", "CC_Base_NeckTwist02")
            vals += list(rng.uniform(-60, 60, 3) if big else rng.uniform(-10, 10, 3))
        lines.append(" ".join(f"{v:.6f}" for v in vals))
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")


@pytest.mark.parametrize("translation_bone", ["HIPS", "ROOT"])
def test_rig_imported_from_bvh(scene, tmp_path, translation_bone):
    """The issue's own path: a CC skeleton imported with Blender's BVH importer (its Euler orders,
    hips connected to the root), its clip played to the last frame, then a motion keyed on it."""
    import addon_utils
    addon_utils.enable("io_anim_bvh", default_set=False)
    try:
        path = str(tmp_path / "cc.bvh")
        write_cc_bvh(path)
        bpy.ops.import_anim.bvh(filepath=path, axis_forward="-Z", axis_up="Y", global_scale=1.0,
                                frame_start=1, rotate_mode="NATIVE")
    finally:
        addon_utils.disable("io_anim_bvh", default_set=False)
    obj = bpy.context.active_object
    assert obj.data.bones["CC_Base_Hip"].use_connect  # so its location keys would do nothing
    bpy.context.scene.frame_set(5)                      # the clip's last pose stays on the bones
    bpy.context.scene.frame_set(1)
    bonemaps.save_custom_map(obj, LEGS_ONLY_MAP)
    motion = make_motion(seed=17)
    res = jobs.apply_motion(bpy.context, motion, target="ACTIVE", bone_map_mode="CUSTOM",
                            translation_bone=translation_bone)
    assert abs(res.scale - 1.0) < 1e-3
    assert_accurate(obj, motion, res, f"imported BVH ({translation_bone})")
    src = motion["root_translation"]
    assert abs(travel(obj, res) - np.linalg.norm((src[-1] - src[0])[[0, 2]])) < TOL_ROOT
    joints, _ = describe.sample(bpy.context, obj, "CUSTOM")
    assert np.isfinite(joints).all()
