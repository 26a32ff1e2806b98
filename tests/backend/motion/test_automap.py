"""The automatic bone mapper (momug.motion.automap) on small skeletons built here, its use as the
fallback of resolve_bone_map, and `momug convert` of classic-name and Bandai-layout BVH files
with no --rig, checked joint by joint against known poses."""

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from momug.cli import main
from momug.errors import MomugError
from momug.motion import automap as AM
from momug.motion import bonemap as BM
from momug.motion import kinematics as K
from momug.motion import quaternion as Q
from momug.motion.convert import read_motion
from momug.motion.motionfile import load_motion
from momug.motion.skeleton import SMPL22_NAMES, smpl22
from rig_namings import BANDAI, CLASSIC, MIXAMO

X, Y, Z = np.eye(3)


def build(spec):
    """(names, parent names, rest positions) from [(name, parent or None, offset)]."""
    names = [s[0] for s in spec]
    parents = [s[1] for s in spec]
    by_name = {s[0]: s for s in spec}

    def head(name):
        _, parent, off = by_name[name]
        return np.asarray(off, float) + (head(parent) if parent else 0.0)

    pos = {n: head(n) for n in names}
    return names, parents, np.array([pos[n] for n in names])


# SMPL-22's rest T-pose in metres, Y up, facing +Z (left = +X): {joint: (parent, offset)}.
_SK = smpl22()
TPOSE = {n: (SMPL22_NAMES[p] if p >= 0 else None, _SK.offsets[j])
         for j, (n, p) in enumerate(zip(SMPL22_NAMES, _SK.parents))}


def named_spec(naming, skip=(), extra=()):
    """TPOSE renamed by naming {joint: bone}; joints in skip are dropped (children re-parented,
    offsets added); extra = [(name, parent bone, offset)] appended."""
    def resolve(j):
        parent, off = TPOSE[j]
        off = np.asarray(off, float)
        while parent in skip:
            pp, po = TPOSE[parent]
            off, parent = off + np.asarray(po, float), pp
        return parent, off
    spec = []
    for j in SMPL22_NAMES:
        if j in skip:
            continue
        parent, off = resolve(j)
        spec.append((naming[j], naming[parent] if parent else None, off))
    return spec + list(extra)


CLASSIC_SKIP = ("spine2", "left_foot", "right_foot")


def mapped(spec, **kw):
    names, parents, pos = build(spec)
    return AM.automap(names, parents, pos, **kw)


def test_joint_names_are_smpl22():
    assert AM.SMPL22_JOINTS == tuple(SMPL22_NAMES)


def test_classic_bvh_names_collar_then_shoulder_as_upper_arm():
    result = mapped(named_spec(CLASSIC, CLASSIC_SKIP))
    assert result.bones == {j: CLASSIC[j] for j in SMPL22_NAMES if j in CLASSIC}
    assert result.bones["left_collar"] == "LeftCollar" and result.bones["left_shoulder"] == "LeftShoulder"
    assert result.filled == ["spine2", "left_foot", "right_foot"]
    assert any("pelvis: Hips" in n for n in result.notes)
    assert any("filled" in n and "left_foot" in n for n in result.notes)


def test_names_alone_are_enough_without_positions():
    names, parents, _ = build(named_spec(CLASSIC, CLASSIC_SKIP))
    assert AM.automap(names, parents).bones["right_elbow"] == "RightElbow"
    index = [names.index(p) if p else -1 for p in parents]  # parent indices work as well as names
    assert AM.automap(names, index).bones == AM.automap(names, parents).bones


def test_bandai_layout_with_a_root_above_the_hips_and_bones_along_x_in_centimetres():
    spec = named_spec(BANDAI, ("spine2",))
    spec = [("joint_Root", None, (0, 0, 0))] + [(n, p or "joint_Root", o) for n, p, o in spec]
    names, parents, _ = build(spec)
    # Bandai's rest pose: every bone along its parent's +X (left) or -X (right), in centimetres.
    line = np.array([[100.0 * np.linalg.norm(o) * (-1 if n.endswith("_R") else 1), 0, 0] for n, _, o in spec])
    pos = np.cumsum(line, axis=0)  # any degenerate positions: names decide
    result = AM.automap(names, parents, pos)
    assert result.bones == {j: BANDAI[j] for j in SMPL22_NAMES if j in BANDAI}
    assert result.bones["pelvis"] == "Hips" and result.filled == ["spine2"]


