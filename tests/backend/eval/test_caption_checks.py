"""Caption checks: action words learned from the corpus, side and direction named, not contradicted."""

from momug.eval.caption_checks import action_words, caption_checks, check_caption


def clip(i, action, params, captions, split="train"):
    return str(i), {"id": str(i), "split": split, "actions": [{"action": action, "params": params}],
                    "captions": captions}


META = dict([
    clip(1, "wave", {"side": "right"}, ["a person waves the right hand", "someone waves"]),
    clip(2, "walk", {"direction": "forward"}, ["a person walks forward", "a man walks"]),
    clip(3, "walk", {"direction": "backward"}, ["a person walks backward", "a person walks back"]),
    clip(4, "squat", {}, ["a person squats", "the man squats down"]),
    clip(5, "turn", {"direction": "left", "turn": "left"}, ["a person turns left"]),
    clip(9, "wave", {"side": "left"}, ["x"], split="test"),
    clip(10, "walk", {"direction": "backward"}, ["x"], split="test"),
    clip(11, "walk", {"direction": "forward"}, ["x"], split="test"),
])


def test_action_words_are_typical_and_not_generic():
    words = action_words(META)
    assert "waves" in words["wave"] and "squats" in words["squat"]
    assert "person" not in words["wave"] and "a" not in words["walk"]  # in every action's captions


def test_side_and_direction_must_be_named_and_not_contradicted():
    vocab = action_words(META)
    wave_left = META["9"]["actions"][0]
    assert check_caption("a person waves the left hand", wave_left, vocab) == {"action": True, "side": True}
    assert check_caption("a person waves the right hand", wave_left, vocab)["side"] is False
    assert check_caption("a person waves both left and right", wave_left, vocab)["side"] is False
    assert check_caption("a person squats", wave_left, vocab)["action"] is False
    back = META["10"]["actions"][0]
    assert check_caption("someone walks backwards", back, vocab)["direction"] is True
    assert check_caption("someone walks", back, vocab)["direction"] is False
    forward = META["11"]["actions"][0]
    assert check_caption("someone walks", forward, vocab)["direction"] is True   # forward may go unsaid
    assert check_caption("someone walks backwards", forward, vocab)["direction"] is False


def test_rates_count_only_clips_where_a_check_applies():
    result = caption_checks({"9": "a man waves his left hand", "10": "a man walks forward", "11": "a man walks"}, META)
    assert result["checks"]["side"] == {"pass_rate": 1.0, "n": 1}
    assert result["checks"]["direction"] == {"pass_rate": 0.5, "n": 2}
    assert result["checks"]["action"]["n"] == 3
    assert [f["id"] for f in result["failures"]] == ["10"]
