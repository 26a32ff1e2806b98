"""Bone map presets: auto-detection, prefixes, resolution and the unmapped-joints error."""

import json

import numpy as np
import pytest

from momug.errors import MomugError
from momug.motion import bonemap as BM
from momug.motion.skeleton import SMPL22_NAMES

MIXAMO = ["Hips", "Spine", "Spine1", "Spine2", "Neck", "Head", "HeadTop_End",
          "LeftShoulder", "LeftArm", "LeftForeArm", "LeftHand", "LeftHandIndex1",
          "RightShoulder", "RightArm", "RightForeArm", "RightHand",
          "LeftUpLeg", "LeftLeg", "LeftFoot", "LeftToeBase", "LeftToe_End",
          "RightUpLeg", "RightLeg", "RightFoot", "RightToeBase", "RightToe_End"]
CMU = ["Hips", "LHipJoint", "LeftUpLeg", "LeftLeg", "LeftFoot", "LeftToeBase",
       "RHipJoint", "RightUpLeg", "RightLeg", "RightFoot", "RightToeBase",
       "LowerBack", "Spine", "Spine1", "Neck", "Neck1", "Head",
       "LeftShoulder", "LeftArm", "LeftForeArm", "LeftHand", "LeftFingerBase", "LThumb",
       "RightShoulder", "RightArm", "RightForeArm", "RightHand", "RightFingerBase", "RThumb"]
RIGIFY_META = ["spine", "spine.001", "spine.002", "spine.003", "spine.004", "spine.005", "spine.006",
               "pelvis.L", "pelvis.R", "thigh.L", "shin.L", "foot.L", "toe.L", "heel.02.L",
               "thigh.R", "shin.R", "foot.R", "toe.R", "heel.02.R", "shoulder.L", "upper_arm.L",
               "forearm.L", "hand.L", "shoulder.R", "upper_arm.R", "forearm.R", "hand.R", "breast.L", "breast.R"]
RIGIFY_GENERATED = ["root", "torso", "hips", "chest", "MCH-torso.parent"] + [
    f"{p}-{b}" for p in ("DEF", "ORG") for b in RIGIFY_META] + ["DEF-thigh.L.001", "DEF-upper_arm.L.001"]
# A generated rig's own controls too (as a BVH exported from it has them): FK chains, IK controls.
RIGIFY_GENERATED_CONTROLS = RIGIFY_GENERATED + [
    "spine_fk", "spine_fk.001", "spine_fk.002", "spine_fk.003", "neck", "head"] + [
    f"{b}.{s}" for s in "LR" for b in (
        "shoulder", "upper_arm_fk", "forearm_fk", "hand_fk", "thigh_fk", "shin_fk", "foot_fk", "toe_fk",
        "upper_arm_parent", "thigh_parent", "upper_arm_ik", "hand_ik", "thigh_ik", "foot_ik")]
UE5 = ["root", "pelvis", "spine_01", "spine_02", "spine_03", "spine_04", "spine_05", "neck_01", "neck_02",
       "head", "clavicle_l", "upperarm_l", "lowerarm_l", "hand_l", "clavicle_r", "upperarm_r",
       "lowerarm_r", "hand_r", "thigh_l", "calf_l", "foot_l", "ball_l", "thigh_r", "calf_r", "foot_r",
       "ball_r", "ik_foot_root", "thigh_twist_01_l", "upperarm_twist_01_l"]
UE4 = ["root", "pelvis", "spine_01", "spine_02", "spine_03", "neck_01", "head", "clavicle_l", "upperarm_l",
       "lowerarm_l", "hand_l", "clavicle_r", "upperarm_r", "lowerarm_r", "hand_r", "thigh_l", "calf_l",
       "foot_l", "ball_l", "thigh_r", "calf_r", "foot_r", "ball_r", "ik_foot_root"]
# A Character Creator (CC3/CC4) skeleton as exported: a root on the floor, hips split into a
# legs-only pelvis and a spine root under CC_Base_Hip, twist, share, toe, finger and face bones.
CC = ["RL_BoneRoot", "CC_Base_Hip", "CC_Base_Pelvis", "CC_Base_Waist", "CC_Base_Spine01", "CC_Base_Spine02",
      "CC_Base_NeckTwist01", "CC_Base_NeckTwist02", "CC_Base_Head", "CC_Base_FacialBone", "CC_Base_JawRoot",
      "CC_Base_L_Eye", "CC_Base_R_Eye", "CC_Base_L_RibsTwist", "CC_Base_L_Breast"] + [
    f"CC_Base_{s}_{b}" for s in "LR" for b in (
        "Thigh", "ThighTwist01", "ThighTwist02", "Calf", "CalfTwist01", "CalfTwist02", "KneeShareBone",
        "Foot", "ToeBase", "BigToe1", "Clavicle", "Upperarm", "UpperarmTwist01", "UpperarmTwist02",
        "Forearm", "ForearmTwist01", "ForearmTwist02", "ElbowShareBone", "Hand", "Index1", "Thumb1")]
