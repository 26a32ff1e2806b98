"""Training-free conditioning while sampling: at every DDIM step the model's predicted clean motion
(x0, denormalised features) is decoded to a root track and root-relative joints, placed in the
world, pulled onto the constraints and encoded back, so the model denoises around what is known
(imputation on x0, as MDM-style inpainting does on x_t)."""

from __future__ import annotations

import numpy as np

from momug.constraints.geometry import (NUM_JOINTS, compose, decode, encode, facing_half, key_weights, reattach,
                                        to_local, wrap_half, yaw_about)
from momug.constraints.spec import Constraints
from momug.motion import quaternion as Q

# How far (frames) the sampling-time pull of a key reaches into the frames around it.
GUIDE_REACH = 10
# A frame's direction of travel counts once both the path and the model move this far per frame
# (smoothed; 0.01 m at 20 fps is 0.2 m/s, well under a slow walk's 0.5 m/s).
MIN_TRAVEL = 0.01
TRAVEL_SHARE = 0.3


def _heading(xz: np.ndarray) -> np.ndarray:
    return np.arctan2(xz[..., 0], xz[..., 1])


def _path_turn(path: np.ndarray, model_root: np.ndarray, hold: np.ndarray | None = None) -> np.ndarray:
    """Per-frame turn (radians) that makes the model's own direction of travel follow the path,
    so facing follows the path while a sidestep or a backward walk keeps its offset. Smoothed and
    weighted by speed: where either stands still the direction says nothing, so such frames take
    the turn of the nearest frames that do travel (a model that slows to a stop before a key keeps
    the facing it had, rather than spinning back to its own and then onto the key's). Frames where
    hold is True take their neighbours' turn too: near a key the pull sets the facing, and a path
    bent onto the key can double back there."""
    from scipy.ndimage import gaussian_filter1d

    pv = np.gradient(path, axis=0)
    mv = np.gradient(model_root[:, [0, 2]], axis=0)
    turn = _heading(pv) - _heading(mv)
    weight = np.minimum(np.linalg.norm(pv, axis=1), np.linalg.norm(mv, axis=1))
    c = gaussian_filter1d(weight * np.cos(turn), 3.0, mode="nearest")
    s = gaussian_filter1d(weight * np.sin(turn), 3.0, mode="nearest")
    evidence = np.hypot(c, s)
    # Travel counts where it is a fair share of the motion's own, so the last steps into a stop
    # (or a path that doubles back as it is bent onto a key) do not swing the facing around.
    travels = evidence > max(MIN_TRAVEL, TRAVEL_SHARE * float(np.median(evidence)))
    if hold is not None:
        travels &= ~hold
    if not travels.any():
        return np.zeros(len(path))  # nothing travels: no turn
    frames = np.arange(len(path))
    angle = np.unwrap(np.arctan2(s[travels], c[travels]))
    return np.interp(frames, frames[travels], angle)


