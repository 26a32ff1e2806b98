"""Animation loops in place (a Mixamo walk) are captioned as the motion they stand for: travel
restored from the planted feet, a short locomotion loop repeated; everything else is untouched."""

import numpy as np
import pytest

from momug.data.synth import compose
from momug.data.synth.actions import ACTIONS
from momug.data.synth.clip import State
from momug.data.synth.rig import Body
from momug.motion.cycles import MIN_SECONDS, as_motion, in_place_travel, is_cycle

FPS = 20.0


def build(name, params, seed=0, heading=0.7):
    rng = np.random.default_rng(seed)
    body = Body.make(1.0)
    clip = ACTIONS[name].build(body, State(np.array([0.4, -0.7]), heading), params, rng)
    return compose.solve(body, clip).joints


def straight_walk(seed=0):
    return build("walk", {"gait": "walk", "speed": "normal", "path": "straight", "direction": "forward"}, seed)


def in_place(joints):
    """The root's horizontal travel taken out, as an animation library's 'in place' export does."""
    out = joints.copy()
    out[..., [0, 2]] -= joints[:, :1, [0, 2]]
    return out


def speed(joints):
    return np.linalg.norm(joints[-1, 0, [0, 2]] - joints[0, 0, [0, 2]]) / ((len(joints) - 1) / FPS)


def test_an_in_place_walk_gets_its_travel_back():
    walk = straight_walk()
    cut = in_place(walk)[10:-10]          # steady stepping, away from the start and stop
    assert speed(cut) < 0.05
    out, report = as_motion(cut, FPS)
    assert report.in_place and not report.cycle
    assert speed(out) == pytest.approx(speed(walk[10:-10]), rel=0.25)
    # the restored travel goes the way the walker faces (the original walk's direction)
    want = walk[-11, 0, [0, 2]] - walk[10, 0, [0, 2]]
    got = out[-1, 0, [0, 2]] - out[0, 0, [0, 2]]
    assert np.dot(want, got) / (np.linalg.norm(want) * np.linalg.norm(got)) > 0.95
    # the body itself is unchanged: only a horizontal shift per frame
    rel = lambda j: j - j[:, :1]                                    # noqa: E731
    assert np.allclose(rel(out), rel(cut), atol=1e-9)
    assert np.allclose(out[..., 1], cut[..., 1])


def treadmill_loop(frames=20, speed=1.4, closed=False):
    """One gait cycle of a stick walker in place, exactly periodic like an exported animation loop:
    each foot slides back at `speed` while planted (half the cycle) and swings forward, lifted, in
    the other half. closed=True repeats the first frame at the end, as many exporters do."""
    from momug.motion.skeleton import smpl22

    step = speed * frames / FPS / 2                      # stride / 2, covered by each stance
    rest = smpl22().rest_joints()
    n = frames + int(closed)
    out = np.zeros((n, 22, 3))
    for t in range(n):
        phase = (t % frames) / frames
        base = rest.copy()
        for side, (ankle, toe), shift in ((0, (7, 10), 0.0), (1, (8, 11), 0.5)):
            p = (phase + shift) % 1.0
            if p < 0.5:                                  # stance: slides back, on the floor
                z, lift = step / 2 - step * (p / 0.5), 0.0
            else:                                        # swing: forward, lifted
                z, lift = -step / 2 + step * ((p - 0.5) / 0.5), 0.12 * np.sin(np.pi * (p - 0.5) / 0.5)
            base[ankle, [1, 2]] = [0.08 + lift, z]
            base[toe, [1, 2]] = [0.02 + lift, z + 0.12]
        out[t] = base
    out[..., 1] -= out[..., 1].min()
    return out


@pytest.mark.parametrize("closed", [False, True])
def test_a_short_in_place_loop_is_repeated_to_the_shortest_training_length(closed):
    loop = treadmill_loop(closed=closed)
    assert is_cycle(loop) == (True, closed)
    out, report = as_motion(loop, FPS)
    assert report.cycle and report.in_place and report.repeats == 2
    assert len(out) == MIN_SECONDS * FPS
    assert speed(out) == pytest.approx(1.4, rel=0.1)
    # the repeat continues the loop: the second period is the first one again
    rel = out - out[:, :1]
    assert np.allclose(rel[20:40], rel[0:20], atol=1e-9)


def test_a_loop_long_enough_already_is_not_repeated():
    loop = np.concatenate([treadmill_loop()] * 3)       # 3 s
    out, report = as_motion(loop, FPS)
    assert report.in_place and not report.cycle and len(out) == len(loop)


@pytest.mark.parametrize("name,params", [
    ("walk", {"gait": "walk", "speed": "normal", "path": "straight", "direction": "forward"}),
    ("march_in_place", {}),
    ("jog_in_place", {}),
    ("turn", {"direction": "left", "angle": 90}),
    ("raise_arms", {"side": "both"}),
    ("idle", {}),
    ("kick", None),
])
def test_real_travel_stepping_on_the_spot_turns_and_gestures_are_left_alone(name, params):
    if params is None:
        params = ACTIONS[name].sample(np.random.default_rng(0))
    joints = build(name, params)
    assert in_place_travel(joints, FPS) is None
    out, report = as_motion(joints, FPS)
    assert not report.in_place and not report.cycle
    assert np.array_equal(out, joints)


def test_a_short_one_shot_gesture_that_ends_where_it_began_is_not_looped():
    raise_and_lower = build("raise_arms", {"side": "both"})[::2][:30]   # 1.5 s, faster
    out, report = as_motion(raise_and_lower, FPS)
    assert not report.cycle and len(out) == len(raise_and_lower)


def test_captioning_reads_an_in_place_loop_as_the_walk_it_stands_for(monkeypatch):
    """MotionPipeline.caption (the CLI, the server and the add-on's Describe) captions the repeated,
    travelling walk, not the one-second treadmill loop it was given."""
    pytest.importorskip("torch")
    pytest.importorskip("peft")
    from momug.motion.features import joints_to_features
    from momug.pipeline import MotionPipeline

    pipe = MotionPipeline.load("tiny", device="cpu")
    seen = []
    describe = pipe.model.describe
    monkeypatch.setattr(pipe.model, "describe", lambda feats, **kw: seen.extend(feats) or describe(feats, **kw))
    loop = treadmill_loop()
    pipe.caption([loop.astype(np.float32)], [FPS])
    walk, _ = as_motion(loop, FPS)
    want = pipe.model.normalize(__import__("torch").from_numpy(joints_to_features(walk).astype(np.float32)))
    assert seen[0].shape == want.shape == (39, want.shape[1])
    assert np.allclose(seen[0].numpy(), want.numpy(), atol=1e-4)


def test_the_streaming_mode_captions_the_walk_too(monkeypatch):
    pytest.importorskip("torch")
    pytest.importorskip("peft")
    from momug.motion.features import joints_to_features
    from momug.stream.pipeline import StreamPipeline, tiny_stream_model

    pipe = StreamPipeline(*tiny_stream_model(), "tiny", "tiny", "cpu")
    seen = []
    monkeypatch.setattr(pipe, "describe_features", lambda feats, should_stop=None: seen.append(feats) or "ok")
    loop = treadmill_loop()
    assert pipe.caption(loop.astype(np.float32), FPS) == "ok"
    walk, _ = as_motion(loop, FPS)
    assert seen[0].shape == joints_to_features(walk).shape
    assert np.allclose(seen[0], joints_to_features(walk.astype(np.float32).astype(np.float64)), atol=1e-4)