SMPLX_ADDON = ["root"] + list(SMPL22_NAMES) + ["jaw", "left_eye_smplhf", "right_eye_smplhf",
                                                 "left_index1", "right_index1"]
SMPL_FBX = ["m_avg_root"] + ["m_avg_" + n for n in (
    "Pelvis", "L_Hip", "R_Hip", "Spine1", "L_Knee", "R_Knee", "Spine2", "L_Ankle", "R_Ankle", "Spine3",
    "L_Foot", "R_Foot", "Neck", "L_Collar", "R_Collar", "Head", "L_Shoulder", "R_Shoulder",
    "L_Elbow", "R_Elbow", "L_Wrist", "R_Wrist", "L_Hand", "R_Hand")]
SMPL_PAPER = ["Pelvis", "L_Hip", "R_Hip", "Spine1", "L_Knee", "R_Knee", "Spine2", "L_Ankle", "R_Ankle",
              "Spine3", "L_Foot", "R_Foot", "Neck", "L_Collar", "R_Collar", "Head", "L_Shoulder",
              "R_Shoulder", "L_Elbow", "R_Elbow", "L_Wrist", "R_Wrist", "L_Hand", "R_Hand"]


def test_every_preset_file_is_valid():
    names = BM.list_presets()
    assert set(names) >= {"smpl", "mixamo", "rigify", "ue5_mannequin", "smplx_addon", "cmu_bvh",
                          "character_creator"}
    for name in names:
        preset = BM.load_preset(name)
        assert preset.name == name and preset.description
        assert set(preset.bones) <= set(SMPL22_NAMES)
        for joint in BM.REQUIRED_JOINTS:
            assert preset.bones.get(joint), f"{name} has no candidates for required {joint}"


@pytest.mark.parametrize(
    "bones, preset, complete_joints",
    [
        (MIXAMO, "mixamo", 22),
        (["mixamorig:" + b for b in MIXAMO], "mixamo", 22),
        (["mixamorig1:" + b for b in MIXAMO], "mixamo", 22),
        (["mixamorig12_" + b for b in MIXAMO], "mixamo", 22),
        (["Armature|mixamorig:" + b for b in MIXAMO], "mixamo", 22),
        (CMU, "cmu_bvh", 22),
        (RIGIFY_META, "rigify", 22),
        (RIGIFY_GENERATED, "rigify", 22),
        (RIGIFY_GENERATED_CONTROLS, "rigify", 22),
        (UE5, "ue5_mannequin", 22),
        (UE4, "ue5_mannequin", 22),
        (CC, "character_creator", 22),
        ([b.lower() for b in CC], "character_creator", 22),
        (SMPLX_ADDON, "smplx_addon", 22),
        (SMPL_FBX, "smpl", 22),
        (SMPL_PAPER, "smpl", 22),
        ([n.upper() for n in SMPL22_NAMES], "smpl", 22),
    ],
    ids=["mixamo-plain", "mixamo-prefix", "mixamo1-prefix", "mixamo-underscore", "mixamo-namespace", "cmu",
         "rigify-meta", "rigify-generated", "rigify-generated-controls", "ue5", "ue4", "character-creator", "character-creator-lower", "smplx-addon", "smpl-fbx", "smpl-paper", "smpl-upper"],
)
def test_auto_detection(bones, preset, complete_joints):
    mapping = BM.resolve_bone_map(bones)
    assert mapping.preset == preset
    assert mapping.complete and len(mapping.bones) == complete_joints
    assert len(set(mapping.bones.values())) == len(mapping.bones)  # one bone per joint
    assert all(b in bones for b in mapping.bones.values())


def test_specific_assignments():
    assert BM.resolve_bone_map(["mixamorig:" + b for b in MIXAMO]).bones["left_shoulder"] == "mixamorig:LeftArm"
    ue5 = BM.resolve_bone_map(UE5).bones
    assert (ue5["spine1"], ue5["spine2"], ue5["spine3"]) == ("spine_01", "spine_03", "spine_05")
    ue4 = BM.resolve_bone_map(UE4).bones
    assert (ue4["spine1"], ue4["spine2"], ue4["spine3"]) == ("spine_01", "spine_02", "spine_03")
    rig = BM.resolve_bone_map(RIGIFY_GENERATED).bones
    assert rig["left_hip"] == "DEF-thigh.L" and rig["head"] == "DEF-spine.006" and rig["neck"] == "DEF-spine.004"
    meta = BM.resolve_bone_map(RIGIFY_META).bones
    assert meta["pelvis"] == "spine" and meta["left_collar"] == "shoulder.L"
    cmu = BM.resolve_bone_map(CMU).bones
    assert cmu["spine3"] == "Neck" and cmu["neck"] == "Neck1" and "LHipJoint" not in cmu.values()


