import numpy as np
import pytest

from momug.errors import MomugError
from momug.motion.motionfile import Motion, load_motion, save_motion


def test_round_trip_with_rotations(tmp_path):
    joints = np.random.default_rng(0).normal(size=(10, 22, 3))
    motion = Motion(joints, fps=20.0, prompt="a person waves").with_rotations()
    path = save_motion(tmp_path / "m.npz", motion)
    back = load_motion(path)
    assert back.prompt == "a person waves" and back.fps == 20.0
    assert back.joints.dtype == np.float32 and back.rotations.shape == (10, 22, 4)
    assert back.root_translation.shape == (10, 3)
    np.testing.assert_allclose(back.joints, joints.astype(np.float32))
    assert not list(tmp_path.glob("*.part"))


@pytest.mark.parametrize("bad", [np.zeros((4, 21, 3)), np.full((4, 22, 3), np.inf)])
def test_bad_joints_rejected(bad):
    with pytest.raises(MomugError):
        Motion(bad)


def test_unreadable_files(tmp_path):
    with pytest.raises(MomugError, match="not found"):
        load_motion(tmp_path / "missing.npz")
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(MomugError, match="cannot read"):
        load_motion(tmp_path / "junk.npz")
    np.savez(tmp_path / "obj.npz", joints=np.array([{"a": 1}], dtype=object))
    with pytest.raises(MomugError):
        load_motion(tmp_path / "obj.npz")  # pickled objects are refused, not executed
