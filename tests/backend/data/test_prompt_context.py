"""Scene context for training prompts (momug.data.prompt_context, [train] context_fraction): the
phrases say nothing about motion, keep the caption's words, and reach text-to-motion prompts only."""

import random
import re

import numpy as np
import pytest

from momug.data import prompt_context as pc
from momug.data.synth import captions
from momug.data.synth.actions import ACTIONS
from momug.eval.probes import CONTEXT_PHRASES, context_probes, default_probes, probe_suite

# Function words a context phrase may share with captions and probes.
SHARED_OK = {"a", "an", "the", "in", "at", "on", "by", "inside", "wearing", "dressed"}
# The words of the check behind this feature (docs/training.md, part 10), kept unseen in training.
CHECK_WORDS = {"rain", "bridge", "old", "tall", "soldier", "cup", "holding", "today", "near"}


def words(text: str) -> set[str]:
    return set(re.findall(r"[a-z]+", text.lower()))


def context_words() -> set[str]:
    return set().union(*(words(p) for p in pc.PLACES + pc.CLOTHES + pc.TIMES))


def caption_words() -> set[str]:
    rng = np.random.default_rng(0)
    seen = set()
    for vocabulary in captions.VOCABULARIES:
        for name, action in ACTIONS.items():
            for _ in range(8):
                for caption in captions.captions([(name, action.sample(rng))], rng, n=6, vocabulary=vocabulary):
                    seen |= words(caption)
    return seen


def test_the_phrases_share_no_word_with_captions_probes_or_the_check():
    ours = context_words() | {"wearing", "dressed", "inside"}
    probes = set().union(*(words(p.prompt) for suite in ("default", "extended", "sequences")
                           for p in probe_suite(suite)))
    assert not (ours & caption_words()) - SHARED_OK
    assert not (ours & probes) - SHARED_OK
    assert not ours & CHECK_WORDS
    # The context probe suite's scene words are unseen too: in no caption and no training phrase.
    scene = set().union(*(words(p) for p in CONTEXT_PHRASES)) - SHARED_OK
    assert not scene & ours and not scene & caption_words()
    assert not ours & {"after", "before", "then", "while", "next", "afterwards"}  # no sequence connective


def test_a_phrase_goes_after_the_sentence_or_before_it_and_the_caption_is_kept():
    rng = random.Random(0)
    caption = "a person walks forward then waves with their left hand."
    made = [pc.add_context(caption, rng) for _ in range(200)]
    after = [m for m in made if m.startswith(caption[:-1] + " ")]
    before = [m for m in made if m.endswith(", " + caption)]
    assert len(after) + len(before) == len(made) and 60 < len(after) < 140
    assert all(m.endswith(".") for m in made)
    kinds = {phrase for m in after for phrase in [m[len(caption):-1]]}
    assert any(k.startswith(("in the", "at the", "inside the")) for k in kinds)
    assert any(k.startswith(("wearing", "dressed in")) for k in kinds)
    assert any(k in pc.TIMES for k in kinds)
    assert pc.add_context("someone jumps", random.Random(1)).count(".") == 0  # no period added


def test_collator_adds_context_to_prompts_only_and_nothing_when_off():
    torch = pytest.importorskip("torch")
    pytest.importorskip("transformers")
    from momug.model import checkpoint as ckpt
    from momug.model.config import MoMugConfig
    from momug.train.loop import Collator

    model = ckpt.build_model(MoMugConfig(base_model="tiny", frames_per_token=4, max_frames=40, lora_rank=4,
                                         lora_alpha=8), np.zeros(263, np.float32), np.ones(263, np.float32))
    caption = "a person jumps."
    batch = [(torch.zeros(16, 263), caption)] * 10
    plain_ids = model.text_ids(caption)
    off = Collator(model, 0.3, 0.0, seed=0)(batch)
    assert all(item["text_ids"] == plain_ids for item in off)
    on = Collator(model, 0.3, 0.0, seed=0, context_fraction=1.0)(batch)
    m2t = [item for item in on if item["task"] == "m2t"]
    t2m = [item for item in on if item["task"] == "t2m"]
    assert m2t and all(item["text_ids"] == plain_ids for item in m2t)
    decoded = [model.tokenizer.decode(item["text_ids"]) for item in t2m]
    assert t2m and all("jumps" in d and item["text_ids"] != plain_ids for d, item in zip(decoded, t2m))
    assert len(set(decoded)) > 1


def test_the_context_suite_is_the_default_corpus_wordings_with_a_scene():
    plain = [p for p in default_probes() if not p.held_out]
    suite = context_probes()
    assert len(suite) == len(plain)
    for probe, source in zip(suite, plain):
        assert source.prompt.rstrip(".") in probe.prompt and probe.check.__qualname__ == source.check.__qualname__
        assert any(phrase in probe.prompt for phrase in CONTEXT_PHRASES) and probe.tags[0] == "context"
