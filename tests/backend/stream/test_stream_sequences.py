"""StreamPipeline with prompts that name actions in order: each action streamed under its own prompt,
its latents continuing the ones before (tiny untrained model: the plumbing)."""

import numpy as np
import pytest

pytest.importorskip("transformers")

from momug.errors import MomugError  # noqa: E402
from momug.stream.pipeline import StreamPipeline  # noqa: E402


@pytest.fixture(scope="module")
def pipe():
    return StreamPipeline.load("tiny", device="cpu")


@pytest.fixture
def calls(pipe, monkeypatch):
    """What the model was asked for at each step: prompt, new latents, total, latents already made."""
    seen, real = [], pipe.model.stream_latents

    def spy(text, **kw):
        history = kw.get("history")
        seen.append((text, kw["max_latents"], kw["total"], 0 if history is None else len(history)))
        return real(text, **kw)

    monkeypatch.setattr(pipe.model, "stream_latents", spy)
    return seen


def test_each_action_is_streamed_under_its_own_prompt(pipe, calls):
    motion = pipe.generate("someone waves their left hand after walking forward", 2.0, seed=1)
    assert calls == [("someone walks forward", 5, 10, 0), ("someone waves their left hand", 5, 10, 5)]
    assert motion.num_frames == 40 and motion.made_from == ["someone walks forward", "someone waves their left hand"]
    # The frames are those of one decode of all ten latents: the steps join inside one latent stream.
    calls.clear()
    raw = np.concatenate(list(pipe.stream("someone waves their left hand after walking forward", 2.0, seed=1,
                                          raw=True)))
    assert raw.shape == (40, 22, 3)


def test_named_lengths_and_whole_prompts(pipe, calls):
    pipe.generate("a person walks for 1.5 seconds then waves", 2.5, seed=0)
    # 50 frames in 13 latents: the first step's 30 frames end in latent 8 (7.5 rounded to even).
    assert calls == [("a person walks", 8, 13, 0), ("a person waves", 5, 13, 8)]
    calls.clear()
    motion = pipe.generate("a person walks then waves", 2.0, seed=0, split_sequences=False)
    assert calls == [("a person walks then waves", 10, 10, 0)] and motion.made_from is None
    calls.clear()
    pipe.features("a person walks then waves", 40)   # the evaluation protocols read captions whole
    assert calls == [("a person walks then waves", 10, 10, 0)]


def test_lengths_that_cannot_be_met_stop_before_any_latent(pipe, calls):
    with pytest.raises(MomugError, match="add up to 3 s"):
        next(pipe.stream("a person walks for 1 second then waves for 2 seconds", 4.0))
    assert calls == []
