"""Opt-in checkpoints: refused until their terms are accepted, which the user does once."""

import json

import pytest

from momug import licences
from momug.cli import main
from momug.errors import MomugError

TERMS = {"name": "CC BY-NC 4.0", "summary": "non-commercial use only", "attribution": "Someone, 2022"}


@pytest.fixture
def checkpoint(tmp_path, monkeypatch):
    monkeypatch.setenv("MOMUG_CONFIG", str(tmp_path / "config"))
    monkeypatch.delenv(licences.ENV_ACCEPT, raising=False)
    folder = tmp_path / "real_model"
    folder.mkdir()
    (folder / licences.LICENCE_FILE).write_text(json.dumps(TERMS))
    return folder


def test_refused_until_accepted_then_remembered(checkpoint, capsys):
    with pytest.raises(MomugError, match="non-commercial use only") as err:
        licences.require_accepted(checkpoint)
    assert "momug licence accept" in str(err.value)
    assert main(["licence", "show", str(checkpoint)]) == 0
    assert "not accepted yet" in capsys.readouterr().out
    assert main(["licence", "accept", str(checkpoint)]) == 0
    licences.require_accepted(checkpoint)  # no error now
    # Changed terms are asked again.
    (checkpoint / licences.LICENCE_FILE).write_text(json.dumps(dict(TERMS, summary="other terms")))
    with pytest.raises(MomugError, match="other terms"):
        licences.require_accepted(checkpoint)


def test_environment_accepts_by_name_and_plain_checkpoints_need_nothing(checkpoint, tmp_path, monkeypatch):
    monkeypatch.setenv(licences.ENV_ACCEPT, "CC BY-NC 4.0")
    licences.require_accepted(checkpoint)
    licences.require_accepted(tmp_path)  # no LICENCE.json: nothing to accept
    (checkpoint / licences.LICENCE_FILE).write_text("{not json")
    with pytest.raises(MomugError, match="malformed"):
        licences.read_licence(checkpoint)
    assert main(["licence", "show", str(tmp_path)]) == 2


def test_an_opt_in_evaluator_is_not_loaded_before_acceptance(checkpoint):
    pytest.importorskip("torch")
    from momug.eval.matching import load_evaluator

    with pytest.raises(MomugError, match="is opt-in, licensed CC BY-NC 4.0"):
        load_evaluator(checkpoint)


def test_models_trained_on_licensed_data_carry_its_terms(tmp_path, monkeypatch):
    """A corpus whose clips carry a licence (the Bandai import) passes it to what is trained on it;
    a corpus without one passes nothing; loading such a model asks for acceptance first."""
    monkeypatch.setenv("MOMUG_CONFIG", str(tmp_path / "config"))
    monkeypatch.delenv(licences.ENV_ACCEPT, raising=False)
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "meta.jsonl").write_text(
        json.dumps({"id": "a"}) + "\n"
        + json.dumps({"id": "b", "licence": "CC BY-NC 4.0", "attribution": "Bandai Namco Research"}) + "\n")
    terms = licences.corpus_licence(corpus)
    assert terms["name"] == "CC BY-NC 4.0" and "Bandai Namco Research" in terms["attribution"]
    (tmp_path / "free").mkdir()
    (tmp_path / "free" / "meta.jsonl").write_text(json.dumps({"id": "a"}) + "\n")
    assert licences.corpus_licence(tmp_path / "free") is None
    pytest.importorskip("torch")
    from momug.model import checkpoint as ckpt

    model_dir = tmp_path / "model"
    model_dir.mkdir()
    (model_dir / "config.json").write_text("{}")
    licences.write_licence(model_dir, terms)
    with pytest.raises(MomugError, match="is opt-in, licensed CC BY-NC 4.0"):
        ckpt.from_pretrained(model_dir)
