"""Animator constraints (momug.constraints) on the tiny random model, where what the projection
promises is exact whatever the model makes, plus the checks that refuse bad constraints."""

import json

import numpy as np
import pytest

from momug import constraints as C
from momug.data.synth import compose
from momug.motion.features import joints_to_features

FPS = 20.0


def walk(frames: int = 80, seed: int = 1, offset=(1.0, 0.0, -2.0)) -> np.ndarray:
    rng = np.random.default_rng(seed)
    for _ in range(50):
        motion, _, _ = compose.sample_sequence(rng, ["walk", "walk"])
        if len(motion.joints) >= frames:
            return (np.asarray(motion.joints[:frames], dtype=np.float64) + np.asarray(offset)).astype(np.float32)
    raise AssertionError("no long enough walk")


def generate(pipe, c, prompt="a person walks", seed=0, details=None, clean_feet=True):
    return pipe.generate([prompt], [c.frames / FPS], [seed], steps=3, constraints=[c], details=details,
                         clean_feet=clean_feet)[0].joints


# ------------------------------------------------------------------ the features round trip

def test_decode_encode_round_trip_is_exact():
    j = walk().astype(np.float64)
    f = joints_to_features(j).astype(np.float64)
    half, root, ric = C.decode(f)
    again = C.encode(f, half, root, ric)
    # Everything decoding reads comes back exactly; velocities follow the same positions.
    assert np.abs(again[:-1, :4 + 63] - f[:-1, :4 + 63]).max() < 1e-9
    assert np.abs(again[:-1, C.VELOCITIES] - f[:-1, C.VELOCITIES]).max() < 1e-5


def test_facing_half_matches_the_features_yaw():
    from momug.motion.features import canonicalize

    j = canonicalize(walk().astype(np.float64))
    half, _, _ = C.decode(joints_to_features(j).astype(np.float64))
    # Raw (per-frame) facing against the features' smoothed facing: within a few degrees.
    assert np.degrees(np.abs(C.wrap_half(C.facing_half(j[:-1]) - half))).max() < 3.0


def test_guide_puts_keys_exactly_into_the_features():
    """The sampling-time pull: after one guide call the decoded motion holds the key poses."""
    j = walk().astype(np.float64)
    c = C.build(80, FPS, 200, keys=(np.array([0, 40, 79]), j[[0, 40, 79]]))
    noise = np.random.default_rng(0).normal(size=(80, 263)) * 0.05
    feats = joints_to_features(np.concatenate([j, j[-1:]])).astype(np.float64) + noise
    guide = C.Guide(c)
    out = guide(feats)
    theta, shift = guide.placement(out)
    from momug.pipeline import place
    from momug.motion.features import features_to_joints

    placed = place(features_to_joints(out), theta, shift)
    assert np.abs(placed[[0, 40, 79]] - j[[0, 40, 79]]).max() < 1e-6


# ------------------------------------------------------------------ the tools, tiny model

def test_keys_are_met_exactly_and_without_pops(tiny_pipeline):
    j = walk()
    frames = [0, 30, 79]
    c = C.build(80, FPS, 200, keys=(np.array(frames), j[frames]))
    out = generate(tiny_pipeline, c)
    assert out.shape == (80, 22, 3)
    assert np.linalg.norm(out[frames] - j[frames], axis=-1).max() < 1e-5   # far inside 1 cm


def test_projection_fades_a_key_in_no_faster_than_the_motions_own_step():
    """Exact by construction: a motion that misses a key by 30 cm gets the 30 cm spread so that no
    frame's step grows by more than half the motion's typical step."""
    j = walk().astype(np.float64)
    target = j.copy()
    target[40] += np.array([0.3, 0.0, 0.0])
    c = C.build(80, FPS, 200, keys=(np.array([40]), target[[40]]))
    out = C.project(j, c).astype(np.float64)
    assert np.abs(out[40] - target[40]).max() < 1e-6
    added = np.linalg.norm(np.diff(out - j, axis=0), axis=-1).max()
    assert added <= 0.5 * C.typical_step(j) + 1e-6
    steps = C.frame_steps(out)
    assert max(steps[39], steps[40]) <= C.frame_steps(j).max() + 0.5 * C.typical_step(j)


