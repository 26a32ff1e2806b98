"""Test armatures with SMPL proportions but other names, rest poses and bone axes, and a motion."""

import math

import bpy
import numpy as np

from blender_addon import bonemaps, coords, keying, retarget

RIGIFY_MAP = {
    "pelvis": "spine", "spine1": "spine.001", "spine2": "spine.002", "spine3": "spine.003",
    "neck": "spine.004", "head": "spine.006",
    "left_collar": "shoulder.L", "left_shoulder": "upper_arm.L", "left_elbow": "forearm.L",
    "left_wrist": "hand.L", "right_collar": "shoulder.R", "right_shoulder": "upper_arm.R",
    "right_elbow": "forearm.R", "right_wrist": "hand.R",
    "left_hip": "thigh.L", "left_knee": "shin.L", "left_ankle": "foot.L", "left_foot": "toe.L",
    "right_hip": "thigh.R", "right_knee": "shin.R", "right_ankle": "foot.R", "right_foot": "toe.R",
}

MIXAMO_MAP = {
    "pelvis": "Hips", "spine1": "Spine", "spine2": "Spine1", "spine3": "Spine2", "neck": "Neck",
    "head": "Head", "left_collar": "LeftShoulder", "left_shoulder": "LeftArm",
    "left_elbow": "LeftForeArm", "left_wrist": "LeftHand", "right_collar": "RightShoulder",
    "right_shoulder": "RightArm", "right_elbow": "RightForeArm", "right_wrist": "RightHand",
    "left_hip": "LeftUpLeg", "left_knee": "LeftLeg", "left_ankle": "LeftFoot",
    "left_foot": "LeftToeBase", "right_hip": "RightUpLeg", "right_knee": "RightLeg",
    "right_ankle": "RightFoot", "right_foot": "RightToeBase",
}
MIXAMO_MAP = {k: "mixamorig:" + v for k, v in MIXAMO_MAP.items()}


def clean_scene():
    for coll in (bpy.data.objects, bpy.data.armatures, bpy.data.meshes, bpy.data.actions):
        for item in list(coll):
            coll.remove(item)
    scene = bpy.context.scene
    scene.frame_current = 1
    scene.render.fps = 24
    scene.render.fps_base = 1.0


def smpl_rest_blender(scale=1.0):
    skel = bonemaps.smpl_skeleton()
    return coords.to_blender_points(skel.rest_positions()) * scale


def _rot_about(axis, angle):
    axis = np.asarray(axis, float) / np.linalg.norm(axis)
    K = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
    return np.eye(3) + math.sin(angle) * K + (1 - math.cos(angle)) * K @ K


def _make_armature(name, bones, obj_matrix=None):
    """bones: list of (name, head, tail, roll, parent) in armature space."""
    arm = bpy.data.armatures.new(name)
    obj = bpy.data.objects.new(name, arm)
    bpy.context.collection.objects.link(obj)
    if obj_matrix is not None:
        from mathutils import Matrix
        obj.matrix_world = Matrix(obj_matrix.tolist())
    bpy.context.view_layer.objects.active = obj
    bpy.ops.object.mode_set(mode="EDIT")
    for bname, head, tail, roll, parent in bones:
        eb = arm.edit_bones.new(bname)
        eb.head, eb.tail, eb.roll = tuple(head), tuple(tail), roll
    for bname, head, tail, roll, parent in bones:  # parents may come later in the list
        if parent:
            arm.edit_bones[bname].parent = arm.edit_bones[parent]
    bpy.ops.object.mode_set(mode="OBJECT")
    return obj


