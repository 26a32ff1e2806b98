import numpy as np
import pytest

from momug.eval.physics import foot_skating, jitter
from momug.motion import kinematics as K
from momug.motion import quaternion as Q
from momug.motion.cleanup import (BLEND_FRAMES, LEGS, STREAM_SMOOTH_DELAY, StreamedCleanup, clean_foot_contacts,
                                  finish_motion, mend_seams, planted, replay_streamed, smooth_jitter)
from momug.motion.skeleton import smpl22

FPS = 20.0
LEG_JOINTS = sorted({j for leg in LEGS for j in leg[1:]})
OTHER_JOINTS = [j for j in range(22) if j not in LEG_JOINTS]


def standing(T=60, bend=0.4):
    """A figure standing with bent knees (feet flat, toes 3 cm up), as (T, 22, 3)."""
    sk = smpl22()
    rot = Q.identity((T, 22))
    x = np.array([1.0, 0.0, 0.0])
    for hip, knee, ankle, _ in LEGS:
        rot[:, hip] = Q.from_axis_angle(x, np.array(-bend))      # thigh forward
        rot[:, knee] = Q.from_axis_angle(x, np.array(2 * bend))  # shin back
        rot[:, ankle] = Q.from_axis_angle(x, np.array(-bend))    # foot flat again
    joints = K.forward(sk, rot, np.zeros((T, 3)))
    joints[..., 1] += 0.03 - joints[:, 10, 1].min()
    return joints


def swaying(joints, amplitude=0.04):
    """The same figure with the whole body swaying sideways, feet sliding along (0.13 m/s at most)."""
    t = np.arange(len(joints)) / FPS
    out = joints.copy()
    out[..., 0] += amplitude * np.sin(2 * np.pi * 0.5 * t)[:, None]
    return out


def lengths(joints, a, b):
    return np.linalg.norm(joints[:, a] - joints[:, b], axis=-1)


def test_swaying_figure_keeps_its_planted_feet_still_and_the_rest_untouched():
    motion = swaying(standing())
    before = motion.copy()
    assert planted(motion, FPS).all()
    assert foot_skating(motion, FPS) > 0.05
    clean = clean_foot_contacts(motion, FPS)
    np.testing.assert_array_equal(motion, before)  # the input is not changed
    assert foot_skating(clean, FPS) < 1e-6
    np.testing.assert_array_equal(clean[:, OTHER_JOINTS], motion[:, OTHER_JOINTS])
    for hip, knee, ankle, toe in LEGS:
        np.testing.assert_allclose(lengths(clean, hip, knee), lengths(motion, hip, knee), atol=1e-9)
        np.testing.assert_allclose(lengths(clean, knee, ankle), lengths(motion, knee, ankle), atol=1e-9)
        np.testing.assert_allclose(lengths(clean, ankle, toe), lengths(motion, ankle, toe), atol=1e-9)
        # The knee still bends forward, the way it did.
        assert (clean[:, knee, 2] > clean[:, hip, 2]).all()


def test_straight_legs_that_cannot_reach_stay_whole_and_slide_less():
    motion = swaying(standing(bend=0.0), amplitude=0.05)
    clean = clean_foot_contacts(motion, FPS)
    assert np.isfinite(clean).all()
    for hip, knee, ankle, _ in LEGS:
        np.testing.assert_allclose(lengths(clean, hip, knee), lengths(motion, hip, knee), atol=1e-9)
        np.testing.assert_allclose(lengths(clean, knee, ankle), lengths(motion, knee, ankle), atol=1e-9)
    assert foot_skating(clean, FPS) < 0.5 * foot_skating(motion, FPS)


def test_feet_moving_fast_are_not_planted_and_are_left_alone():
    motion = standing()
    motion[..., 2] += 2.0 * np.arange(len(motion))[:, None] / FPS  # gliding forward at 2 m/s
    assert not planted(motion, FPS).any()
    np.testing.assert_array_equal(clean_foot_contacts(motion, FPS), motion)


def test_a_contact_changes_only_the_frames_it_spans_and_its_fades():
    motion = swaying(standing())
    glide = np.zeros(len(motion))
    glide[:20] = 2.0 * (np.arange(20) - 20) / FPS   # arrives fast ...
    glide[40:] = 2.0 * (np.arange(40, 60) - 39) / FPS  # ... and leaves fast
    motion[..., 2] += glide[:, None]
    contact = planted(motion, FPS)
    first, last = np.flatnonzero(contact[:, 0])[[0, -1]]
    clean = clean_foot_contacts(motion, FPS)
    changed = np.flatnonzero(np.abs(clean - motion).max(axis=(1, 2)) > 0)
    assert changed.min() >= first - BLEND_FRAMES and changed.max() <= last + BLEND_FRAMES
    # Inside the contact the toes hold one spot.
    toes = clean[first:last + 1][:, [LEGS[0][3], LEGS[1][3]]][..., [0, 2]]
    assert np.abs(toes - toes[0]).max() < 1e-9