def test_character_creator_assignments():
    """The pelvis is CC_Base_Hip, which parents both the legs-only CC_Base_Pelvis and the spine
    (CC_Base_Waist); no other twist, share or root bone stands for a joint."""
    cc = BM.resolve_bone_map(CC).bones
    assert cc["pelvis"] == "CC_Base_Hip"
    assert (cc["spine1"], cc["spine2"], cc["spine3"], cc["neck"], cc["head"]) == (
        "CC_Base_Waist", "CC_Base_Spine01", "CC_Base_Spine02", "CC_Base_NeckTwist01", "CC_Base_Head")
    assert (cc["left_hip"], cc["left_knee"], cc["left_ankle"], cc["left_foot"]) == (
        "CC_Base_L_Thigh", "CC_Base_L_Calf", "CC_Base_L_Foot", "CC_Base_L_ToeBase")
    assert (cc["right_collar"], cc["right_shoulder"], cc["right_elbow"], cc["right_wrist"]) == (
        "CC_Base_R_Clavicle", "CC_Base_R_Upperarm", "CC_Base_R_Forearm", "CC_Base_R_Hand")
    others = [b for j, b in cc.items() if j != "neck"]  # CC's first neck bone is NeckTwist01
    assert not any(w in b for b in others for w in ("Twist", "Share", "RL_", "CC_Base_Pelvis"))


def test_optional_joints_reported_as_unmapped():
    bones = [b for b in MIXAMO if b not in ("LeftShoulder", "RightShoulder", "LeftToeBase", "Spine1", "Neck")]
    mapping = BM.resolve_bone_map(bones, rig="mixamo")
    assert mapping.complete
    assert set(mapping.unmapped) == {"left_collar", "right_collar", "left_foot", "spine2", "neck"}


def test_missing_required_joints_error_lists_them():
    bones = [b for b in MIXAMO if b not in ("LeftForeArm", "RightLeg", "Head", "Neck")]
    with pytest.raises(MomugError) as info:
        BM.resolve_bone_map(bones, rig="mixamo")
    message = str(info.value)
    assert "'mixamo'" in message
    for expected in ("left_elbow (looked for mixamorig:LeftForeArm, LeftForeArm)", "right_knee", "neck or head"):
        assert expected in message
    assert "right_elbow" not in message and "left_knee" not in message
    with pytest.raises(MomugError, match="no bone map fits this skeleton.*left_elbow.*--rig"):
        BM.resolve_bone_map(bones)


def test_unknown_preset_and_custom_map(tmp_path):
    with pytest.raises(MomugError, match="unknown rig preset 'nope'.*mixamo"):
        BM.resolve_bone_map(MIXAMO, rig="nope")
    custom = {"name": "mine", "description": "test", "bones": {j: [f"B_{j}"] for j in SMPL22_NAMES}}
    path = tmp_path / "mine.json"
    path.write_text(json.dumps(custom))
    mapping = BM.resolve_bone_map([f"b {j}" for j in SMPL22_NAMES], rig=str(path))
    assert mapping.preset == "mine" and mapping.bones["head"] == "b head"
    (tmp_path / "bad.json").write_text(json.dumps({"bones": {"tail": ["x"]}}))
    with pytest.raises(MomugError, match="tail"):
        BM.load_preset(str(tmp_path / "bad.json"))


def test_complete_joints_fills_optional_from_neighbours():
    from momug.motion.skeleton import smpl22

    rest = smpl22().rest_joints()[None].repeat(3, axis=0)
    full = {n: rest[:, i] for i, n in enumerate(SMPL22_NAMES)}
    partial = {n: v for n, v in full.items() if n not in ("spine2", "left_collar", "right_foot", "head")}
    filled = BM.complete_joints(partial)
    assert filled.shape == (3, 22, 3)
    for name, tol in (("spine2", 0.03), ("left_collar", 0.03), ("right_foot", 0.03), ("head", 0.08)):
        i = SMPL22_NAMES.index(name)
        assert np.linalg.norm(filled[0, i] - rest[0, i]) < tol, name
    with pytest.raises(MomugError, match="left_wrist"):
        BM.complete_joints({n: v for n, v in full.items() if n != "left_wrist"})


def test_keying_only_preset_never_reads_motion():
    """rigify_generated maps the add-on's keys onto a generated Rigify rig's FK controls; the
    backend reads joints through the DEF- bones ('rigify') instead, and refuses it by name."""
    preset = BM.load_preset("rigify_generated")
    assert preset.keying_only and not BM.load_preset("rigify").keying_only
    assert "rigify_generated" not in [m.preset for m in BM.rank_presets(RIGIFY_GENERATED_CONTROLS)]
    assert BM.resolve_bone_map(RIGIFY_GENERATED_CONTROLS).bones["pelvis"] == "DEF-spine"
    # It does map every joint onto the controls (that is the add-on's business).
    assert len(BM.match_preset(preset, RIGIFY_GENERATED_CONTROLS).bones) == 22
    with pytest.raises(MomugError, match="keying a rig's animation controls.*'rigify'"):
        BM.resolve_bone_map(RIGIFY_GENERATED_CONTROLS, rig="rigify_generated")