def test_mixamo_with_namespace_twist_roll_end_and_finger_bones():
    ns = {j: "mixamorig:" + b for j, b in MIXAMO.items()}
    extra = [("mixamorig:HeadTop_End", "mixamorig:Head", (0, 0.18, 0)),
             ("mixamorig:LeftToe_End", "mixamorig:LeftToeBase", (0, 0, 0.05)),
             ("mixamorig:LeftHandIndex1", "mixamorig:LeftHand", (0.09, 0, 0.01)),
             ("mixamorig:LeftHandIndex2", "mixamorig:LeftHandIndex1", (0.03, 0, 0)),
             ("mixamorig:LeftHandThumb1", "mixamorig:LeftHand", (0.03, 0, 0.03)),
             ("mixamorig:LeftForeArmTwist", "mixamorig:LeftForeArm", (0.1, 0, 0))]
    result = mapped(named_spec(ns, extra=extra))
    assert result.bones == {j: ns[j] for j in SMPL22_NAMES}
    assert result.filled == []
    assert set(result.skipped) == {b for b, _, _ in extra}


@pytest.mark.parametrize("fmt", ["{}.{}", "{}_{}", "{1}_{0}", "{}_{}_lower"])
def test_side_suffixes_and_prefixes(fmt):
    roles = {"pelvis": "pelvis", "spine1": "spine", "spine2": "spine", "spine3": "chest", "neck": "neck",
             "head": "head", "collar": "clavicle", "shoulder": "upperarm", "elbow": "forearm", "wrist": "hand",
             "hip": "thigh", "knee": "calf", "ankle": "foot", "foot": "toe"}
    naming = {}
    for j in SMPL22_NAMES:
        side, _, role = j.partition("_")
        if role:
            side_tag = "L" if side == "left" else "R"
            if fmt.endswith("_lower"):
                side_tag = side_tag.lower()
            naming[j] = fmt.replace("_lower", "").format(roles[role], side_tag)
        else:
            naming[j] = roles[j] + ("2" if j == "spine2" else "")
    result = mapped(named_spec(naming))
    assert result.bones == {j: naming[j] for j in SMPL22_NAMES}


def test_cmu_hip_joints_and_lower_back():
    cmu = {"pelvis": "Hips", "spine1": "LowerBack", "spine2": "Spine", "spine3": "Spine1", "neck": "Neck",
           "head": "Head", "left_collar": "LeftShoulder", "left_shoulder": "LeftArm",
           "left_elbow": "LeftForeArm", "left_wrist": "LeftHand", "left_hip": "LeftUpLeg",
           "left_knee": "LeftLeg", "left_ankle": "LeftFoot", "left_foot": "LeftToeBase"}
    cmu.update({k.replace("left", "right"): v.replace("Left", "Right") for k, v in cmu.items() if "left" in k})
    spec = named_spec(cmu)
    # LHipJoint/RHipJoint sit between Hips and the thighs, their heads at the hips' centre.
    for side, s in (("Left", "L"), ("Right", "R")):
        spec.append((f"{s}HipJoint", "Hips", (0, 0, 0)))
        spec = [(n, f"{s}HipJoint" if n == f"{side}UpLeg" else p, o) for n, p, o in spec]
    spec += [("LeftFingerBase", "LeftHand", (0.05, 0, 0)), ("LThumb", "LeftHand", (0.02, 0, 0.03)),
             ("Neck1", "Neck", (0, 0.05, 0))]
    spec = [(n, "Neck1" if n == "Head" else p, o) for n, p, o in spec]
    names, parents, pos = build(spec)
    result = AM.automap(names, parents, pos)
    assert result.bones == {j: cmu[j] for j in SMPL22_NAMES}
    assert {"LeftFingerBase", "LThumb"} <= set(result.skipped)


