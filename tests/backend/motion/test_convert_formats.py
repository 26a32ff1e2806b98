"""momug convert: BVH of other skeletons through bone maps, and every pair of formats."""

import itertools

import numpy as np
import pytest

from momug.cli import main
from momug.errors import MomugError
from momug.motion import bvh as B
from momug.motion import kinematics as K
from momug.motion import quaternion as Q
from momug.motion.convert import convert_file, read_motion, resample, write_motion
from momug.motion.motionfile import Motion, load_motion, save_motion
from momug.motion.skeleton import SMPL22_NAMES, Skeleton, smpl22

X, Y, Z = np.eye(3)


def walking_rotations(T=50, fps=20.0):
    """SMPL-22 local rotations and root path of a simple walk that turns a little."""
    t = np.arange(T) / fps
    phase = 2 * np.pi * t
    rot = Q.identity((T, 22))

    def about(axis, angle):
        return Q.from_axis_angle(np.broadcast_to(axis, (T, 3)), np.broadcast_to(angle, (T,)))

    idx = SMPL22_NAMES.index
    rot[:, idx("pelvis")] = about(Y, 0.3 * t)
    rot[:, idx("left_hip")] = about(X, -0.5 * np.sin(phase))
    rot[:, idx("right_hip")] = about(X, 0.5 * np.sin(phase))
    rot[:, idx("left_knee")] = about(X, 0.3 * (1 + np.sin(phase)))
    rot[:, idx("right_knee")] = about(X, 0.3 * (1 - np.sin(phase)))
    rot[:, idx("left_shoulder")] = about(Z, -1.2 + 0.2 * np.sin(phase))
    rot[:, idx("right_shoulder")] = about(Z, 1.2)
    rot[:, idx("left_elbow")] = about(Y, 0.6)
    root = np.stack([0.2 * t, 0.93 + 0.02 * np.sin(2 * phase), 1.2 * t], axis=-1)
    return rot, root


def walking_motion(T=50, prompt="a person walks forward"):
    rot, root = walking_rotations(T)
    return Motion(K.forward(smpl22(), rot, root), 20.0, prompt, rot, root)


MIXAMO_NAMES = {
    "pelvis": "Hips", "left_hip": "LeftUpLeg", "right_hip": "RightUpLeg", "spine1": "Spine",
    "left_knee": "LeftLeg", "right_knee": "RightLeg", "spine2": "Spine1", "left_ankle": "LeftFoot",
    "right_ankle": "RightFoot", "spine3": "Spine2", "left_foot": "LeftToeBase", "right_foot": "RightToeBase",
    "neck": "Neck", "left_collar": "LeftShoulder", "right_collar": "RightShoulder", "head": "Head",
    "left_shoulder": "LeftArm", "right_shoulder": "RightArm", "left_elbow": "LeftForeArm",
    "right_elbow": "RightForeArm", "left_wrist": "LeftHand", "right_wrist": "RightHand",
}


def bvh_text(spec, rotations_by_name, root, unit, fps=30.0):
    """BVH text for a skeleton given as [(name, parent name or None, offset in metres)], in `unit`
    file units per metre; joints not in rotations_by_name keep the identity."""
    names = [s[0] for s in spec]
    parents = [-1 if s[1] is None else names.index(s[1]) for s in spec]
    offsets = np.array([s[2] for s in spec], dtype=np.float64) * unit
    T = len(root)
    rot = Q.identity((T, len(spec)))
    for name, q in rotations_by_name.items():
        rot[:, names.index(name)] = q
    return B.format_bvh(rot, np.asarray(root) * unit, fps, Skeleton(tuple(names), tuple(parents), offsets))


def mixamo_spec(prefix="mixamorig:"):
    sk = smpl22()
    spec = []
    for j, (name, p) in enumerate(zip(SMPL22_NAMES, sk.parents)):
        parent = None if p < 0 else prefix + MIXAMO_NAMES[SMPL22_NAMES[p]]
        spec.append((prefix + MIXAMO_NAMES[name], parent, sk.offsets[j]))
    spec.append((prefix + "HeadTop_End", prefix + "Head", [0.0, 0.18, 0.0]))
    spec.append((prefix + "LeftHandIndex1", prefix + "LeftHand", [0.09, 0.0, 0.01]))
    return spec


@pytest.mark.parametrize("prefix", ["mixamorig:", "mixamorig1:", ""])
def test_mixamo_bvh_in_centimetres_maps_onto_smpl(tmp_path, prefix):
    rot, root = walking_rotations()
    expected = K.forward(smpl22(), rot, root)
    spec = mixamo_spec(prefix)
    rotations = {prefix + MIXAMO_NAMES[n]: rot[:, i] for i, n in enumerate(SMPL22_NAMES)}
    path = tmp_path / "mixamo.bvh"
    path.write_text(bvh_text(spec, rotations, root, unit=100.0))
    report = []
    motion = read_motion(path, report=report)
    assert "bone map: mixamo" in report and "units: centimetres" in report
    assert motion.fps == pytest.approx(30.0)
    np.testing.assert_allclose(motion.joints, expected, atol=1e-5)
    # Rotations come from IK on SMPL-22 and reproduce the joints.
    fk = K.forward(K.fit_bone_lengths(smpl22(), motion.joints), motion.rotations, motion.root_translation)
    np.testing.assert_allclose(fk, motion.joints, atol=1e-4)