def test_a_jump_at_a_token_seam_is_spread_over_the_frames_around_it():
    period, T = 8, 40
    t = np.arange(T, dtype=np.float64)
    motion = np.zeros((T, 22, 3))
    motion[..., 2] = 0.05 * t[:, None]                    # walking forward at 1 m/s
    motion[16:, 7, 0] += 0.5                              # the left ankle jumps half a metre at a seam
    motion[28:, 8, 0] += 0.3                              # the right one jumps off the seams
    mended = mend_seams(motion, period)
    steps = np.diff(mended, axis=0)
    # The seam's jump is spread over the 8 frames around it: no step near 0.5 m is left.
    assert np.abs(steps[:, 7, 0]).max() < 0.5 / period + 1e-9
    np.testing.assert_allclose(mended[[0, 11, 20, 39], 7], motion[[0, 11, 20, 39], 7], atol=1e-12)
    # Steady motion has nothing to mend, and a jump away from the seams is the model's own.
    others = [j for j in range(22) if j != 7]
    np.testing.assert_allclose(mended[:, others], motion[:, others], atol=1e-12)
    np.testing.assert_array_equal(mend_seams(motion, 1), motion)


def test_rejects_other_skeletons():
    with pytest.raises(ValueError, match="SMPL-22"):
        clean_foot_contacts(np.zeros((10, 21, 3)), FPS)


def test_generated_motions_get_the_cleanup_unless_turned_off(monkeypatch):
    torch = pytest.importorskip("torch")
    pytest.importorskip("peft")
    from momug.motion.features import features_to_joints, joints_to_features
    from momug.pipeline import MotionPipeline

    pipe = MotionPipeline.load("tiny", device="cpu")
    made = joints_to_features(swaying(standing(T=41)))
    # The model's sampler stands in for a model that makes this swaying figure.
    monkeypatch.setattr(pipe.model, "sample", lambda prompts, frames, *a, **k: [
        pipe.model.normalize(torch.from_numpy(made.astype(np.float32)))[:n] for n in frames])
    raw = features_to_joints(made)
    n = len(raw) - 1
    seconds = n / pipe.fps
    period = pipe.model.config.frames_per_token
    plain = pipe.generate(["a person stands"], [seconds], [0], raw=True)[0]
    mended = pipe.generate(["a person stands"], [seconds], [0], clean_feet=False)[0]
    clean = pipe.generate(["a person stands"], [seconds], [0])[0]
    np.testing.assert_allclose(plain.joints, raw[:n], atol=1e-4)
    np.testing.assert_allclose(mended.joints, smooth_jitter(mend_seams(raw[:n], period), pipe.fps), atol=1e-4)
    np.testing.assert_allclose(clean.joints, finish_motion(raw[:n], pipe.fps, period), atol=1e-4)
    assert foot_skating(clean.joints, pipe.fps) < 0.2 * foot_skating(plain.joints, pipe.fps)
    # Rotations are fitted to the cleaned joints, so a rig driven by them keeps its feet too.
    posed = K.forward(smpl22(), clean.rotations, clean.root_translation)
    assert foot_skating(posed, pipe.fps) < 0.2 * foot_skating(plain.joints, pipe.fps)


def test_a_short_lift_between_two_contacts_keeps_both_pinned():
    motion = swaying(standing())
    left_toe = LEGS[0][3]
    motion[30:32, [LEGS[0][2], left_toe], 1] += 0.1   # the left foot lifts for two frames
    contact = planted(motion, FPS)[:, 0]
    assert contact[:30].all() and not contact[30:32].any() and contact[32:].all()
    clean = clean_foot_contacts(motion, FPS)
    toe = clean[:, left_toe][:, [0, 2]]
    for part in (slice(0, 30), slice(32, None)):
        assert np.abs(toe[part] - toe[part][0]).max() < 1e-9


