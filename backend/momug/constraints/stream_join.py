"""Continuing a given motion with the streaming model, frame by frame as the frames come."""

from __future__ import annotations

import numpy as np

from momug.constraints.geometry import NUM_JOINTS, facing_half, smooth_weight, wrap_half, yaw_about
from momug.constraints.spec import MAX_JOINT_SPEED, MAX_ROOT_SPEED, ConstraintError, _finite_array
from momug.motion import quaternion as Q

STREAM_FADE_FRAMES = 10


class StreamJoin:
    """Places streamed frames so they carry on from a given motion, frame by frame as they come:
    the whole stream turned and moved so its first frame stands one step past the given motion's
    end (root and facing), then the first frame's remaining pose difference faded out over
    STREAM_FADE_FRAMES. Causal (each frame needs only the first one), so frames already sent
    never change. The streaming model itself does not see the given motion."""

    def __init__(self, before):
        before = _finite_array(before, (NUM_JOINTS, 3), "the motion to continue", min_len=2)
        # Where the next frame would be if the motion went on as it ends.
        self.target = 2.0 * before[-1] - before[-2]
        speed = np.linalg.norm(before[-1] - before[-2], axis=-1).max() * 20.0
        if speed > MAX_JOINT_SPEED + MAX_ROOT_SPEED:
            raise ConstraintError(f"the motion to continue ends moving {speed:.1f} m/s; is it at 20 fps?")
        self.turn = None
        self.sent = 0

    def __call__(self, joints: np.ndarray) -> np.ndarray:
        joints = np.asarray(joints, dtype=np.float64)
        if self.turn is None:
            first = joints[0]
            theta = -2.0 * wrap_half(facing_half(self.target) - facing_half(first))
            self.turn = yaw_about(theta)
            turned = Q.rotate(np.broadcast_to(self.turn, first.shape[:-1] + (4,)), first)
            self.shift = (self.target[0] - turned[0]) * np.array([1.0, 0.0, 1.0])
            self.delta = self.target - (turned + self.shift)
        out = Q.rotate(np.broadcast_to(self.turn, joints.shape[:-1] + (4,)), joints) + self.shift
        k = np.arange(self.sent, self.sent + len(joints))
        out += smooth_weight(k / STREAM_FADE_FRAMES)[:, None, None] * self.delta[None]
        self.sent += len(joints)
        return out
