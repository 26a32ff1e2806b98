import math

import numpy as np
import pytest

from momug.eval import text_metrics as tm

HYP = "the cat sat on the mat"
REF = "the cat is on the mat"


def test_bleu_of_identical_sentences_is_one():
    s = "a person walks forward and then turns left"
    out = tm.bleu([s], [[s]])
    assert out["bleu1"] == pytest.approx(1.0) and out["bleu4"] == pytest.approx(1.0)


def test_bleu_hand_computed():
    out = tm.bleu([HYP], [[REF]])
    assert out["bleu1"] == pytest.approx(5 / 6)
    assert out["bleu2"] == pytest.approx(math.sqrt(5 / 6 * 3 / 5))
    assert out["bleu3"] == pytest.approx((5 / 6 * 3 / 5 * 1 / 4) ** (1 / 3))
    assert out["bleu4"] == 0.0  # no shared 4-gram, no smoothing


def test_bleu_brevity_penalty_and_clipping():
    assert tm.bleu(["the cat"], [[REF]])["bleu1"] == pytest.approx(math.exp(1 - 6 / 2))
    # "the the the" against a reference with two "the": clipped to 2/3, and 3 < 6 words
    assert tm.bleu(["the the the"], [[REF]])["bleu1"] == pytest.approx(2 / 3 * math.exp(1 - 6 / 3))


def test_bleu_uses_the_best_reference_counts():
    out = tm.bleu(["b a"], [["a x", "y b"]])
    assert out["bleu1"] == pytest.approx(1.0)


def test_lcs_and_rouge_l():
    assert tm.lcs("a b c d".split(), "a c e".split()) == 2
    assert tm.rouge_l([HYP], [[HYP]]) == pytest.approx(1.0)
    p, r, b2 = 2 / 4, 2 / 3, 1.2**2
    assert tm.rouge_l(["a b c d"], [["a c e"]]) == pytest.approx((1 + b2) * p * r / (r + b2 * p))
    assert tm.rouge_l(["x y"], [["a b"]]) == 0.0


def test_cider_identical_captions_score_ten_and_unrelated_zero():
    hyps = ["a person walks forward slowly", "someone jumps up and down twice"]
    assert tm.cider_d(hyps, [[h] for h in hyps]) == pytest.approx(10.0)
    assert tm.cider_d(["zebra zebra zebra", hyps[1]], [[hyps[0]], [hyps[1]]]) == pytest.approx(5.0)


def test_cider_length_penalty():
    refs = [["a person walks forward slowly"], ["someone jumps up and down twice"]]
    longer = ["a person walks forward slowly today", "someone jumps up and down twice"]
    assert tm.cider_d(longer, refs) < 10.0


class OneHotWords:
    """Token vectors: one one-hot vector per word, so greedy matching is exact-word matching."""

    def __init__(self):
        self.vocab = {}

    def __call__(self, texts):
        out = []
        for t in texts:
            ws = tm.words(t)
            for w in ws:
                self.vocab.setdefault(w, len(self.vocab))
            v = np.zeros((len(ws), 64))
            v[np.arange(len(ws)), [self.vocab[w] for w in ws]] = 1.0
            out.append(v)
        return out


def test_bert_score_greedy_matching_by_hand():
    out = tm.bert_score(["a b", "c d"], [["a b"], ["c e f"]], OneHotWords())
    # pair 1 exact; pair 2: P = 1/2, R = 1/3, F = 0.4
    assert out["bertscore_p"] == pytest.approx((1 + 0.5) / 2)
    assert out["bertscore_r"] == pytest.approx((1 + 1 / 3) / 2)
    assert out["bertscore_f1"] == pytest.approx((1 + 0.4) / 2)


def test_bert_score_takes_the_best_reference():
    out = tm.bert_score(["a b"], [["x y", "a b"]], OneHotWords())
    assert out["bertscore_f1"] == pytest.approx(1.0)


def test_caption_scores_and_input_checks():
    out = tm.caption_scores([HYP], [[HYP]])
    assert out["bleu1"] == pytest.approx(1.0) and "bertscore_f1" not in out
    with pytest.raises(ValueError):
        tm.bleu([HYP], [])
    with pytest.raises(ValueError):
        tm.rouge_l([HYP], [[]])