def test_feet_cleanup_fades_out_towards_a_key():
    """The key's feet are the user's: planted-feet cleanup must not pin them and then yank them
    onto the key (a kink in the leg's path at the key)."""
    j = walk().astype(np.float64)
    slid = j + np.linspace(0.0, 2.0, len(j))[:, None, None] * np.array([1.0, 0.0, 0.0])  # a skating walk
    c = C.build(80, FPS, 200, keys=(np.array([0, 40, 79]), j[[0, 40, 79]]))
    plain = C.project(slid, c, clean_feet=False).astype(np.float64)
    clean = C.project(slid, c, clean_feet=True).astype(np.float64)
    assert not np.allclose(plain, clean)  # the cleanup did work somewhere
    near = slice(40 - 2, 40 + 3)
    kink = lambda x: np.linalg.norm(np.diff(x[near], n=2, axis=0), axis=-1).max()  # noqa: E731
    assert kink(clean) <= kink(plain) + 0.005


def test_start_continues_in_the_given_world_frame(tiny_pipeline):
    j = walk()
    c = C.build(40, FPS, 200, start=j[:50])
    assert c.lead == C.CONTEXT_FRAMES and c.total == 40 + C.CONTEXT_FRAMES
    details = []
    out = generate(tiny_pipeline, c, details=details)
    assert out.shape == (40, 22, 3)
    sampled = details[0]["sampled"]
    assert sampled.shape == (c.total, 22, 3)
    # The sampled timeline is placed in the given motion's world: its context frames were pulled
    # onto the given motion's last frames at every step (the tiny model's noise is not).
    assert np.linalg.norm(sampled[c.lead - 1, 0] - j[49, 0]) < 0.05
    # The projection over the whole timeline puts the context exactly there.
    whole = C.Constraints(**{**c.__dict__, "lead": 0, "frames": c.total, "key_frames": c.key_frames + c.lead})
    assert np.abs(C.project(sampled, whole)[:c.lead] - j[50 - c.lead:50]).max() < 1e-6


def test_continuation_carries_the_given_velocity_over_the_join():
    """Exact by construction: whatever the sampled motion does after the context, the first new
    frame moves as the given motion's last frame did (position and velocity continuous), and the
    difference fades out smoothly within MOMENTUM_FRAMES."""
    j = walk().astype(np.float64)
    given = j[:50]
    c = C.build(30, FPS, 200, start=given)
    # A sampled timeline whose new part stands still: the worst velocity mismatch at the join.
    sampled = np.concatenate([given[-c.lead:], np.repeat(given[-1:] + [0.0, 0.0, 0.05], 30, axis=0)])
    out = C.project(sampled, c).astype(np.float64)
    v_given = given[-1] - given[-2]
    assert np.abs((out[0] - given[-1]) - v_given).max() < 1e-5
    # Past the fade the model's own motion is untouched.
    assert np.abs(out[C.MOMENTUM_FRAMES + 1:] - sampled[c.lead + C.MOMENTUM_FRAMES + 1:]).max() < 1e-6
    # The fade adds no step larger than the velocity difference it removes.
    added = np.linalg.norm(np.diff(out - sampled[c.lead:], axis=0), axis=-1).max()
    assert added <= np.linalg.norm(v_given - 0.0, axis=-1).max() + 0.05 + 1e-6


def test_end_pose_is_reached_with_the_following_motions_velocity():
    j = walk().astype(np.float64)
    c = C.build(40, FPS, 200, end=j[60:])
    sampled = np.repeat(j[60:61] - [0.3, 0.0, 0.0], c.total, axis=0)
    out = C.project(sampled, c).astype(np.float64)
    assert np.abs(out[-1] - j[60]).max() < 1e-6
    assert np.abs((out[-1] - out[-2]) - (j[61] - j[60])).max() < 1e-5


def test_velocity_is_not_carried_into_a_key_right_after_the_join():
    """A key two frames after the join leaves no room to fade: the key still holds exactly."""
    j = walk().astype(np.float64)
    c = C.build(30, FPS, 200, start=j[:50], keys=(np.array([1]), j[[52]]))
    out = C.project(np.repeat(j[49:50], c.total, axis=0), c)
    assert np.abs(out[1] - j[52]).max() < 1e-6