def test_silent_names_mapped_by_hierarchy_and_rest_positions_in_any_facing():
    order = list(SMPL22_NAMES)
    # Shuffle the sides' order so the bone numbers say nothing about left and right.
    naming = {j: f"Bone.{i:03d}" for i, j in enumerate(order)}
    spec = named_spec(naming)
    names, parents, pos = build(spec)
    truth = {j: naming[j] for j in order}
    assert AM.automap(names, parents, pos).bones == truth
    # Turned to face +X (yaw 90 degrees): left is now -Z, and the toes say so.
    turn = Rotation.from_rotvec([0, np.pi / 2, 0]).as_matrix()
    result = AM.automap(names, parents, pos @ turn.T)
    assert result.bones == truth and any("toes" in n for n in result.notes)
    # Blender's axes: Z up, facing -Y, in centimetres; with or without the up hint.
    blender = np.stack([pos[:, 0], -pos[:, 2], pos[:, 1]], axis=-1) * 100
    assert AM.automap(names, parents, blender).bones == truth
    assert AM.automap(names, parents, blender, up="Z").bones == truth
    # A mirror image swaps the sides: the positions, not the order of the bones, decide.
    mirrored = pos * np.array([-1, 1, 1])
    swapped = AM.automap(names, parents, mirrored).bones
    assert swapped["left_hip"] == naming["right_hip"] and swapped["left_wrist"] == naming["right_wrist"]


def test_twist_roll_share_bones_inside_chains_are_not_joints():
    spec = named_spec(MIXAMO)
    inserted = {"LeftUpLeg": "LeftUpLegRoll", "LeftArm": "LeftArmTwist", "RightForeArm": "RightForeArmRoll"}
    out = []
    for n, p, o in spec:
        if p in inserted:  # the helper sits in the chain, halfway along the parent's bone
            out.append((n, inserted[p], np.asarray(o) * 0.5))
        else:
            out.append((n, p, o))
    for parent, helper in inserted.items():
        child_off = next(o for n, p, o in spec if p == parent and n not in ("LeftShoulder",))
        out.append((helper, parent, np.asarray(child_off) * 0.5))
    out.append(("RightUpLegShare", "Hips", (-0.05, -0.05, 0)))
    result = mapped(out)
    assert result.bones == {j: MIXAMO[j] for j in SMPL22_NAMES}
    assert set(result.skipped) == set(inserted.values()) | {"RightUpLegShare"}


def test_a_head_named_helper_outside_the_body_is_not_the_head():
    spec = named_spec(MIXAMO) + [("HeadLookAt", None, (0, 1.6, 0.5)), ("Head_Aim", "Hips", (0, 0.7, 0.4))]
    assert mapped(spec).bones == {j: MIXAMO[j] for j in SMPL22_NAMES}


def test_missing_toes_and_missing_spine_joints_are_filled():
    result = mapped(named_spec(MIXAMO, ("left_foot", "right_foot", "spine1", "spine2")))
    assert result.filled == ["spine1", "spine2", "left_foot", "right_foot"]
    assert result.bones["spine3"] == "Spine2" and result.bones["left_ankle"] == "LeftFoot"


CC = {"pelvis": "CC_Base_Hip", "spine1": "CC_Base_Waist", "spine2": "CC_Base_Spine01",
      "spine3": "CC_Base_Spine02", "neck": "CC_Base_NeckTwist01", "head": "CC_Base_Head"}
for _s, _t in (("left", "L"), ("right", "R")):
    CC.update({f"{_s}_collar": f"CC_Base_{_t}_Clavicle", f"{_s}_shoulder": f"CC_Base_{_t}_Upperarm",
               f"{_s}_elbow": f"CC_Base_{_t}_Forearm", f"{_s}_wrist": f"CC_Base_{_t}_Hand",
               f"{_s}_hip": f"CC_Base_{_t}_Thigh", f"{_s}_knee": f"CC_Base_{_t}_Calf",
               f"{_s}_ankle": f"CC_Base_{_t}_Foot", f"{_s}_foot": f"CC_Base_{_t}_ToeBase"})


def cc_spec(neck_bones=("CC_Base_NeckTwist01", "CC_Base_NeckTwist02")):
    """A Character Creator 3/4 skeleton: RL_BoneRoot, split hips (CC_Base_Pelvis carries the
    thighs beside CC_Base_Waist), an upper-arm twist beside the arm, and neck_bones one after
    another from the chest to the head, sharing the neck's length."""
    spec = [("RL_BoneRoot", None, (0, 0, 0))]
    for n, p, o in named_spec(CC):
        if n.endswith("_Thigh"):
            p = "CC_Base_Pelvis"
        if n == "CC_Base_NeckTwist01":
            continue
        if n == "CC_Base_Head":
            neck_off = np.asarray(TPOSE["neck"][1], float)
            for k, b in enumerate(neck_bones):
                spec.append((b, neck_bones[k - 1] if k else "CC_Base_Spine02",
                             neck_off if k == 0 else np.asarray(o, float) / len(neck_bones)))
            p = neck_bones[-1] if neck_bones else "CC_Base_Spine02"
            o = np.asarray(o, float) / max(len(neck_bones), 1) + (0 if neck_bones else neck_off)
        spec.append((n, p or "RL_BoneRoot", o))
    spec.insert(2, ("CC_Base_Pelvis", "CC_Base_Hip", (0, 0, 0)))
    spec.append(("CC_Base_L_UpperarmTwist01", "CC_Base_L_Upperarm", (0.1, 0, 0)))
    return spec


