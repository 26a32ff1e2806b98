"""Shipped models by name: 'default' and the opt-in 'real', refused with one line until accepted."""

import json

import pytest

from momug import licences
from momug.cli import main
from momug.errors import MomugError
from momug.licences import LicenceNotAccepted
from momug.model import registry
from momug.model.registry import ModelEntry, Registry


@pytest.fixture
def config(tmp_path, monkeypatch):
    """A fresh config folder: nothing accepted yet."""
    monkeypatch.setenv("MOMUG_CONFIG", str(tmp_path / "config"))
    monkeypatch.delenv(licences.ENV_ACCEPT, raising=False)
    return tmp_path / "config"


def test_names_map_to_shipped_folders():
    assert registry.NAMES == ("default", "real")
    default, real = (registry.REGISTRY.entry(n) for n in registry.NAMES)
    assert default.folder.name == "default" and real.folder.name == "real"
    assert default.folder.parent == real.folder.parent == registry.CHECKPOINTS
    assert default.installed and real.installed
    assert default.licence() is None and default.accepted()
    assert real.licence()["name"] == "CC BY-NC 4.0" and "Bandai" in real.licence()["attribution"]
    assert "CC BY-NC" in real.description
    assert registry.REGISTRY.name_of(real.folder / ".." / "real") == "real"
    assert registry.REGISTRY.name_of(real.folder.parent) is None


def test_real_is_refused_in_one_line_until_accepted(config, capsys):
    with pytest.raises(LicenceNotAccepted) as err:
        registry.REGISTRY.resolve("real")
    message = str(err.value)
    assert "\n" not in message
    for part in ("'real' model is opt-in", "CC BY-NC 4.0", "non-commercial", "Bandai Namco Research",
                 "momug licence accept real", 'MOMUG_ACCEPT_LICENCES="CC BY-NC 4.0"'):
        assert part in message
    assert registry.REGISTRY.resolve("default").name == "default"   # nothing to accept

    assert main(["licence", "show", "real"]) == 0
    assert "not accepted yet" in capsys.readouterr().out
    assert main(["licence", "accept", "real"]) == 0
    assert "--model real" in capsys.readouterr().out
    assert registry.REGISTRY.resolve("real").name == "real"
    assert registry.checkpoint_for("real", None) == str(registry.REGISTRY.entry("real").folder)
    assert main(["licence", "show", "real"]) == 0
    assert "(accepted)" in capsys.readouterr().out


def test_the_environment_accepts_real_for_scripts(config, monkeypatch):
    monkeypatch.setenv(licences.ENV_ACCEPT, "CC BY-NC 4.0")
    assert registry.REGISTRY.resolve("real").name == "real"


def test_unknown_names_and_both_choices_are_one_line_errors(config, capsys):
    with pytest.raises(MomugError, match=r"unknown model 'fancy'; the models are: default, real"):
        registry.REGISTRY.resolve("fancy")
    with pytest.raises(MomugError, match="--model and --checkpoint both choose the model"):
        registry.checkpoint_for("default", "some/folder")
    assert registry.checkpoint_for(None, None) is None
    assert registry.checkpoint_for("default", None) is None   # MotionPipeline.load's shipped default
    assert registry.checkpoint_for(None, "tiny") == "tiny"
    with pytest.raises(MomugError, match="no streaming 'real' model"):
        registry.no_streaming("real")
    registry.no_streaming("default")
    assert main(["licence", "show", "fancy"]) == 2
    assert "neither a model (default, real) nor a folder" in capsys.readouterr().err
    assert main(["licence", "accept", "default"]) == 2
    assert "needs no acceptance" in capsys.readouterr().err


def test_a_registry_of_other_folders(tmp_path, config):
    """A model that is not installed, and a folder's own licence named by the folder."""
    installed = tmp_path / "opt_in"
    installed.mkdir()
    (installed / "config.json").write_text("{}")
    (installed / licences.LICENCE_FILE).write_text(json.dumps({"name": "Test Terms", "summary": "be nice"}))
    reg = Registry([ModelEntry("real", installed, "test"), ModelEntry("gone", tmp_path / "gone", "missing")])
    assert reg.names == ("real", "gone")
    with pytest.raises(MomugError, match="'gone' model is not installed"):
        reg.resolve("gone")
    with pytest.raises(LicenceNotAccepted, match="licensed Test Terms: be nice. To accept"):
        reg.resolve("real")
    with pytest.raises(LicenceNotAccepted, match=f"the checkpoint {installed} is opt-in.*accept {installed} "):
        licences.require_accepted(installed)
    licences.accept(installed)
    assert reg.resolve("real") == installed
    assert not reg.entry("gone").installed and reg.entry("gone").accepted()


def test_a_checkpoint_option_must_name_a_folder(tmp_path, monkeypatch):
    """--checkpoint DIR and the shipped default resolve through one check, with one message each."""
    from momug.model import checkpoint as ckpt

    assert ckpt.checkpoint_folder(None) == registry.REGISTRY.entry("default").folder
    assert ckpt.checkpoint_folder(str(tmp_path)) == tmp_path
    with pytest.raises(MomugError, match="gone does not exist"):
        ckpt.checkpoint_folder(str(tmp_path / "gone"))
    (tmp_path / "weights.safetensors").write_bytes(b"")
    with pytest.raises(MomugError, match="is a file, not a checkpoint folder"):
        ckpt.checkpoint_folder(str(tmp_path / "weights.safetensors"))
    monkeypatch.setattr(ckpt, "default_checkpoint", lambda: tmp_path / "not_installed")
    with pytest.raises(MomugError, match="default model is not installed"):
        ckpt.checkpoint_folder(None)