def make_rigify_metarig(scale=1.07, arm_down_deg=35.0):
    """Rigify metarig names, an A-pose (arms angled down), odd rolls, extra unmapped bones."""
    names = bonemaps.smpl_skeleton().names
    P = smpl_rest_blender(scale)
    J = {n: P[i].copy() for i, n in enumerate(names)}
    for side, sign in (("left", 1.0), ("right", -1.0)):
        R = _rot_about((0.0, 1.0, 0.0), sign * math.radians(arm_down_deg))  # arms down
        pivot = J[f"{side}_shoulder"]
        for n in (f"{side}_elbow", f"{side}_wrist"):
            J[n] = pivot + R @ (J[n] - pivot)
    mid_neck = (J["neck"] + J["head"]) / 2
    up = np.array([0.0, 0.0, 0.2 * scale])
    bones = [
        ("spine", J["pelvis"], J["spine1"], 0.0, None),
        ("spine.001", J["spine1"], J["spine2"], 0.3, "spine"),
        ("spine.002", J["spine2"], J["spine3"], -0.2, "spine.001"),
        ("spine.003", J["spine3"], J["neck"], 0.1, "spine.002"),
        ("spine.004", J["neck"], mid_neck, 0.0, "spine.003"),
        ("spine.005", mid_neck, J["head"], 0.5, "spine.004"),
        ("spine.006", J["head"], J["head"] + up, 0.0, "spine.005"),
    ]
    for s, side in (("L", "left"), ("R", "right")):
        hand_dir = J[f"{side}_wrist"] - J[f"{side}_elbow"]
        bones += [
            (f"pelvis.{s}", J["pelvis"], J[f"{side}_hip"] + up * 0.5, 0.0, "spine"),
            (f"thigh.{s}", J[f"{side}_hip"], J[f"{side}_knee"], 0.2, "spine"),
            (f"shin.{s}", J[f"{side}_knee"], J[f"{side}_ankle"], -0.4, f"thigh.{s}"),
            (f"foot.{s}", J[f"{side}_ankle"], J[f"{side}_foot"], 1.0, f"shin.{s}"),
            (f"toe.{s}", J[f"{side}_foot"], J[f"{side}_foot"] + np.array([0, -0.06, 0]), 0.0, f"foot.{s}"),
            (f"breast.{s}", J["spine3"] + np.array([0.1 if s == "L" else -0.1, -0.1, 0]),
             J["spine3"] + np.array([0.1 if s == "L" else -0.1, -0.2, 0]), 0.0, "spine.003"),
            (f"shoulder.{s}", J[f"{side}_collar"], J[f"{side}_shoulder"], 0.7, "spine.003"),
            (f"upper_arm.{s}", J[f"{side}_shoulder"], J[f"{side}_elbow"], -1.1, f"shoulder.{s}"),
            (f"forearm.{s}", J[f"{side}_elbow"], J[f"{side}_wrist"], 0.9, f"upper_arm.{s}"),
            (f"hand.{s}", J[f"{side}_wrist"], J[f"{side}_wrist"] + 0.3 * hand_dir, 0.0, f"forearm.{s}"),
        ]
    obj = _make_armature("metarig", bones)
    return obj, J


def make_mixamo(scale=0.95):
    """Mixamo names with the FBX import layout: Y-up centimetres in the armature, object turned
    90 degrees about X and scaled 0.01; bones point down the chain with assorted rolls."""
    names = bonemaps.smpl_skeleton().names
    P = smpl_rest_blender(scale)
    J = {n: P[i].copy() for i, n in enumerate(names)}
    Rx = _rot_about((1, 0, 0), math.pi / 2)
    to_arm = lambda p: (Rx.T @ p) * 100.0  # world metres -> armature centimetres
    M = np.eye(4)
    M[:3, :3] = Rx * 0.01
    mp = {v: k for k, v in MIXAMO_MAP.items()}
    parents = {
        "Hips": None, "Spine": "Hips", "Spine1": "Spine", "Spine2": "Spine1", "Neck": "Spine2",
        "Head": "Neck", "HeadTop_End": "Head",
    }
    for s, side in (("Left", "left"), ("Right", "right")):
        parents.update({f"{s}Shoulder": "Spine2", f"{s}Arm": f"{s}Shoulder", f"{s}ForeArm": f"{s}Arm",
                        f"{s}Hand": f"{s}ForeArm", f"{s}UpLeg": "Hips", f"{s}Leg": f"{s}UpLeg",
                        f"{s}Foot": f"{s}Leg", f"{s}ToeBase": f"{s}Foot", f"{s}Toe_End": f"{s}ToeBase"})
    tip = {"HeadTop_End": J["head"] + np.array([0, 0, 0.18 * scale]),
           "LeftToe_End": J["left_foot"] + np.array([0, -0.05, 0]),
           "RightToe_End": J["right_foot"] + np.array([0, -0.05, 0])}
    heads = {}
    for b in parents:
        full = "mixamorig:" + b
        heads[b] = J[mp[full]] if full in mp else tip[b]
    kids = {}
    for b, p in parents.items():
        if p:
            kids.setdefault(p, []).append(b)
    main = {"Hips": "Spine", "Spine2": "Neck"}
    bones = []
    for i, (b, p) in enumerate(parents.items()):
        c = main.get(b) or (kids[b][0] if b in kids else None)
        tail = heads[c] if c else heads[b] + (heads[b] - heads[p]) * 0.3
        if b.endswith("Hand"):
            tail = heads[b] + (heads[b] - heads[p]) * 0.3
        bones.append(("mixamorig:" + b, to_arm(heads[b]), to_arm(tail), 0.37 * (i % 5) - 0.6,
                      "mixamorig:" + p if p else None))
    obj = _make_armature("Armature", bones, M)
    for pb in obj.pose.bones:
        pb.rotation_mode = "XYZ"  # like an FBX import: keys must follow the rig's own mode
    return obj, J


