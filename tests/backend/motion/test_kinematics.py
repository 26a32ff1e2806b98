import numpy as np
import pytest

from momug.motion import kinematics as K
from momug.motion import quaternion as Q
from momug.motion.skeleton import smpl22


def random_pose_motion(T=60, seed=0, amplitude=0.6):
    rng = np.random.default_rng(seed)
    rot = Q.normalize(Q.identity((T, 22)) + amplitude * rng.normal(size=(T, 22, 4)))
    root = rng.normal(size=(T, 3))
    return rot, root


def test_rest_pose_is_a_standard_adult():
    rest = smpl22().rest_joints()
    assert rest[:, 1].min() > 0.0  # feet above ground
    assert 1.45 < rest[15, 1] < 1.7  # head joint height
    assert rest[16, 0] > 0 and rest[17, 0] < 0  # left side is +X
    assert rest[10, 2] > rest[7, 2]  # toes point forward (+Z)


def test_forward_keeps_bone_lengths():
    sk = smpl22()
    rot, root = random_pose_motion()
    joints = K.forward(sk, rot, root)
    for j, p in enumerate(sk.parents):
        if p >= 0:
            lengths = np.linalg.norm(joints[:, j] - joints[:, p], axis=-1)
            np.testing.assert_allclose(lengths, np.linalg.norm(sk.offsets[j]), atol=1e-12)


def test_inverse_reproduces_positions():
    sk = smpl22()
    rot, root = random_pose_motion(seed=3)
    joints = K.forward(sk, rot, root)
    local, root2 = K.inverse(sk, joints)
    np.testing.assert_allclose(K.forward(sk, local, root2), joints, atol=1e-9)
    np.testing.assert_allclose(np.linalg.norm(local, axis=-1), 1.0, atol=1e-9)


def test_inverse_of_rest_pose_is_identity():
    sk = smpl22()
    joints = sk.rest_joints()[None].repeat(3, axis=0)
    local, root = K.inverse(sk, joints)
    np.testing.assert_allclose(np.abs(local[..., 0]), 1.0, atol=1e-9)
    np.testing.assert_allclose(root, joints[:, 0])


@pytest.mark.parametrize("side", ["left", "right"])
def test_elbow_bend_gives_no_upper_arm_flip(side):
    """Bending the elbow from straight to 120 degrees must turn the shoulder smoothly."""
    sk = smpl22()
    T = 50
    rot = Q.identity((T, 22))
    elbow = sk.index(f"{side}_elbow")
    angles = np.linspace(0.0, np.radians(120), T)
    rot[:, elbow] = Q.from_axis_angle(np.broadcast_to([0.0, 1.0 if side == "left" else -1.0, 0.0], (T, 3)), -angles)
    joints = K.forward(sk, rot, np.tile([0.0, 0.95, 0.0], (T, 1)))
    local, _ = K.inverse(sk, joints)
    shoulder = sk.index(f"{side}_shoulder")
    steps = np.abs(np.sum(local[1:, shoulder] * local[:-1, shoulder], axis=-1))
    assert steps.min() > np.cos(np.radians(5) / 2)  # no frame-to-frame jump above 5 degrees


def test_quaternion_matrix_and_6d_round_trip():
    rng = np.random.default_rng(0)
    q = Q.normalize(rng.normal(size=(100, 4)))
    for back in (Q.from_matrix(Q.to_matrix(q)), Q.from_cont6d(Q.to_cont6d(q))):
        assert np.all(np.abs(np.sum(back * q, axis=-1)) > 1 - 1e-9)


def test_fit_bone_lengths_matches_motion():
    sk = smpl22()
    rot, root = random_pose_motion(seed=5)
    big = sk.scaled(1.1)
    fitted = K.fit_bone_lengths(sk, K.forward(big, rot, root))
    np.testing.assert_allclose(fitted.offsets[1:], big.offsets[1:], atol=1e-9)