def test_character_creator_split_hips_pelvis_is_the_common_parent():
    names, _, pos = build(cc_spec())
    # The head sits where SMPL's does: the two neck bones share the neck-to-head offset.
    assert np.allclose(pos[names.index("CC_Base_Head")], build(named_spec(CC))[2][SMPL22_NAMES.index("head")])
    result = mapped(cc_spec())
    assert result.bones["pelvis"] == "CC_Base_Hip"
    assert result.bones["left_hip"] == "CC_Base_L_Thigh" and result.bones["right_knee"] == "CC_Base_R_Calf"
    assert result.bones["spine1"] == "CC_Base_Waist" and result.bones["spine3"] == "CC_Base_Spine02"
    assert "CC_Base_Pelvis" not in result.bones.values() and "RL_BoneRoot" not in result.bones.values()


@pytest.mark.parametrize("neck_bones", [("CC_Base_NeckTwist01", "CC_Base_NeckTwist02"),
                                        ("CC_Base_NeckTwist01",), ("Neck_Twist",)])
def test_character_creator_neck_twist_bones_are_the_neck(neck_bones):
    result = mapped(cc_spec(neck_bones))
    assert result.bones == {j: CC[j] if j != "neck" else neck_bones[0] for j in SMPL22_NAMES}
    assert result.filled == []
    # The top neck bone is a joint now; the second neck twist and the arm's twist stay helpers.
    assert neck_bones[0] not in result.skipped
    assert set(result.skipped) == set(neck_bones[1:]) | {"CC_Base_L_UpperarmTwist01"}
    assert not any(neck_bones[0] in n for n in result.notes if n.startswith("skipped"))
    assert f"neck {neck_bones[0]}" in next(n for n in result.notes if n.startswith("spine:"))


@pytest.mark.parametrize("neck_bones", [
    ("CC_Base_SpineTwist", "CC_Base_NeckTwist01"),  # not all of them neck bones
    ("CC_Base_NeckTwist01", "HeadIK"),  # a helper that is no twist on the stretch
    ("NeckRoll",),  # a roll bone, not a twist
])
def test_other_helpers_between_chest_and_head_are_not_the_neck(neck_bones):
    result = mapped(cc_spec(neck_bones))
    assert "neck" not in result.bones and "neck" in result.filled
    assert result.bones["head"] == "CC_Base_Head" and result.bones["spine3"] == "CC_Base_Spine02"
    assert set(neck_bones) <= set(result.skipped)


def test_a_twist_bone_beside_the_neck_is_not_the_neck():
    # Nothing lies between the chest and the head; the twist hangs off the chest to one side.
    spec = cc_spec(()) + [("CC_Base_NeckTwist01", "CC_Base_Spine02", (0.05, 0.1, 0))]
    result = mapped(spec)
    assert "neck" in result.filled and "CC_Base_NeckTwist01" in result.skipped


@pytest.mark.parametrize("drop, chain", [
    (("left_hip", "left_knee", "left_ankle", "left_foot"), "no left leg chain"),
    (("right_collar", "right_shoulder", "right_elbow", "right_wrist"), "no right arm chain"),
    (tuple(j for j in SMPL22_NAMES if "hip" in j or "knee" in j or "ankle" in j or "foot" in j), "no left leg chain"),
])
def test_unmappable_skeleton_error_names_the_chain(drop, chain):
    with pytest.raises(AM.AutoMapError, match=chain):
        mapped(named_spec(MIXAMO, drop))
    silent = {j: f"Bone.{i:03d}" for i, j in enumerate(SMPL22_NAMES)}
    with pytest.raises(AM.AutoMapError, match=r"no (left|right) (leg|arm) chain"):
        mapped(named_spec(silent, drop))