def test_end_pose_is_the_last_frame(tiny_pipeline):
    j = walk()
    c = C.build(40, FPS, 200, end=j[60:])
    out = generate(tiny_pipeline, c)
    assert out.shape == (40, 22, 3)
    assert np.abs(out[-1] - j[60]).max() < 1e-5


def test_path_is_followed_exactly(tiny_pipeline):
    a = np.linspace(0, np.pi, 60)
    path = np.stack([np.sin(a), 1 - np.cos(a)], 1) + np.array([2.0, -1.0])
    c = C.build(None, FPS, 200, path=path)
    assert c.frames == 60
    out = generate(tiny_pipeline, c)
    assert np.sqrt(((out[:, 0, [0, 2]] - path) ** 2).sum(-1).mean()) < 1e-5


def test_waypoints_with_a_speed_make_a_path():
    path = C.read_path({"waypoints": [[0, 0], [2, 0], [2, 2]], "speed": 1.0}, FPS)
    assert len(path) == 81   # 4 m at 1 m/s, 20 fps
    step = np.linalg.norm(np.diff(path, axis=0), axis=1)
    assert np.allclose(step, 0.05, atol=1e-6)
    assert np.allclose(path[-1], [2, 2])


@pytest.mark.parametrize("keep", ["lower", "upper", "left_arm", "right_arm,head"])
def test_edit_keeps_joints_bit_for_bit(tiny_pipeline, keep):
    j = walk(60)
    c = C.build(None, FPS, 200, edit=j, keep=keep)
    out = generate(tiny_pipeline, c, prompt="a person waves")
    kept = list(C.parse_keep(keep)) + [0]
    assert np.array_equal(out[:, kept], j[:, kept])
    others = [k for k in range(22) if k not in kept]
    assert not np.array_equal(out[:, others], j[:, others])
    # Regenerated joints hang from their parents with the source's bone lengths.
    for child in others:
        parent = C.PARENTS[child]
        got = np.linalg.norm(out[:, child] - out[:, parent], axis=-1)
        want = np.linalg.norm(j[:, child] - j[:, parent], axis=-1)
        assert np.allclose(got, want, atol=1e-5)


def test_batched_motions_keep_their_own_constraints(tiny_pipeline):
    j = walk()
    a = C.build(40, FPS, 200, keys=(np.array([0, 39]), j[[0, 39]]))
    b = C.build(None, FPS, 200, path=np.stack([np.linspace(0, 2, 50), np.zeros(50)], 1))
    out = tiny_pipeline.generate(["a person walks", "a person runs", "a person waves"], [2.0, 2.5, 1.0], [0, 1, 2],
                                 steps=2, constraints=[a, b, None])
    assert [m.num_frames for m in out] == [40, 50, 20]
    assert np.abs(out[0].joints[[0, 39]] - j[[0, 39]]).max() < 1e-5
    assert np.abs(out[1].joints[:, 0, 0] - np.linspace(0, 2, 50)).max() < 1e-5


def test_unconstrained_generation_is_unchanged_by_the_guides_argument(tiny_pipeline):
    plain = tiny_pipeline.generate(["a person walks"], [1.0], [3], steps=2)[0].joints
    mixed = tiny_pipeline.generate(["a person walks"], [1.0], [3], steps=2, constraints=[None])[0].joints
    assert np.array_equal(plain, mixed)


# ------------------------------------------------------------------ bad constraints

