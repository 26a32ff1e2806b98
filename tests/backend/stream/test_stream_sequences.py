"""StreamPipeline with prompts that name actions in order: each action streamed under its own prompt
from a fresh start, joined to the one before by a bridge of blended latents (tiny untrained model:
the plumbing)."""

import numpy as np
import pytest

pytest.importorskip("transformers")

from momug.errors import MomugError  # noqa: E402
from momug.stream.pipeline import SEAM_BRIDGE_LATENTS, StreamPipeline, bridged  # noqa: E402


@pytest.fixture(scope="module")
def pipe():
    return StreamPipeline.load("tiny", device="cpu")


@pytest.fixture
def calls(pipe, monkeypatch):
    """What the model was asked for at each step: prompt, new latents, total, history given."""
    seen, real = [], pipe.model.stream_latents

    def spy(text, **kw):
        history = kw.get("history")
        seen.append((text, kw["max_latents"], kw["total"], 0 if history is None else len(history)))
        return real(text, **kw)

    monkeypatch.setattr(pipe.model, "stream_latents", spy)
    return seen


def test_each_action_is_streamed_under_its_own_prompt(pipe, calls):
    motion = pipe.generate("someone waves their left hand after walking forward", 2.0, seed=1)
    assert calls == [("someone walks forward", 5, 5, 0), ("someone waves their left hand", 5, 5, 0)]
    assert motion.num_frames == 40 and motion.made_from == ["someone walks forward", "someone waves their left hand"]
    # The frames are those of one decode of all ten latents: the steps join inside one latent stream.
    calls.clear()
    raw = np.concatenate(list(pipe.stream("someone waves their left hand after walking forward", 2.0, seed=1,
                                          raw=True)))
    assert raw.shape == (40, 22, 3)


def test_named_lengths_and_whole_prompts(pipe, calls):
    pipe.generate("a person walks for 1.5 seconds then waves", 2.5, seed=0)
    # 50 frames in 13 latents: the first step's 30 frames end in latent 8 (7.5 rounded to even).
    assert calls == [("a person walks", 8, 8, 0), ("a person waves", 5, 5, 0)]
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


def test_the_next_step_starts_on_a_line_from_the_last_latent(pipe, monkeypatch):
    """The streamed latents: the first step's as the model made them, then the second step's with
    its first SEAM_BRIDGE_LATENTS evenly spaced from the first step's last latent to its own next."""
    made, real = [], pipe.model.stream_latents

    def recording(text, **kw):
        for z in real(text, **kw):
            made.append(z.clone())
            yield z

    monkeypatch.setattr(pipe.model, "stream_latents", recording)
    streamed = list(pipe._latents([("someone walks forward", 20), ("someone waves", 20)], seed=3, steps=None))
    assert len(streamed) == len(made) == 10
    n = SEAM_BRIDGE_LATENTS
    for i in range(5):
        assert streamed[i].equal(made[i])
    for i in range(n):
        w = (i + 1) / (n + 1)
        assert streamed[5 + i].allclose((1 - w) * made[4] + w * made[5 + n])
        assert not streamed[5 + i].allclose(made[5 + i])
    for i in range(5 + n, 10):
        assert streamed[i].equal(made[i])


def test_bridged_waits_only_for_the_latents_it_blends():
    import torch

    pulled = []

    def latents():
        for i in range(6):
            pulled.append(i)
            yield torch.full((2,), float(i + 1))

    out = bridged(torch.zeros(2), latents(), 2)
    assert next(out).tolist() == [1.0, 1.0] and pulled == [0, 1, 2]   # a third of the way from 0 to 3
    assert [z[0].item() for z in out] == [2.0, 3.0, 4.0, 5.0, 6.0] and pulled == list(range(6))
    # Fewer latents than the bridge: it ends at the last one.
    assert [z[0].item() for z in bridged(torch.full((1,), 2.0), iter([torch.ones(1) * 4, torch.ones(1) * 8]), 3)] == [5.0, 8.0]