def cmu_spec():
    """A CMU-named skeleton in the SMPL-22 rest pose, with CMU's extra zero-length joints and
    without toes (so the feet must be interpolated)."""
    off = {n: smpl22().offsets[i] for i, n in enumerate(SMPL22_NAMES)}
    zero = [0.0, 0.0, 0.0]
    spec = [("Hips", None, zero)]
    for side, s in (("Left", "left"), ("Right", "right")):
        spec += [(f"{side[0]}HipJoint", "Hips", zero), (f"{side}UpLeg", f"{side[0]}HipJoint", off[f"{s}_hip"]),
                 (f"{side}Leg", f"{side}UpLeg", off[f"{s}_knee"]), (f"{side}Foot", f"{side}Leg", off[f"{s}_ankle"])]
    spec += [("LowerBack", "Hips", zero), ("Spine", "LowerBack", off["spine1"]), ("Spine1", "Spine", off["spine2"]),
             ("Neck", "Spine1", off["spine3"]), ("Neck1", "Neck", off["neck"]), ("Head", "Neck1", off["head"])]
    for side, s in (("Left", "left"), ("Right", "right")):
        spec += [(f"{side}Shoulder", "Spine1", off["spine3"] + off[f"{s}_collar"]),
                 (f"{side}Arm", f"{side}Shoulder", off[f"{s}_shoulder"]),
                 (f"{side}ForeArm", f"{side}Arm", off[f"{s}_elbow"]),
                 (f"{side}Hand", f"{side}ForeArm", off[f"{s}_wrist"])]
    return spec


def test_cmu_bvh_with_missing_toes_is_interpolated(tmp_path):
    rot, root = walking_rotations()
    expected = K.forward(smpl22(), rot, root)
    idx = SMPL22_NAMES.index
    cmu_of = {"pelvis": "Hips", "left_hip": "LeftUpLeg", "right_hip": "RightUpLeg", "left_knee": "LeftLeg",
              "right_knee": "RightLeg", "left_shoulder": "LeftArm", "right_shoulder": "RightArm",
              "left_elbow": "LeftForeArm"}
    rotations = {cmu_of[n]: rot[:, idx(n)] for n in cmu_of}
    path = tmp_path / "cmu.bvh"
    path.write_text(bvh_text(cmu_spec(), rotations, root, unit=1 / 0.056444))
    report = []
    motion = read_motion(path, report=report)
    assert "bone map: cmu_bvh" in report
    assert "interpolated joints: left_foot, right_foot" in report
    assert any("CMU units" in r for r in report)
    feet = [idx("left_foot"), idx("right_foot")]
    others = [i for i in range(22) if i not in feet]
    np.testing.assert_allclose(motion.joints[:, others], expected[:, others], atol=1e-4)
    assert np.max(np.linalg.norm(motion.joints[:, feet] - expected[:, feet], axis=-1)) < 0.08  # a guess along the facing direction


def test_z_up_bvh_is_turned_to_y_up(tmp_path):
    rot, root = walking_rotations(T=10)
    expected = K.forward(smpl22(), rot, root)
    turn = Q.from_axis_angle(X, np.array(np.pi / 2))  # Y up -> Z up
    z_rot = rot.copy()
    z_rot[:, 0] = Q.mul(np.broadcast_to(turn, (10, 4)), rot[:, 0])
    z_root = Q.rotate(np.broadcast_to(turn, (10, 4)), root)
    spec = mixamo_spec("")
    rotations = {MIXAMO_NAMES[n]: z_rot[:, i] for i, n in enumerate(SMPL22_NAMES)}
    path = tmp_path / "zup.bvh"
    path.write_text(bvh_text(spec, rotations, z_root, unit=1.0))
    report = []
    motion = read_motion(path, report=report)
    assert any("turned to Y up" in r for r in report)
    np.testing.assert_allclose(motion.joints, expected, atol=1e-5)