@pytest.mark.parametrize("kwargs, words", [
    (dict(frames=40, keys=([0, 45], "two")), "outside the clip"),
    (dict(frames=40, keys=([-1], "one")), "before the clip"),
    (dict(frames=40, keys=([3, 3], "two")), "same frame"),
    (dict(frames=40, keys=([0, 2], "far")), "faster than a sprint"),
    (dict(frames=40, keys=([0], "nan")), "NaN"),
    (dict(frames=None, path="fast"), "faster than a sprint"),
    (dict(frames=None, path="nan"), "NaN"),
    (dict(frames=30, path="straight"), "points"),
    (dict(frames=None, edit="walk", keep="wings"), "unknown body part"),
    (dict(frames=None, edit="walk", keep=None), "body parts to keep"),
    (dict(frames=None, keep="lower"), "--edit"),
    (dict(frames=None, edit="walk", keep="lower", path="straight"), "cannot be combined"),
    (dict(frames=195, start="walk"), "longer than this model"),
])
def test_bad_constraints_are_refused_with_a_reason(kwargs, words):
    j = walk().astype(np.float64)
    poses = {"one": j[:1], "two": j[:2], "nan": np.where(np.arange(22)[None, :, None] == 3, np.nan, j[:1]),
             "far": np.stack([j[0], j[0] + np.array([3.0, 0, 0])])}
    paths = {"fast": np.stack([np.linspace(0, 30, 40), np.zeros(40)], 1),
             "nan": np.array([[0, 0], [np.nan, 0], [1, 0]]),
             "straight": np.stack([np.linspace(0, 2, 40), np.zeros(40)], 1)}
    args = {}
    if "keys" in kwargs:
        frames, which = kwargs["keys"]
        args["keys"] = (np.array(frames), poses[which])
    if "path" in kwargs:
        args["path"] = paths[kwargs["path"]]
    if "edit" in kwargs:
        args["edit"] = j
    if "start" in kwargs:
        args["start"] = j
    if "keep" in kwargs:
        args["keep"] = kwargs["keep"]
    with pytest.raises(C.ConstraintError, match=words):
        C.build(kwargs["frames"], FPS, 200, **args)


def test_turning_on_the_spot_between_keys_is_not_a_joint_speed():
    j = walk().astype(np.float64)
    turned = j[0].copy()
    turned[:, [0, 2]] = (turned[:, [0, 2]] - turned[0, [0, 2]]) * -1 + turned[0, [0, 2]]  # half a turn
    C.build(40, FPS, 200, keys=(np.array([0, 10]), np.stack([j[0], turned])))


def test_path_file_formats(tmp_path):
    (tmp_path / "p.json").write_text(json.dumps([[0, 0], [0.05, 0], [0.1, 0]]))
    assert C.load_path_file(tmp_path / "p.json", FPS).shape == (3, 2)
    (tmp_path / "bad.json").write_text("{nope")
    with pytest.raises(C.ConstraintError, match="not JSON"):
        C.load_path_file(tmp_path / "bad.json", FPS)
    (tmp_path / "obj.json").write_text(json.dumps({"waypoints": [[0, 0], [1, 0]]}))
    with pytest.raises(C.ConstraintError, match="waypoints"):
        C.load_path_file(tmp_path / "obj.json", FPS)


# ----------------------------------------------------------------------------- facing along a bent path
def _straight(n, step, direction):
    """(n, 3) root positions moving `step` m per frame along the (x, z) direction, from the origin."""
    xz = np.outer(np.arange(n), direction) * step
    return np.stack([xz[:, 0], np.full(n, 0.9), xz[:, 1]], 1)


def test_facing_follows_the_path_and_holds_where_it_stalls_or_a_key_pulls():
    from momug.constraints.guide import _path_turn

    model = _straight(40, 0.05, [0.0, 1.0])              # the model walks along +Z
    path = _straight(40, 0.05, [1.0, 0.0])[:, [0, 2]]     # the path asks for +X: a quarter turn
    turn = np.degrees(_path_turn(path, model))
    assert np.allclose(turn, 90.0, atol=1.0)
    # The path stops for its last ten frames: they keep the turn of the frames that travel
    # (the earlier rule let a stalled path's noise, or no turn at all, set their facing).
    stalled = path.copy()
    stalled[30:] = stalled[29] + 1e-4 * np.random.default_rng(0).standard_normal((10, 2))
    assert np.allclose(np.degrees(_path_turn(stalled, model)), 90.0, atol=1.0)
    # A path bent onto a key can double back just before it: near a key (hold) the turn is held,
    # so the body is not swung round to face backwards and then pulled onto the key's facing.
    back = path.copy()
    back[32:] = back[31] - np.outer(np.arange(1, 9), [0.05, 0.0])
    free = np.degrees(_path_turn(back, model))
    assert abs(free[-1] + 90.0) < 1.0                      # followed: a half turn, to face -X
    hold = np.zeros(40, dtype=bool)
    hold[28:] = True
    held = np.degrees(_path_turn(back, model, hold=hold))
    assert np.allclose(held, 90.0, atol=1.0)
    # Nothing travels at all: no turn.
    assert not _path_turn(np.zeros((40, 2)), model).any()
