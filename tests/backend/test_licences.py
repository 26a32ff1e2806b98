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

    with pytest.raises(MomugError, match="opt-in checkpoint"):
        load_evaluator(checkpoint)
