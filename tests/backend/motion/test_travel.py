"""momug.motion.travel: the root's speed and path over the ground, heights left out."""

import numpy as np
import pytest

from momug.motion.travel import root_ground_speed, root_path_length

FPS = 20.0


def test_ground_speed_is_per_frame_and_ignores_height():
    joints = np.zeros((41, 22, 3))
    joints[:, 0, 2] = np.linspace(0.0, 2.0, 41)                 # 2 m forward in 2 s
    joints[:, 0, 1] = 0.9 + 0.3 * np.sin(np.linspace(0, 6, 41))  # bobbing up and down does not count
    joints[:, 5] = 7.0                                           # nor does any joint but the root
    speed = root_ground_speed(joints, FPS)
    assert speed.shape == (40,)
    np.testing.assert_allclose(speed, 1.0)


def test_path_length_counts_a_circle_in_full():
    angle = np.linspace(0.0, 2 * np.pi, 201)
    joints = np.zeros((201, 22, 3))
    joints[:, 0, 0], joints[:, 0, 2] = np.cos(angle), np.sin(angle)   # radius 1 m, back to the start
    assert root_path_length(joints) == pytest.approx(2 * np.pi, rel=1e-3)
    assert root_path_length(joints[:1]) == 0.0