def test_bad_input_gives_one_line_errors():
    with pytest.raises(AM.AutoMapError, match="2 bone names but 1 parents"):
        AM.automap(["Hips", "Spine"], [None])
    with pytest.raises(AM.AutoMapError, match="not a bone"):
        AM.automap(["Hips", "Spine"], [None, "Pelvis"])
    with pytest.raises(AM.AutoMapError, match="cycle"):
        AM.automap(["A", "B"], [1, 0])
    with pytest.raises(AM.AutoMapError, match="no bones"):
        AM.automap([], [])
    names, parents, pos = build(named_spec(MIXAMO))
    with pytest.raises(AM.AutoMapError, match="positions must be"):
        AM.automap(names, parents, pos[:3])
    with pytest.raises(AM.AutoMapError, match="up must be"):
        AM.automap(names, parents, pos, up="W")


def test_resolve_bone_map_falls_back_to_automap_and_presets_still_win():
    names, parents, pos = build(named_spec(CLASSIC, CLASSIC_SKIP))
    with pytest.raises(MomugError, match="no bone parents"):
        BM.resolve_bone_map(names)  # names alone: presets only, as before
    auto = BM.resolve_bone_map(names, parents=parents, positions=pos)
    assert auto.preset == "auto" and auto.bones["left_shoulder"] == "LeftShoulder" and auto.notes
    assert auto.unmapped == list(CLASSIC_SKIP)
    mix_names, mix_parents, mix_pos = build(named_spec(MIXAMO))
    assert BM.resolve_bone_map(mix_names, parents=mix_parents, positions=mix_pos).preset == "mixamo"
    with pytest.raises(MomugError, match="with the 'mixamo' bone map"):  # a named preset never falls back
        BM.resolve_bone_map(names, rig="mixamo", parents=parents, positions=pos)
    legless, lparents, _ = build(named_spec(CLASSIC, CLASSIC_SKIP + ("left_hip", "left_knee", "left_ankle")))
    with pytest.raises(MomugError, match="no bone map fits this skeleton \\(no left leg chain"):
        BM.resolve_bone_map(legless, parents=lparents)


# ----------------------------------------------------------------------------------------------
# momug convert with no --rig, joint by joint

def known_pose(T=4):
    """SMPL-22 local rotations (spine2 kept straight, as files without it are) and root path."""
    t = np.arange(T) / 20.0
    rot = Q.identity((T, 22))

    def about(axis, angle):
        return Q.from_axis_angle(np.broadcast_to(axis, (T, 3)), np.broadcast_to(angle, (T,)))

    i = SMPL22_NAMES.index
    rot[:, i("pelvis")] = about(Y, 0.4 + t)
    rot[:, i("left_hip")] = about(X, -0.5 + t)
    rot[:, i("right_hip")] = about(X, 0.4)
    rot[:, i("left_knee")] = about(X, 0.6)
    rot[:, i("spine1")] = about(X, 0.15)
    rot[:, i("spine3")] = about(Z, 0.1)
    rot[:, i("neck")] = about(X, -0.2)
    rot[:, i("left_shoulder")] = about(Z, -1.1)
    rot[:, i("right_shoulder")] = about(Z, 1.0 - t)
    rot[:, i("right_elbow")] = about(Y, -0.8)
    rot[:, i("left_ankle")] = about(X, 0.3)
    root = np.stack([0.3 * t, 0.95 + 0.0 * t, 0.5 * t], axis=-1)
    return rot, root


def _euler_zxy(q):
    """Quaternions (w, x, y, z) as BVH 'Zrotation Xrotation Yrotation' degrees."""
    q = np.asarray(q).reshape(-1, 4)
    return Rotation.from_quat(q[:, [1, 2, 3, 0]]).as_euler("ZXY", degrees=True)


