"""Bone names of rigs the automatic mapper must handle, as SMPL joint -> bone, shared by the
backend's automap tests and the Blender ones (pyproject's pytest `pythonpath` puts tests/ on the
path). Only the left side is written; the right is derived, as a rig's naming scheme would."""


def _with_right(left_names, side_from, side_to):
    names = dict(left_names)
    names.update({k.replace("left", "right"): v.replace(side_from, side_to)
                  for k, v in left_names.items() if "left" in k})
    return names


# Classic BVH names: collar, shoulder = upper arm, no toes, one chest bone short of SMPL's spine.
CLASSIC = _with_right({
    "pelvis": "Hips", "spine1": "Chest", "spine3": "Chest2", "neck": "Neck", "head": "Head",
    "left_collar": "LeftCollar", "left_shoulder": "LeftShoulder", "left_elbow": "LeftElbow",
    "left_wrist": "LeftWrist", "left_hip": "LeftHip", "left_knee": "LeftKnee", "left_ankle": "LeftAnkle",
}, "Left", "Right")

# Bandai-Namco's skeleton: _L/_R suffixes.
BANDAI = _with_right({
    "pelvis": "Hips", "spine1": "Spine", "spine3": "Chest", "neck": "Neck", "head": "Head",
    "left_collar": "Shoulder_L", "left_shoulder": "UpperArm_L", "left_elbow": "LowerArm_L",
    "left_wrist": "Hand_L", "left_hip": "UpperLeg_L", "left_knee": "LowerLeg_L", "left_ankle": "Foot_L",
    "left_foot": "Toes_L",
}, "_L", "_R")

# Mixamo, without its "mixamorig:" prefix.
MIXAMO = _with_right({
    "pelvis": "Hips", "spine1": "Spine", "spine2": "Spine1", "spine3": "Spine2", "neck": "Neck",
    "head": "Head", "left_collar": "LeftShoulder", "left_shoulder": "LeftArm", "left_elbow": "LeftForeArm",
    "left_wrist": "LeftHand", "left_hip": "LeftUpLeg", "left_knee": "LeftLeg", "left_ankle": "LeftFoot",
    "left_foot": "LeftToeBase",
}, "Left", "Right")
