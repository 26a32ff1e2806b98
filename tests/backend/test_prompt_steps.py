"""momug.prompt_steps.split_steps: prompts that name actions in order become one prompt per action, in
time order, each with the prompt's subject; everything else comes back whole."""

import pytest

from momug.prompt_steps import split_steps, step_duration, third_person


@pytest.mark.parametrize("prompt, steps", [
    ("a person walks backward then claps their hands.", ["a person walks backward.", "a person claps their hands."]),
    ("a person squats down, then raises both arms.", ["a person squats down.", "a person raises both arms."]),
    ("someone turns left and then jumps.", ["someone turns left.", "someone jumps."]),
    ("a person walks forward, then turns left, then jumps.",
     ["a person walks forward.", "a person turns left.", "a person jumps."]),
    # Word order against time order.
    ("before clapping, a child backpedals a few steps", ["a child backpedals a few steps", "a child claps"]),
    ("someone waves their left hand after walking forward", ["someone walks forward", "someone waves their left hand"]),
    ("after jogging around in a loop, a woman waves", ["a woman jogs around in a loop", "a woman waves"]),
    ("a woman sidesteps to the right before raising both arms",
     ["a woman sidesteps to the right", "a woman raises both arms"]),
    # Pronouns stand for the subject; "they" takes the verb with it.
    ("the old man strolls ahead, after that he waves his left hand",
     ["the old man strolls ahead", "the old man waves his left hand"]),
    ("someone jumps in place, after that they walk forward", ["someone jumps in place", "someone walks forward"]),
    ("first a woman jumps in place, then she walks forward", ["a woman jumps in place", "a woman walks forward"]),
    ("the old man bends his knees and afterwards lifts both hands",
     ["the old man bends his knees", "the old man lifts both hands"]),
    ("a person runs, and finally stops", ["a person runs", "a person stops"]),
    ("someone is walking then running", ["someone is walking", "someone runs"]),
    ("hops on the spot then claps", ["hops on the spot", "claps"]),  # no subject to lend
    # A step with no verb of its own takes the previous one's.
    ("a man walks forward then backward", ["a man walks forward", "a man walks backward"]),
    ("the old man jogs in a circle, then to the left",
     ["the old man jogs in a circle", "the old man jogs to the left"]),
    ("hops forward then back", ["hops forward", "hops back"]),
    ("a person first squats, then jumps", ["a person squats", "a person jumps"]),
    ("a person walks forward first, then claps", ["a person walks forward", "a person claps"]),
    ("a person walks to the first mark then claps", ["a person walks to the first mark", "a person claps"]),
    ("Before running, she stretches", ["she stretches", "she runs"]),  # only a pronoun to lend
    ("after jumping, they stretch", ["someone jumps", "someone stretches"]),
    # "followed by", and actions named as nouns: a clause each, the prompt's subject or "a person".
    ("a walk followed by a wave", ["a person walks", "a person waves"]),
    ("a jog in a circle followed by a wave.", ["a person jogs in a circle.", "a person waves."]),
    ("a person walks forward, followed by a wave with the left hand",
     ["a person walks forward", "a person waves with the left hand"]),
    ("someone walks forward followed by waving", ["someone walks forward", "someone waves"]),
    ("the old man walks forward then a kick with the right leg",
     ["the old man walks forward", "the old man kicks with the right leg"]),
    ("a slow walk forward followed by a big jump", ["a person walks forward slowly", "a person does a big jump"]),
    ("a quick sprint, and then a bow", ["a person sprints quickly", "a person bows"]),
    ("the old man does a walk followed by a bow", ["the old man does a walk", "the old man bows"]),
])
def test_sequences_split_in_time_order(prompt, steps):
    assert split_steps(prompt) == steps


@pytest.mark.parametrize("prompt", [
    "a person walks forward.", "a person walks and waves", "a man walks next to the wall",
    "a person strengthens his arms", "a person dances after dinner", "someone sprints as fast as they can",
    "then", "  ", "after that",
    "a big jump", "a person walks followed by a dog", "a wave",
])
def test_one_action_or_no_clear_order_stays_whole(prompt):
    assert split_steps(prompt) == [prompt]


@pytest.mark.parametrize("gerund_prompt, verb", [
    ("after waving, a person claps", "waves"), ("after dancing, a person claps", "dances"),
    ("after shuffling sideways, a person claps", "shuffles"), ("after hopping, a person claps", "hops"),
    ("after crouching, a person claps", "crouches"), ("after rotating, a person claps", "rotates"),
    ("after falling, a person claps", "falls"), ("after trudging on, a person claps", "trudges"),
    ("after crawling, a person claps", "crawls"), ("after lying down, a person claps", "lies"),
])
def test_gerunds_come_back_as_verbs(gerund_prompt, verb):
    assert split_steps(gerund_prompt)[0].split()[2] == verb


def test_third_person():
    assert [third_person(v) for v in ("walk", "crouch", "carry", "go", "stay", "wash")] == \
        ["walks", "crouches", "carries", "goes", "stays", "washes"]


@pytest.mark.parametrize("step, expected", [
    ("someone waves for 2 seconds.", ("someone waves.", 2.0)),
    ("a person walks forward for 2.5 s", ("a person walks forward", 2.5)),
    ("a person runs for 3s", ("a person runs", 3.0)),
    ("the man claps for a second", ("the man claps", 1.0)),
    ("a person walks forward for three seconds.", ("a person walks forward.", 3.0)),
    ("someone hops for half a second", ("someone hops", 0.5)),
    # Not a length: left to the model.
    ("a person jumps for joy", ("a person jumps for joy", None)),
    ("a person walks for a while", ("a person walks for a while", None)),
    ("a person walks for 2 seconds for 3 seconds", ("a person walks for 2 seconds for 3 seconds", None)),
])
def test_a_step_may_name_its_length(step, expected):
    assert step_duration(step) == expected
