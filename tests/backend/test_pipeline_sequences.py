"""MotionPipeline.generate with prompts that name actions in order: one step per action, each
continuing the motion so far, over its share of the length (tiny untrained model: the plumbing)."""

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("peft")

from momug.constraints import CONTEXT_FRAMES  # noqa: E402
from momug.pipeline import MotionPipeline  # noqa: E402


@pytest.fixture(scope="module")
def pipe():
    return MotionPipeline.load("tiny", device="cpu")


@pytest.fixture
def calls(pipe, monkeypatch):
    """What each inner generation was asked for, and what it made."""
    seen, real = [], pipe._generate

    def spy(prompts, seconds, seeds, constraints=None, **kw):
        motions = real(prompts, seconds, seeds, constraints=constraints, **kw)
        seen.append({"prompts": prompts, "seconds": seconds, "seeds": seeds, "constraints": constraints,
                     "made": [m.joints.copy() for m in motions]})
        return motions

    monkeypatch.setattr(pipe, "_generate", spy)
    return seen


def test_a_sequence_is_made_step_by_step_in_time_order(pipe, calls):
    prompt = "someone waves their left hand after walking forward"
    fractions = []
    [motion] = pipe.generate([prompt], [4.0], [7], steps=2, progress=fractions.append)
    assert [c["prompts"] for c in calls] == [["someone walks forward"], ["someone waves their left hand"]]
    assert [c["seconds"] for c in calls] == [[2.0], [2.0]] and [c["seeds"] for c in calls] == [[7], [8]]
    first, second = calls[0]["made"][0], calls[1]["made"][0]
    # The second step continues the first: its context is the first's last frames, in its world frame.
    assert calls[0]["constraints"] is None
    cont = calls[1]["constraints"][0]
    assert cont.lead == CONTEXT_FRAMES and cont.frames == 40
    np.testing.assert_allclose(cont.key_joints, first[-CONTEXT_FRAMES:], atol=1e-6)
    np.testing.assert_array_equal(motion.joints, np.concatenate([first, second]).astype(np.float32))
    assert motion.num_frames == 80 and motion.prompt == prompt and motion.rotations is not None
    assert fractions[-1] == pytest.approx(1.0) and fractions == sorted(fractions)


def test_whole_prompt_short_shares_and_constraints_are_not_split(pipe, calls):
    prompt = "a person walks forward then waves."
    pipe.generate([prompt], [4.0], [0], steps=2, split_sequences=False)
    pipe.generate([prompt], [1.5], [0], steps=2)  # 0.75 s each: shorter than the model makes
    assert [c["prompts"] for c in calls] == [[prompt], [prompt]]
    assert pipe.sequence_plan(prompt, 1.5) == [(prompt, 30)]
    assert pipe.sequence_plan(prompt, 4.0) == [("a person walks forward.", 40), ("a person waves.", 40)]


def test_a_step_that_names_its_length_gets_it(pipe, calls):
    prompt = "a person walks forward for 3 seconds, then waves"
    [motion] = pipe.generate([prompt], [4.0], [0], steps=2)
    # The length leaves the words and sets the step's share; the other step takes the rest.
    assert [c["prompts"] for c in calls] == [["a person walks forward"], ["a person waves"]]
    assert [c["seconds"] for c in calls] == [[3.0], [1.0]] and motion.num_frames == 80
    assert motion.made_from == ["a person walks forward", "a person waves"]
    # Several named, the unnamed ones sharing what is left; every step named must add up.
    assert pipe.sequence_plan("a person jumps for a second then claps then sits for 2.5 s", 5.0) == [
        ("a person jumps", 20), ("a person claps", 30), ("a person sits", 50)]
    assert pipe.sequence_plan("a person walks for two seconds then waves for 2 seconds", 4.0) == [
        ("a person walks", 40), ("a person waves", 40)]


@pytest.mark.parametrize("prompt, seconds, why", [
    ("a person walks for 3 seconds then waves for 2 seconds", 4.0, "add up to 5 s but the motion is 4 s"),
    ("a person walks for 3.5 seconds then waves", 4.0, "leaving too little"),
    ("a person walks for half a second then waves", 4.0, "at least 1 s"),
])
def test_step_lengths_that_cannot_be_met_say_why_and_make_nothing(pipe, calls, prompt, seconds, why):
    from momug.errors import MomugError

    with pytest.raises(MomugError, match=why):
        pipe.generate([prompt, "a person jumps"], [seconds, 2.0], [0, 0], steps=2)
    assert calls == []


def test_a_batch_mixes_plain_prompts_and_sequences_of_any_length(pipe, calls):
    prompts = ["a person jumps", "a person walks forward, then turns left, then claps", "a person squats then sits"]
    motions = pipe.generate(prompts, [2.0, 6.0, 3.15], [0, 1, 2], steps=2)
    assert [m.num_frames for m in motions] == [40, 120, 63]
    assert [m.prompt for m in motions] == prompts
    # Each motion says what it was made from (None: its prompt alone).
    assert [m.made_from for m in motions] == [
        None, ["a person walks forward", "a person turns left", "a person claps"],
        ["a person squats", "a person sits"]]
    # One pass for the plain prompts, then one per step, the sequences batched together.
    assert [c["prompts"] for c in calls] == [
        ["a person jumps"],
        ["a person walks forward", "a person squats"],
        ["a person turns left", "a person sits"],
        ["a person claps"]]
    # 63 frames: 31 + 32, the last step taking the rounding.
    assert calls[1]["seconds"] == [2.0, 1.55] and calls[2]["seconds"] == [2.0, 1.6]


def test_bad_requests_fail_before_any_work(pipe, calls):
    from momug.errors import MomugError

    with pytest.raises(MomugError, match="seconds"):
        pipe.generate(["a person walks then claps", "a person jumps"], [4.0, 99.0], [0, 0], steps=2)
    with pytest.raises(MomugError, match="empty"):
        pipe.generate(["a person walks then claps", " "], [4.0, 4.0], [0, 0], steps=2)
    assert calls == []


def test_the_cli_says_how_it_made_a_sequence_and_can_read_it_whole(tmp_path, capsys):
    from momug.cli import main
    from momug.motion.motionfile import load_motion

    args = ["generate", "a person jumps, then claps", "--checkpoint", "tiny", "--steps", "2", "--device", "cpu",
            "--seconds", "3"]
    assert main([*args, "-o", str(tmp_path / "split.npz")]) == 0
    assert "made in 2 steps: a person jumps / a person claps" in capsys.readouterr().out
    assert main([*args, "--whole-prompt", "-o", str(tmp_path / "whole.npz")]) == 0
    assert "steps:" not in capsys.readouterr().out
    split, whole = load_motion(tmp_path / "split.npz"), load_motion(tmp_path / "whole.npz")
    assert split.num_frames == whole.num_frames == 60 and not np.allclose(split.joints, whole.joints)