def make_motion(T=41, seed=0):
    """A smooth made-up SMPL-22 motion in the backend's convention (Y up, 20 fps)."""
    rng = np.random.default_rng(seed)
    skel = bonemaps.smpl_skeleton()
    t = np.arange(T) / 20.0
    J = len(skel.names)
    amp = rng.uniform(0.1, 0.6, size=(J, 3))
    freq = rng.uniform(0.3, 1.2, size=(J, 3))
    phase = rng.uniform(0, 2 * np.pi, size=(J, 3))
    axis_angle = amp[None] * np.sin(2 * np.pi * freq[None] * t[:, None, None] + phase[None])
    axis_angle[:, 0] *= 0.5
    angle = np.linalg.norm(axis_angle, axis=-1, keepdims=True)
    axis = axis_angle / np.maximum(angle, 1e-9)
    rot = np.concatenate([np.cos(angle / 2), axis * np.sin(angle / 2)], axis=-1)
    root = np.stack([0.3 * np.sin(t), 0.9 + 0.03 * np.sin(5 * t), 0.8 * t], axis=-1)
    _, joints = retarget.forward(skel.parents, skel.offsets, rot, root)
    return {"joints": joints, "rotations": rot, "root_translation": root, "fps": 20.0}


def keys_of(action, obj):
    """{(data path, index): flat (frame, value) pairs} of every F-curve of an action on obj."""
    out = {}
    for fc in keying.action_fcurves(action, obj):
        co = np.zeros(2 * len(fc.keyframe_points), dtype=np.float32)
        fc.keyframe_points.foreach_get("co", co)
        out[(fc.data_path, fc.array_index)] = co
    return out


def _smpl_joints(scale, arm_down_deg=0.0):
    """SMPL rest joints (Blender frame, scaled), arms turned down at the shoulders (an A-pose)."""
    names = bonemaps.smpl_skeleton().names
    P = smpl_rest_blender(scale)
    J = {n: P[i].copy() for i, n in enumerate(names)}
    for side, sign in (("left", 1.0), ("right", -1.0)):
        R = _rot_about((0.0, 1.0, 0.0), sign * math.radians(arm_down_deg))
        pivot = J[f"{side}_shoulder"]
        for n in (f"{side}_elbow", f"{side}_wrist"):
            J[n] = pivot + R @ (J[n] - pivot)
    return J


CC_MAP = {
    "pelvis": "CC_Base_Hip", "spine1": "CC_Base_Waist", "spine2": "CC_Base_Spine01",
    "spine3": "CC_Base_Spine02", "neck": "CC_Base_NeckTwist01", "head": "CC_Base_Head",
}
for _s, _side in (("L", "left"), ("R", "right")):
    CC_MAP.update({
        f"{_side}_hip": f"CC_Base_{_s}_Thigh", f"{_side}_knee": f"CC_Base_{_s}_Calf",
        f"{_side}_ankle": f"CC_Base_{_s}_Foot", f"{_side}_foot": f"CC_Base_{_s}_ToeBase",
        f"{_side}_collar": f"CC_Base_{_s}_Clavicle", f"{_side}_shoulder": f"CC_Base_{_s}_Upperarm",
        f"{_side}_elbow": f"CC_Base_{_s}_Forearm", f"{_side}_wrist": f"CC_Base_{_s}_Hand",
    })