def test_unknown_names_map_automatically_and_unmappable_bvh_errors_through_the_cli(tmp_path, capsys):
    renamed = {"LeftForeArm": "Elbow.L", "LeftHand": "Wrist.L", "RightLeg": "Knee.R", "RightFoot": "Ankle.R"}
    spec = [(renamed.get(n, n), renamed.get(p, p), o) for n, p, o in mixamo_spec("")]
    rot, root = walking_rotations(T=3)
    path = tmp_path / "renamed.bvh"
    path.write_text(bvh_text(spec, {}, root, unit=100.0))
    # No preset fits any more: the automatic map does, by names and hierarchy.
    rc = main(["convert", str(path), str(tmp_path / "out.npz")])
    out = capsys.readouterr().out
    assert rc == 0 and "bone map: auto" in out and "elbow Elbow.L" in out
    rc = main(["convert", str(path), str(tmp_path / "out2.npz"), "--rig", "mixamo"])
    err = capsys.readouterr().err
    assert rc == 2 and "with the 'mixamo' bone map" in err and "left_elbow (looked for" in err
    assert not (tmp_path / "out2.npz").exists()
    # Without legs nothing maps it; the error names the missing chain.
    legless = [s for s in spec if not any(k in s[0] for k in ("UpLeg", "Leg", "Foot", "Toe", "Knee", "Ankle"))]
    path = tmp_path / "legless.bvh"
    path.write_text(bvh_text(legless, {}, root, unit=100.0))
    rc = main(["convert", str(path), str(tmp_path / "out3.npz")])
    err = capsys.readouterr().err
    assert rc == 2 and "Traceback" not in err and "no left leg chain" in err
    assert not (tmp_path / "out3.npz").exists()


def _pairwise(joints):
    return np.linalg.norm(joints[:, :, None] - joints[:, None, :], axis=-1)


SOURCES = ("npz", "bvh", "features", "joints")
TARGETS = ("npz", "bvh", "features")
EXT = {"npz": ".npz", "bvh": ".bvh", "features": ".npy", "joints": ".npy"}


def _write_source(tmp_path, kind, motion):
    path = tmp_path / f"src_{kind}{EXT[kind]}"
    if kind == "joints":
        np.save(path, motion.joints)
    else:
        write_motion(path, motion)
    return path


@pytest.mark.parametrize("src, dst", list(itertools.product(SOURCES, TARGETS)))
def test_convert_between_every_pair(tmp_path, src, dst):
    motion = walking_motion()
    src_path = _write_source(tmp_path, src, motion)
    dst_path = tmp_path / f"out{EXT[dst]}"
    rc = main(["convert", str(src_path), str(dst_path)])
    assert rc == 0 and dst_path.is_file()
    if dst == "features":
        features = np.load(dst_path)
        assert features.ndim == 2 and features.shape[1] == 263
        back = read_motion(dst_path).joints
    else:
        back = read_motion(dst_path).joints
    through_features = "features" in (src, dst)
    expected_frames = len(motion.joints) - (src == "features") - (dst == "features")
    assert len(back) == expected_frames
    # Feature files place the motion canonically, so compare shapes of poses, not placement.
    ref = motion.joints[: len(back)]
    tol = 2e-3 if through_features else 1e-4
    np.testing.assert_allclose(_pairwise(back), _pairwise(ref), atol=tol)
    if not through_features:
        np.testing.assert_allclose(back, ref, atol=1e-4)
    if dst == "npz":
        loaded = load_motion(dst_path)
        assert loaded.rotations is not None and loaded.root_translation is not None
        if src == "npz":
            assert loaded.prompt == motion.prompt


def test_fps_resampling(tmp_path):
    motion = walking_motion(T=41)  # 2 s at 20 fps
    save_motion(tmp_path / "m.npz", motion)
    assert main(["convert", str(tmp_path / "m.npz"), str(tmp_path / "m30.bvh"), "--fps", "30"]) == 0
    bvh = B.read_bvh(tmp_path / "m30.bvh")
    assert bvh.fps == pytest.approx(30.0) and bvh.num_frames == 61
    # Writing features resamples to 20 fps.
    assert main(["convert", str(tmp_path / "m30.bvh"), str(tmp_path / "f.npy")]) == 0
    assert np.load(tmp_path / "f.npy").shape == (40, 263)
    up = resample(motion, 40.0)
    np.testing.assert_allclose(up.joints[::2], motion.joints, atol=1e-5)


@pytest.mark.parametrize(
    "args, message",
    [
        (["in.txt", "out.npz"], "unknown motion format"),
        (["missing.npz", "out.npz"], "not found"),
        (["m.npz", "out.npy", "--fps", "30"], "20 fps"),
        (["m.npz", "out.npz", "--fps", "-1"], "--fps must be a positive number"),
        (["wrong.npy", "out.npz"], r"expected HumanML3D features shaped \(T, 263\)"),
        (["kit.npy", "out.npz"], "KIT-ML"),
    ],
)
def test_convert_errors(tmp_path, capsys, monkeypatch, args, message):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "in.txt").write_text("x")
    save_motion(tmp_path / "m.npz", walking_motion(T=5))
    np.save(tmp_path / "wrong.npy", np.zeros((5, 7)))
    np.save(tmp_path / "kit.npy", np.zeros((5, 251)))
    assert main(["convert"] + args) == 2
    err = capsys.readouterr().err
    assert message in err or __import__("re").search(message, err), err
    assert "Traceback" not in err


def test_read_motion_rejects_empty_bvh(tmp_path):
    text = B.format_bvh(Q.identity((1, 22)), np.zeros((1, 3))).replace("Frames: 1", "Frames: 0")
    text = text.rsplit("\n", 2)[0] + "\n"
    (tmp_path / "e.bvh").write_text(text)
    with pytest.raises(MomugError, match="no frames"):
        read_motion(tmp_path / "e.bvh")