class Guide:
    """Pulls the model's predicted clean motion onto the constraints; call once per DDIM step
    with the denormalised x0 features (total, 263) and get the features to continue from."""

    def __init__(self, c: Constraints):
        self.c = c
        self.key_index = c.key_frames + c.lead  # into the sampled timeline
        kj = c.key_joints
        self.key_half = facing_half(kj)
        self.key_ric = to_local(kj, self.key_half) if len(kj) else np.zeros((0, NUM_JOINTS - 1, 3))
        self.weights = key_weights(self.key_index, c.total, GUIDE_REACH) if len(kj) else None
        self.spread = key_weights(self.key_index, c.total, np.inf) if len(kj) else None
        self.near_key = (self.weights > 0).any(axis=0) if len(kj) else None
        if c.is_edit:
            src = np.asarray(c.source, dtype=np.float64)
            self.src_half = facing_half(src)
            self.src_ric = to_local(src, self.src_half)
            self.src = src

    def anchor(self, half: np.ndarray, root: np.ndarray) -> tuple[float, np.ndarray]:
        """The rigid yaw + ground shift (theta, t) that puts the features' frame in the world: from
        the pose known at the first sampled frame when there is one, else fitted to all keys,
        else from the path's start or the edited motion's first frame."""
        c = self.c
        if c.is_edit:
            return -2.0 * self.src_half[0], self.src[0, 0, [0, 2]]
        idx = self.key_index
        if len(idx):
            use = [0] if idx[0] == 0 else list(range(len(idx)))
            # h_world = h_feat - theta / 2 at each key: theta from a circular mean.
            theta_k = 2.0 * (half[idx[use]] - self.key_half[use])
            theta = float(np.arctan2(np.sin(theta_k).mean(), np.cos(theta_k).mean()))
            moved = Q.rotate(np.broadcast_to(yaw_about(theta), (len(use), 4)), root[idx[use]])
            t = (c.key_joints[use, 0] - moved)[:, [0, 2]].mean(axis=0)
            return theta, t
        if c.path is not None:
            d = c.path[min(len(c.path) - 1, 5)] - c.path[0]
            theta = float(np.arctan2(d[0], d[1])) if np.linalg.norm(d) > 1e-3 else 0.0
            return theta, c.path[0]
        return 0.0, np.zeros(2)

    def world(self, features: np.ndarray):
        """Decoded x0 placed in the world: (half-angles, root, local pose)."""
        half, root, ric = decode(features)
        theta, t = self.anchor(half, root)
        root = Q.rotate(np.broadcast_to(yaw_about(theta), (len(root), 4)), root)
        root[:, [0, 2]] += t
        return half - theta / 2.0, root, ric

    def impose(self, half: np.ndarray, root: np.ndarray, ric: np.ndarray):
        """The constraints applied to a world-placed motion (copies)."""
        c = self.c
        half, root, ric = half.copy(), root.copy(), ric.copy()
        if c.path is not None:
            sl = slice(c.lead, c.lead + c.frames)
            half[sl] -= _path_turn(c.path, root[sl]) / 2.0
            root[sl, 0], root[sl, 2] = c.path[:, 0], c.path[:, 1]
        if c.is_edit:
            keep = [j - 1 for j in c.keep if j > 0]
            half, root = self.src_half.copy(), self.src[:, 0].copy()
            new = ric.copy()
            new[:, keep] = self.src_ric[:, keep]
            ric = reattach(new, ric, self.src_ric, c.keep, local=True)
        if self.weights is not None:
            idx = self.key_index
            # The root's place on the ground drifts as the model integrates its own velocities:
            # that correction is spread over the whole gap between keys (so the path bends
            # gradually towards a key instead of jumping near it), and facing turns with the
            # change of travel direction; the pose and height are pulled only near each key.
            d_ground = (c.key_joints[:, 0] - root[idx]) * np.array([1.0, 0.0, 1.0])
            before = root.copy()
            root += np.einsum("kt,kd->td", self.spread, d_ground)
            half -= _path_turn(root[:, [0, 2]], before, hold=self.near_key) / 2.0
            d_height = (c.key_joints[:, 0, 1] - root[idx, 1])
            d_half = wrap_half(self.key_half - half[idx])
            d_ric = self.key_ric - ric[idx]
            w = self.weights
            root[:, 1] += w.T @ d_height
            half += w.T @ d_half
            ric += np.einsum("kt,kjd->tjd", w, d_ric)
        return half, root, ric

    def __call__(self, features: np.ndarray) -> np.ndarray:
        placed = self.world(features)
        # The model's own last prediction, before the pull: how well it followed by itself.
        self.unguided = compose(*placed)
        half, root, ric = self.impose(*placed)
        # Back into the features' frame: frame 0 at the origin, facing +Z.
        theta = -2.0 * half[0]
        shift = root[0].copy()
        shift[1] = 0.0
        back = Q.rotate(np.broadcast_to(yaw_about(-theta), (len(root), 4)), root - shift)
        back[0, [0, 2]] = 0.0
        return encode(features, half - half[0], back, ric)

    def placement(self, features: np.ndarray) -> tuple[float, np.ndarray]:
        """(theta, t) of the final features: frame 0's world yaw and ground position."""
        half, root, ric = self.impose(*self.world(features))
        return -2.0 * half[0], root[0, [0, 2]]
