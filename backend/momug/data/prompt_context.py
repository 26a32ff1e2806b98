"""Scene context added to training prompts, so that words about where, when and what someone wears
do not change the motion.

People write "a person walks forward in the kitchen" or "wearing a grey suit, a man waves"; the
corpus' captions only ever describe the motion. Asked for "a person walks forward in the rain", the
default model of 2026-12-05 stands still (mean 0.11 m/s against 0.59 without the last three words;
docs/training.md, part 10, which also found that training with these phrases did not change
that). A share of the text-to-motion prompts in training get one
phrase made from the lists below, at the end of the sentence or in front of it. None of their
words says how the body moves: no direction, side, speed, count, age or mood words, nothing
held or carried, no connective that starts a sequence ("after", "before", "then"), and none of
the evaluation probes' words (tests/backend/data/test_prompt_context.py checks the lists).
"""

from __future__ import annotations

import random

PLACES = [
    "kitchen", "garden", "hallway", "office", "museum", "classroom", "library", "garage", "studio",
    "warehouse", "courtyard", "gym", "lobby", "meadow", "forest", "desert", "parking lot", "train station",
    "airport", "stadium", "theatre", "supermarket", "living room", "basement", "attic", "church",
    "market square", "harbour", "village", "countryside", "bedroom", "laboratory",
]
CLOTHES = [
    "a blue coat", "a red jacket", "a grey suit", "a green sweater", "a black hoodie", "a white shirt",
    "a striped scarf", "a denim jacket", "a leather jacket", "a wool hat", "a summer dress", "a tracksuit",
    "sunglasses", "a baseball cap", "a long skirt", "a checked shirt",
]
TIMES = ["in the morning", "in the evening", "at night", "at noon", "at dawn", "at dusk", "on a sunday",
         "in winter", "in summer", "on a cloudy afternoon"]


def context_phrase(rng: random.Random) -> str:
    """One phrase: a place ("in the kitchen"), clothes ("wearing a red jacket", "in a red jacket")
    or a time ("at dusk")."""
    kind = rng.randrange(3)
    if kind == 0:
        return f"{rng.choice(['in the', 'at the', 'inside the'])} {rng.choice(PLACES)}"
    if kind == 1:
        return f"{rng.choice(['wearing', 'in', 'dressed in'])} {rng.choice(CLOTHES)}"
    return rng.choice(TIMES)


def add_context(text: str, rng: random.Random) -> str:
    """text with one context phrase after the sentence ("... forward in the kitchen.") or before it
    ("at dusk, a person ..."); the caption's own words are kept as they are."""
    phrase = context_phrase(rng)
    body = text.strip()
    end = "." if body.endswith(".") else ""
    body = body.rstrip(" .")
    if rng.random() < 0.5:
        return f"{body} {phrase}{end}"
    return f"{phrase}, {body}{end}"


__all__ = ["add_context", "context_phrase", "PLACES", "CLOTHES", "TIMES"]