def _bvh_text(names, parents, offsets, locals_q, translations, six_channels, fps=30.0):
    """BVH text: joint j local rotation locals_q[:, j], translation translations[:, j] (6-channel
    joints) or its offset. Joints must come parents first, each parent's children in order."""
    lines = ["HIERARCHY"]
    order = []

    def emit(j, depth):
        pad = "\t" * depth
        kw = "ROOT" if parents[j] < 0 else "JOINT"
        lines.append(f"{pad}{kw} {names[j]}")
        lines.append(f"{pad}{{")
        lines.append(f"{pad}\tOFFSET {' '.join(f'{v:.6f}' for v in offsets[j])}")
        if six_channels or parents[j] < 0:
            lines.append(f"{pad}\tCHANNELS 6 Xposition Yposition Zposition Zrotation Xrotation Yrotation")
        else:
            lines.append(f"{pad}\tCHANNELS 3 Zrotation Xrotation Yrotation")
        order.append(j)
        kids = [c for c, p in enumerate(parents) if p == j]
        for c in kids:
            emit(c, depth + 1)
        if not kids:
            lines.extend([f"{pad}\tEnd Site", f"{pad}\t{{", f"{pad}\t\tOFFSET 0 0 0", f"{pad}\t}}"])
        lines.append(f"{pad}}}")

    emit(0, 0)
    T = locals_q.shape[0]
    lines += ["MOTION", f"Frames: {T}", f"Frame Time: {1 / fps:.6f}"]
    euler = _euler_zxy(locals_q).reshape(T, len(names), 3)
    for f in range(T):
        row = []
        for j in order:
            if six_channels or parents[j] < 0:
                row += list(translations[f, j])
            row += list(euler[f, j])
        lines.append(" ".join(f"{v:.6f}" for v in row))
    return "\n".join(lines) + "\n"


def _smpl_globals(rot):
    sk = smpl22()
    glob = np.zeros_like(rot)
    for j, p in enumerate(sk.parents):
        glob[:, j] = rot[:, j] if p < 0 else Q.mul(glob[:, p], rot[:, j])
    return glob


def _check_joints(motion, expected, skip):
    keep = [i for i, n in enumerate(SMPL22_NAMES) if n not in skip]
    np.testing.assert_allclose(motion.joints[:, keep], expected[:, keep], atol=2e-4)
    # Filled joints land near SMPL's own (spine2 between spine1 and spine3, feet ahead of the ankles).
    for name in skip:
        j = SMPL22_NAMES.index(name)
        assert np.max(np.linalg.norm(motion.joints[:, j] - expected[:, j], axis=-1)) < 0.08, name
    # Standing on the ground at a person's height, Y up.
    foot_y = motion.joints[:, [7, 8, 10, 11], 1].min()
    assert -0.05 < foot_y < 0.12
    assert 1.4 < motion.joints[0, 15, 1] - foot_y < 1.7


def _classic_bvh(tmp_path, T=4):
    """A classic-name BVH (centimetres, no toes) of the known pose; returns (path, SMPL joints)."""
    rot, root = known_pose(T)
    expected = K.forward(smpl22(), rot, root)
    spec = named_spec(CLASSIC, CLASSIC_SKIP)
    names = [s[0] for s in spec]
    parents = [names.index(s[1]) if s[1] else -1 for s in spec]
    offsets = np.array([s[2] for s in spec]) * 100.0  # centimetres
    # The file's rest pose is SMPL's (a T-pose), so its local rotations are SMPL's; with spine2
    # straight, Chest2 carries spine3's rotation.
    inv = {CLASSIC[j]: SMPL22_NAMES.index(j) for j in CLASSIC}
    locals_q = rot[:, [inv[n] for n in names]]
    trans = np.broadcast_to(offsets, (len(root),) + offsets.shape).copy()
    trans[:, 0] = root * 100.0
    path = tmp_path / "classic.bvh"
    # SMPL's rest offsets place the classic skeleton's rest T-pose; FK of the file must equal SMPL's.
    path.write_text(_bvh_text(names, parents, offsets, locals_q, trans, six_channels=False))
    return path, expected


def test_convert_classic_name_bvh_with_no_rig(tmp_path, capsys):
    path, expected = _classic_bvh(tmp_path)
    out = tmp_path / "classic.npz"
    assert main(["convert", str(path), str(out)]) == 0
    text = capsys.readouterr().out
    assert "bone map: auto" in text and "shoulder LeftShoulder" in text and "units: centimetres" in text
    _check_joints(load_motion(out), expected, CLASSIC_SKIP)


def test_caption_reads_a_classic_name_bvh_with_no_rig(tmp_path, capsys):
    # The tiny untrained model: reading the file is what is tested here, not the words.
    path, _ = _classic_bvh(tmp_path, T=48)
    assert main(["caption", str(path), "--checkpoint", "tiny", "--device", "cpu"]) == 0
    assert capsys.readouterr().out.strip()