def make_character_creator(scale=1.0, arm_down_deg=30.0, chain_helpers=False, fbx_layout=False):
    """A Character Creator (CC3/CC4) layout with SMPL proportions: RL_BoneRoot on the floor
    pointing along -Y, CC_Base_Hip under it parenting a legs-only CC_Base_Pelvis (thighs) and
    CC_Base_Waist (spine), thighs whose rest direction is up, arms in an A-pose, twist and share
    bones beside the limbs, an unmapped CC_Base_NeckTwist02 between neck and head, and assorted
    bone directions and rolls. chain_helpers: twist and share bones also sit *between* mapped
    bones (upper arm -> twist -> elbow share -> forearm, thigh -> twist -> knee share -> calf).
    fbx_layout: Y-up centimetres in the armature, the object turned and scaled (an FBX import).
    Returns (object, joint heads in world metres)."""
    J = _smpl_joints(scale, arm_down_deg)
    s = scale
    v = lambda *a: np.array(a, dtype=np.float64) * s
    mid = lambda a, b, t=0.5: J[a] + t * (J[b] - J[a])
    bones = [
        ("RL_BoneRoot", v(0, 0, 0), v(0, -0.25, 0), 0.0, None),
        ("CC_Base_Hip", J["pelvis"], J["pelvis"] + v(0, -0.12, 0.03), 1.2, "RL_BoneRoot"),
        ("CC_Base_Pelvis", J["pelvis"] + v(0, 0.01, -0.02), J["pelvis"] + v(0, 0.01, -0.14), 0.4,
         "CC_Base_Hip"),
        ("CC_Base_Waist", J["spine1"], J["spine2"], -0.3, "CC_Base_Hip"),
        ("CC_Base_Spine01", J["spine2"], J["spine3"], 0.2, "CC_Base_Waist"),
        ("CC_Base_Spine02", J["spine3"], J["neck"], 2.0, "CC_Base_Spine01"),
        ("CC_Base_NeckTwist01", J["neck"], mid("neck", "head"), 0.5, "CC_Base_Spine02"),
        ("CC_Base_NeckTwist02", mid("neck", "head"), mid("neck", "head") + v(0.05, -0.04, 0.02), -1.0,
         "CC_Base_NeckTwist01"),
        ("CC_Base_Head", J["head"], J["head"] + v(0, 0, 0.2), 0.0, "CC_Base_NeckTwist02"),
        ("CC_Base_JawRoot", J["head"] + v(0, -0.05, -0.02), J["head"] + v(0, -0.1, -0.05), 0.0, "CC_Base_Head"),
        ("CC_Base_R_RibsTwist", J["spine3"] + v(-0.08, -0.05, 0), J["spine3"] + v(-0.1, -0.12, 0), 0.0,
         "CC_Base_Spine02"),
    ]
    for S, side, sign in (("L", "left", 1.0), ("R", "right", -1.0)):
        up = v(0, 0, 0.35)
        knee_share = f"CC_Base_{S}_KneeShareBone"
        elbow_share = f"CC_Base_{S}_ElbowShareBone"
        bones += [
            (f"CC_Base_{S}_Thigh", J[f"{side}_hip"], J[f"{side}_hip"] + up, 0.9 * sign, "CC_Base_Pelvis"),
            (f"CC_Base_{S}_ThighTwist01", J[f"{side}_hip"], mid(f"{side}_hip", f"{side}_knee"), 0.3,
             f"CC_Base_{S}_Thigh"),
            (f"CC_Base_{S}_ThighTwist02", mid(f"{side}_hip", f"{side}_knee"), J[f"{side}_knee"], -0.6,
             f"CC_Base_{S}_ThighTwist01" if chain_helpers else f"CC_Base_{S}_Thigh"),
            (knee_share, J[f"{side}_knee"], J[f"{side}_knee"] + v(0, -0.08, 0.02), 1.4 * sign,
             f"CC_Base_{S}_ThighTwist02" if chain_helpers else f"CC_Base_{S}_Calf"),
            (f"CC_Base_{S}_Calf", J[f"{side}_knee"], J[f"{side}_ankle"], -0.2,
             knee_share if chain_helpers else f"CC_Base_{S}_Thigh"),
            (f"CC_Base_{S}_CalfTwist01", J[f"{side}_knee"], mid(f"{side}_knee", f"{side}_ankle"), 0.0,
             f"CC_Base_{S}_Calf"),
            (f"CC_Base_{S}_Foot", J[f"{side}_ankle"], J[f"{side}_foot"], 0.7, f"CC_Base_{S}_Calf"),
            (f"CC_Base_{S}_ToeBase", J[f"{side}_foot"], J[f"{side}_foot"] + v(0, -0.05, 0), 0.0,
             f"CC_Base_{S}_Foot"),
            (f"CC_Base_{S}_Clavicle", J[f"{side}_collar"], J[f"{side}_shoulder"], 0.6 * sign,
             "CC_Base_Spine02"),
            (f"CC_Base_{S}_Upperarm", J[f"{side}_shoulder"], J[f"{side}_elbow"], -1.1 * sign,
             f"CC_Base_{S}_Clavicle"),
            (f"CC_Base_{S}_UpperarmTwist01", J[f"{side}_shoulder"], mid(f"{side}_shoulder", f"{side}_elbow"),
             0.8, f"CC_Base_{S}_Upperarm"),
            (f"CC_Base_{S}_UpperarmTwist02", mid(f"{side}_shoulder", f"{side}_elbow", 0.66),
             mid(f"{side}_shoulder", f"{side}_elbow", 0.66) + v(0, 0.05, 0.08), -0.4,
             f"CC_Base_{S}_UpperarmTwist01" if chain_helpers else f"CC_Base_{S}_Upperarm"),
            (elbow_share, J[f"{side}_elbow"], J[f"{side}_elbow"] + v(0, 0.06, 0), 0.0,
             f"CC_Base_{S}_UpperarmTwist02" if chain_helpers else f"CC_Base_{S}_Upperarm"),
            (f"CC_Base_{S}_Forearm", J[f"{side}_elbow"], J[f"{side}_wrist"], 0.9,
             elbow_share if chain_helpers else f"CC_Base_{S}_Upperarm"),
            (f"CC_Base_{S}_ForearmTwist01", J[f"{side}_elbow"], mid(f"{side}_elbow", f"{side}_wrist"), 0.0,
             f"CC_Base_{S}_Forearm"),
            (f"CC_Base_{S}_Hand", J[f"{side}_wrist"],
             J[f"{side}_wrist"] + 0.3 * (J[f"{side}_wrist"] - J[f"{side}_elbow"]), 0.2, f"CC_Base_{S}_Forearm"),
            (f"CC_Base_{S}_Index1", J[f"{side}_wrist"] + v(0.08 * sign, -0.02, -0.03),
             J[f"{side}_wrist"] + v(0.12 * sign, -0.02, -0.05), 0.0, f"CC_Base_{S}_Hand"),
        ]
    M = None
    if fbx_layout:
        Rx = _rot_about((1, 0, 0), math.pi / 2)
        bones = [(n, (Rx.T @ h) * 100.0, (Rx.T @ t) * 100.0, r, p) for n, h, t, r, p in bones]
        M = np.eye(4)
        M[:3, :3] = Rx * 0.01
    obj = _make_armature("CC_Rig", bones, M)
    for pb in obj.pose.bones:
        pb.rotation_mode = "XYZ" if fbx_layout else "QUATERNION"
    return obj, J


def make_connected_root(scale=1.0):
    """The layout Blender's BVH importer makes of a file whose root joint is below the hips and
    whose hips have rotation channels only: a root bone from the floor up to the hips, and the
    hips *connected* to its tail (so the hips' location channel does nothing). Legs-only pelvis
    bone beside a spine root, as on a CC rig (names as CC_MAP). Returns (object, joints)."""
    J = _smpl_joints(scale, arm_down_deg=40.0)
    obj, _ = make_character_creator(scale, arm_down_deg=40.0)
    bpy.context.view_layer.objects.active = obj
    bpy.ops.object.mode_set(mode="EDIT")
    eb = obj.data.edit_bones
    eb["RL_BoneRoot"].tail = tuple(J["pelvis"])
    eb["CC_Base_Hip"].use_connect = True
    bpy.ops.object.mode_set(mode="OBJECT")
    return obj, J
