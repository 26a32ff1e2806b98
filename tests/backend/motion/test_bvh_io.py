"""BVH reading and writing."""

import numpy as np
import pytest

from momug.errors import MomugError
from momug.motion import bvh as B
from momug.motion import kinematics as K
from momug.motion import quaternion as Q
from momug.motion.skeleton import SMPL22_NAMES, smpl22


def random_motion(T=40, seed=0, amplitude=0.8):
    rng = np.random.default_rng(seed)
    rot = Q.normalize(Q.identity((T, 22)) + amplitude * rng.normal(size=(T, 22, 4)))
    root = rng.normal(size=(T, 3)) + [0.0, 0.9, 0.0]
    return rot, root


@pytest.mark.parametrize("order", ["ZXY", "ZYX", "XYZ"])
def test_write_read_round_trip_reproduces_fk(tmp_path, order):
    sk = smpl22()
    rot, root = random_motion()
    # Gimbal-lock poses for the middle axis must survive too.
    rot[0, 4] = Q.from_axis_angle(np.array([1.0, 0.0, 0.0]), np.array(np.pi / 2))
    rot[1, 4] = Q.from_axis_angle(np.array([0.0, 1.0, 0.0]), np.array(-np.pi / 2))
    joints = K.forward(sk, rot, root)
    path = B.write_bvh(tmp_path / "m.bvh", rot, root, fps=30.0, rotation_order=order)
    back = B.read_bvh(path)
    assert back.num_frames == 40 and back.fps == pytest.approx(30.0)
    assert sorted(back.names) == sorted(SMPL22_NAMES)
    np.testing.assert_allclose(B.joints_in_order(back, SMPL22_NAMES), joints, atol=1e-5)
    np.testing.assert_allclose(back.root_positions, root, atol=1e-6)


def test_written_channels_are_documented_order(tmp_path):
    rot, root = random_motion(T=2)
    text = B.format_bvh(rot, root)
    assert "CHANNELS 6 Xposition Yposition Zposition Zrotation Xrotation Yrotation" in text
    assert "CHANNELS 3 Zrotation Xrotation Yrotation" in text
    assert text.count("End Site") == 5


CUSTOM = """HIERARCHY
ROOT Hips
{
  OFFSET 0 0 0
  CHANNELS 6 Xposition Yposition Zposition Yrotation Xrotation Zrotation
  JOINT Chest
  {
    OFFSET 0 10 0
    CHANNELS 3 Xrotation Zrotation Yrotation
    End Site
    {
      OFFSET 0 5 0
    }
  }
  JOINT Arm {
    OFFSET 5 8 0
    CHANNELS 4 Xposition Yposition Zposition Zrotation
    End Site
    {
      OFFSET 10 0 0
    }
  }
}
MOTION
Frames: 2
Frame Time: 0.0333333
1 2 3 0 0 0 0 0 0 5 8 0 90
1 2 3 90 0 0 0 0 0 5 8 0 0
"""


def test_read_any_channel_order_and_positions():
    b = B.parse_bvh(CUSTOM)
    assert b.names == ["Hips", "Chest", "Arm"] and b.parents == [-1, 0, 0]
    assert b.fps == pytest.approx(30.0, rel=1e-4)
    assert b.positions is not None  # Arm has position channels
    world = b.world_positions()
    np.testing.assert_allclose(world[0, 0], [1, 2, 3])
    np.testing.assert_allclose(world[0, 1], [1, 12, 3])
    np.testing.assert_allclose(world[0, 2], [6, 10, 3])
    # Frame 2: the root turns 90 degrees about Y, which takes +X to -Z.
    np.testing.assert_allclose(world[1, 2], [1, 10, -2], atol=1e-9)
    # A single Z rotation of 90 degrees on the arm.
    np.testing.assert_allclose(Q.rotate(b.rotations[0, 2], np.array([1.0, 0, 0])), [0, 1, 0], atol=1e-9)
    assert b.end_sites[0][0] == 1 and b.rest_extent() > 10


def _broken(old, new):
    assert old in CUSTOM
    return CUSTOM.replace(old, new)


@pytest.mark.parametrize(
    "text, pattern",
    [
        (_broken("1 2 3 90 0 0 0 0 0 5 8 0 0\n", ""), r"line \d+: motion is truncated: the header says 2 frames"),
        (_broken("1 2 3 90 0 0 0 0 0 5 8 0 0", "1 2 3 90 0 0 0 0 0 5 8 0"), r"line 28: frame 2 has 12 values, but the hierarchy declares 13"),
        (_broken("1 2 3 90 0 0", "1 2 x 90 0 0"), r"line 28: frame 2: 'x' is not a number"),
        (_broken("CHANNELS 3 Xrotation Zrotation Yrotation", "CHANNELS 2 Xrotation Zrotation Yrotation"), r"line 9: .*'Yrotation'"),
        (_broken("CHANNELS 3 Xrotation Zrotation Yrotation", "CHANNELS 3 Xrotation Zrotation"), r"line \d+: joint 'Chest' declares 3 channels but 'End'"),
        (_broken("OFFSET 0 10 0", "OFFSET 0 ten 0"), r"line 8: expected a number"),
        (_broken("JOINT Arm", "JOINT Chest"), r"line 15: joint name 'Chest' is used twice \(first on line 6\)"),
        (_broken("Frames: 2", "Frames: two"), r"'Frames:' needs a whole number"),
        (_broken("Frame Time: 0.0333333", "Frame Time: 0"), r"'Frame Time:' must be positive"),
        (CUSTOM.split("MOTION")[0], r"no MOTION section"),
        (CUSTOM.replace("  }\n}\nMOTION", "  }\nMOTION"), r"unexpected end of the hierarchy"),
        ("HIERARCHY\nMOTION\nFrames: 0\nFrame Time: 0.1\n", r"no joints"),
    ],
    ids=["truncated", "value-count", "non-numeric", "channel-count-long", "channel-count-short",
         "bad-offset", "duplicate-name", "bad-frames", "bad-frame-time", "no-motion", "unbalanced", "empty"],
)
def test_malformed_files_raise_clear_errors(text, pattern):
    with pytest.raises(MomugError, match=pattern):
        B.parse_bvh(text, "bad.bvh")


def test_missing_file(tmp_path):
    with pytest.raises(MomugError, match="not found"):
        B.read_bvh(tmp_path / "nope.bvh")


def test_write_rejects_bad_shapes():
    with pytest.raises(MomugError):
        B.format_bvh(np.zeros((3, 21, 4)), np.zeros((3, 3)))
    with pytest.raises(MomugError):
        B.format_bvh(Q.identity((3, 22)), np.zeros((3, 3)), rotation_order="XXY")