def test_convert_bandai_layout_bvh_with_no_rig(tmp_path):
    rot, root = known_pose()
    T = len(root)
    expected = K.forward(smpl22(), rot, root)
    sk = smpl22()
    glob = _smpl_globals(rot)
    spec = named_spec(BANDAI, ("spine2",))
    names = ["joint_Root"] + [s[0] for s in spec]
    parents = [-1] + [names.index(s[1]) if s[1] else 0 for s in spec]
    smpl_of = {BANDAI[j]: SMPL22_NAMES.index(j) for j in BANDAI}
    rest = dict(zip(names[1:], build(spec)[2]))
    # Each joint's frame turns +X (-X on the right) onto its bone towards its main child, as in
    # Bandai's files; every offset is then constant in that frame.
    main_child = {"Hips": "Spine", "Spine": "Chest", "Chest": "Neck", "Neck": "Head",
                  "Shoulder_L": "UpperArm_L", "UpperArm_L": "LowerArm_L", "LowerArm_L": "Hand_L",
                  "UpperLeg_L": "LowerLeg_L", "LowerLeg_L": "Foot_L", "Foot_L": "Toes_L"}
    main_child.update({k.replace("_L", "_R"): v.replace("_L", "_R") for k, v in main_child.items() if "_L" in k})
    frame = {}
    for name in names[1:]:
        axis = -X if name.endswith("_R") else X
        if name in main_child:
            bone = rest[main_child[name]] - rest[name]
            r, _ = Rotation.align_vectors([bone], [axis])
        else:
            r = Rotation.identity()
        q = r.as_quat()
        frame[name] = np.array([q[3], q[0], q[1], q[2]])
    G = np.zeros((T, len(names), 4))
    G[:, 0] = [1, 0, 0, 0]
    world = np.zeros((T, len(names), 3))
    for k, name in enumerate(names[1:], start=1):
        G[:, k] = Q.mul(glob[:, smpl_of[name]], np.broadcast_to(frame[name], (T, 4)))
        world[:, k] = expected[:, smpl_of[name]]
    locals_q = np.zeros_like(G)
    trans = np.zeros((T, len(names), 3))
    for k, p in enumerate(parents):
        if p < 0:
            locals_q[:, k] = G[:, k]
            continue
        locals_q[:, k] = Q.mul(Q.inverse(G[:, p]), G[:, k])
        trans[:, k] = Q.rotate(Q.inverse(G[:, p]), world[:, k] - world[:, p]) * 100.0
    # Bandai's layout: constant translations (= offsets), bones along X, centimetres.
    assert np.allclose(trans[:, 2:], trans[:1, 2:], atol=1e-6) and abs(trans[0, names.index("LowerLeg_L"), 1]) < 1e-6
    path = tmp_path / "bandai.bvh"
    path.write_text(_bvh_text(names, parents, trans[0], locals_q, trans, six_channels=True))
    report = []
    motion = read_motion(path, report=report)
    assert report[0].startswith("bone map: auto") and "units: centimetres" in report
    _check_joints(motion, expected, ("spine2",))


def test_the_addon_loads_the_same_mapper_from_the_checkout_and_from_the_built_extension(tmp_path):
    """The add-on's bonemaps.py (numpy and the standard library only, so it loads without Blender)
    finds automap.py next to itself in the built zip, else in the source checkout."""
    import importlib.util
    import subprocess
    import sys
    import zipfile
    from pathlib import Path

    root = Path(__file__).resolve().parents[3]
    source = root / "backend" / "momug" / "motion" / "automap.py"

    def load_bonemaps(path):
        spec = importlib.util.spec_from_file_location(f"bonemaps_{len(str(path))}", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module

    in_checkout = load_bonemaps(root / "blender_addon" / "bonemaps.py").automap_module()
    assert Path(in_checkout.__file__).resolve() == source
    out = subprocess.run([sys.executable, str(root / "scripts" / "build_addon.py"), "-o", str(tmp_path)],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    with zipfile.ZipFile(out.stdout.strip().splitlines()[-1]) as zf:
        assert zf.read("automap.py") == source.read_bytes()
        zf.extractall(tmp_path / "ext")
    built = load_bonemaps(tmp_path / "ext" / "bonemaps.py").automap_module()
    assert Path(built.__file__).resolve() == (tmp_path / "ext" / "automap.py").resolve()
    names, parents, pos = build(named_spec(CLASSIC, CLASSIC_SKIP))
    assert built.automap(names, parents, pos).bones == AM.automap(names, parents, pos).bones
