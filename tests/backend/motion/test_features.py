import numpy as np
import pytest

from momug.motion import features as F
from momug.motion import kinematics as K
from momug.motion import quaternion as Q
from momug.motion.skeleton import smpl22


def turning_walk(T=160, seed=0, turn_rate=1.5, start_yaw=2.5):
    """A plausible motion: walking a circle while turning through +-180 deg, limbs swinging."""
    sk = smpl22()
    rng = np.random.default_rng(seed)
    t = np.arange(T) / 20.0
    rot = Q.identity((T, 22))
    rot[:, 0] = Q.yaw(turn_rate * t + start_yaw)
    for j in (1, 2, 4, 5, 3, 6, 9, 12, 16, 17, 18, 19):
        axis = np.broadcast_to(rng.normal(size=3), (T, 3))
        rot[:, j] = Q.from_axis_angle(axis, 0.5 * np.sin(2 * t + rng.uniform(0, 6)))
    root = np.stack([2 * np.cos(t), 0.93 + 0.03 * np.sin(6 * t), 2 * np.sin(t)], -1)
    return K.forward(sk, rot, root)


def test_dims():
    assert F.feature_dim(22) == 263
    assert F.feature_dim(21) == 251
    assert F.humanml3d_spec().dim == 263 and F.kit_spec().dim == 251


@pytest.mark.parametrize("seed,turn", [(0, 1.5), (1, -2.0), (2, 0.0)])
def test_round_trip_within_a_millimetre(seed, turn):
    joints = turning_walk(seed=seed, turn_rate=turn)
    feats = F.joints_to_features(joints)
    assert feats.shape == (len(joints) - 1, 263) and feats.dtype == np.float32
    back = F.features_to_joints(feats)
    expected = F.canonicalize(joints)[:-1]
    assert np.abs(back - expected).max() < 1e-3


def test_canonical_placement():
    joints = turning_walk()
    c = F.canonicalize(joints)
    assert abs(c[..., 1].min()) < 1e-9
    np.testing.assert_allclose(c[0, 0, [0, 2]], 0.0, atol=1e-9)
    # Canonicalising is a rigid motion: distances between joints are unchanged.
    np.testing.assert_allclose(np.linalg.norm(c[:, 16] - c[:, 1], axis=-1),
                               np.linalg.norm(joints[:, 16] - joints[:, 1], axis=-1), atol=1e-9)


def test_root_features_mean_what_they_say():
    """Gliding straight ahead at 0.6 m/s: forward root velocity 0.03 m/frame, no yaw."""
    sk = smpl22()
    T = 60
    root = np.stack([np.zeros(T), np.full(T, 0.95), np.arange(T) * 0.03], -1)
    joints = K.forward(sk, Q.identity((T, 22)), root)
    f = F.joints_to_features(joints)
    s = F.humanml3d_spec().slices()
    np.testing.assert_allclose(f[:, s["root_yaw_velocity"]], 0.0, atol=1e-6)
    np.testing.assert_allclose(f[:, s["root_velocity_xz"]], [[0.0, 0.03]] * (T - 1), atol=1e-6)
    np.testing.assert_allclose(f[:, s["root_height"]], 0.95 - sk.rest_joints()[:, 1].min(), atol=1e-6)
    assert np.all(f[:, s["contacts"]] == 1.0)  # 3 cm a frame is under HumanML3D's threshold
    fast = F.joints_to_features(K.forward(sk, Q.identity((T, 22)), root * [1, 1, 2]))
    assert np.all(fast[:, s["contacts"]] == 0.0)  # 6 cm a frame is over it


def test_kit_round_trip():
    spec = F.kit_spec()
    T = 40
    t = np.arange(T) / 12.5
    rot = Q.identity((T, 21))
    rot[:, 0] = Q.yaw(0.8 * t)
    joints = K.forward(spec.skeleton.scaled(300.0), rot, np.stack([t * 100, np.full(T, 900.0), t * 50], -1))
    feats = F.joints_to_features(joints, spec)
    assert feats.shape == (T - 1, 251)
    assert np.abs(F.features_to_joints(feats) - F.canonicalize(joints, spec)[:-1]).max() < 1e-3


def test_mean_std_the_humanml3d_way():
    feats = [F.joints_to_features(turning_walk(seed=s)) for s in range(3)]
    mean, std = F.mean_std(feats)
    assert mean.shape == std.shape == (263,)
    for group in F.humanml3d_spec().slices().values():
        assert np.allclose(std[group], std[group][0])  # one std per feature group
    assert np.all(std > 0)


def test_bad_inputs():
    with pytest.raises(ValueError):
        F.joints_to_features(np.zeros((1, 22, 3)))
    with pytest.raises(ValueError):
        F.joints_to_features(np.full((5, 22, 3), np.nan))
    with pytest.raises(ValueError):
        F.features_to_joints(np.zeros((5, 100)))