def test_smoothing_removes_the_buzz_and_keeps_the_movement():
    """A 1 Hz arm swing with a 7 Hz buzz on top: the buzz goes, the swing stays (phase included)."""
    t = np.arange(81) / FPS
    base = standing(T=81)
    swing = base.copy()
    swing[:, 20, 2] += 0.3 * np.sin(2 * np.pi * 1.0 * t)   # left wrist forward and back
    buzzing = swing.copy()
    buzzing[:, 20, 1] += 0.01 * np.sin(2 * np.pi * 7.0 * t)
    given = buzzing.copy()
    out = smooth_jitter(buzzing, FPS)
    assert np.array_equal(buzzing, given)  # the input is not changed
    # The swing's own jerk stays; of the buzz's, less than a tenth.
    assert jitter(out, FPS) - jitter(swing, FPS) < 0.1 * (jitter(buzzing, FPS) - jitter(swing, FPS))
    inner = slice(10, -10)  # away from the ends, the 1 Hz swing passes unchanged and without a lag
    np.testing.assert_allclose(out[inner, 20, 2], swing[inner, 20, 2], atol=0.003)
    assert abs(out[:, 20, 1] - swing[:, 20, 1]).max() < 0.003
    # Still joints stay put, and the first and last poses stay where they were.
    np.testing.assert_allclose(out[:, 0], base[:, 0], atol=1e-9)
    np.testing.assert_allclose(out[[0, -1], 20, 2], swing[[0, -1], 20, 2], atol=0.01)


def test_smoothing_keeps_a_fast_kick_and_passes_short_or_coarse_motion():
    t = np.arange(60) / FPS
    kick = standing(T=60)
    # A kick: the right foot up 0.5 m and back down within 0.4 s.
    lift = 0.5 * np.exp(-0.5 * ((t - 1.5) / 0.1) ** 2)
    kick[:, [8, 11], 1] += lift[:, None]
    out = smooth_jitter(kick, FPS)
    assert out[:, 11, 1].max() - kick[:, 11, 1].min() > 0.9 * 0.5
    short = kick[:3]
    np.testing.assert_array_equal(smooth_jitter(short, FPS), short)
    np.testing.assert_array_equal(smooth_jitter(kick, 6.0), kick)  # nothing above 4 Hz at 6 fps
    # finish_motion smooths by default and not when told.
    np.testing.assert_allclose(finish_motion(kick, FPS, 8, clean_feet=False), smooth_jitter(mend_seams(kick, 8), FPS))
    np.testing.assert_allclose(finish_motion(kick, FPS, 8, clean_feet=False, smooth=False), mend_seams(kick, 8))


def buzzing_walk(T=120, seed=0):
    """A standing figure whose wrists swing at 1 Hz, every joint buzzing (1 cm noise) on top."""
    t = np.arange(T) / FPS
    joints = standing(T=T)
    joints[:, [20, 21], 2] += 0.3 * np.sin(2 * np.pi * t)[:, None]
    return joints + np.random.default_rng(seed).normal(0, 0.01, joints.shape)


def test_streamed_cleanup_sends_each_frame_once_and_close_to_the_whole_clips_cleanup():
    joints = buzzing_walk()
    cleanup = StreamedCleanup(FPS, 4)
    sent = []
    for end in range(4, len(joints) + 1, 4):
        new = cleanup.push(joints[:end], last=end == len(joints))
        # A frame goes out only once STREAM_SMOOTH_DELAY frames follow it (all of them at the end).
        assert cleanup.sent == (end if end == len(joints) else max(end - STREAM_SMOOTH_DELAY, 0))
        sent.append(new)
    streamed = np.concatenate(sent)
    assert len(streamed) == len(joints)
    np.testing.assert_allclose(streamed, replay_streamed(joints, FPS, 4))
    whole = smooth_jitter(mend_seams(joints, 4), FPS)
    # Nearly what the whole clip's cleanup makes (about a millimetre), with as little jitter.
    assert np.abs(streamed - whole).max() < 0.004
    assert jitter(streamed, FPS) < 1.05 * jitter(whole, FPS) < 0.3 * jitter(joints, FPS)


def test_streamed_cleanup_without_smoothing_holds_back_only_the_seams_reach_and_stops_at_a_limit():
    joints = buzzing_walk(T=40)
    cleanup = StreamedCleanup(FPS, 4, smooth=False)
    first = cleanup.push(joints[:4])
    assert len(first) == 4 - cleanup.hold == 1
    np.testing.assert_allclose(first, mend_seams(joints[:4], 4)[:1])
    assert len(cleanup.push(joints[:4])) == 0          # pushed again: nothing new
    rest = cleanup.push(joints, last=True, limit=38)     # a last latent cut short: 38 frames in all
    assert len(first) + len(rest) == 38
