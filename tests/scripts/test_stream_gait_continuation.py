"""scripts/stream_gait_continuation.py: pelvis ground speed per span of the continuation."""

import numpy as np
import pytest


def test_speed_bins_measure_ground_speed_per_span(load_script):
    script = load_script("stream_gait_continuation")
    fps, frames = 20.0, 41
    joints = np.zeros((frames, 22, 3))
    # 1 m/s along X for 20 frames, then standing; height (Y) changes do not count as travel.
    joints[:21, 0, 0] = np.arange(21) / fps
    joints[21:, 0, 0] = 20 / fps
    joints[:, 0, 1] = np.sin(np.arange(frames))
    assert script.speed_bins(joints, fps, 0, 4) == pytest.approx([1.0, 1.0, 0.0, 0.0])
    assert script.speed_bins(joints, fps, 15, 2) == pytest.approx([0.5, 0.0])   # half moving, half not
    assert np.isnan(script.speed_bins(joints, fps, 0, 5)[4])                      # past the end
