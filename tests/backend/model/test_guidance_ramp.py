"""A diffusion checkpoint's own guidance may ramp with the noise level (config.json "guidance_start":
the scale at pure noise, moving linearly to "guidance" at the clean end); a request's scale is
used at every step."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from momug.errors import MomugError
from momug.model import checkpoint as ckpt
from momug.model.config import MoMugConfig

SCRIPT = Path(__file__).resolve().parents[3] / "scripts" / "export_checkpoint.py"


@pytest.fixture
def model(tiny_pipeline):
    model = tiny_pipeline.model
    saved = model.config.guidance, model.config.guidance_start
    yield model
    model.config.guidance, model.config.guidance_start = saved


def sample(model, guidance, steps):
    return model.sample(["a person walks", "jumps"], [24, 17], [0, 1], guidance=guidance, steps=steps)


def test_the_scale_moves_linearly_from_the_start_at_pure_noise_to_the_guidance_at_the_clean_end(model):
    model.config.guidance, model.config.guidance_start = 1.5, 5.0
    last = model.config.num_train_timesteps - 1
    assert model.guidance_scale(None, last) == 5.0
    assert model.guidance_scale(None, 0) == 1.5
    assert model.guidance_scale(None, last / 2) == pytest.approx(3.25)
    assert model.guidance_scale(2.0, last) == model.guidance_scale(2.0, 0) == 2.0  # a request's own: constant
    model.config.guidance_start = None
    assert model.guidance_scale(None, last) == model.guidance_scale(None, 0) == 1.5


def test_one_step_from_pure_noise_samples_at_the_start_scale(model):
    model.config.guidance, model.config.guidance_start = 1.5, 4.0
    ramped = sample(model, None, steps=1)
    for a, b in zip(ramped, sample(model, 4.0, steps=1)):
        assert torch.equal(a, b)
    for a, b in zip(ramped, sample(model, 1.5, steps=1)):
        assert not torch.allclose(a, b, atol=1e-4)


def test_a_ramp_moves_the_samples_and_a_flat_one_or_a_requested_scale_does_not(model):
    model.config.guidance, model.config.guidance_start = 2.0, None
    constant = sample(model, None, steps=3)
    model.config.guidance_start = 2.0  # a ramp from the scale to itself
    for a, b in zip(constant, sample(model, None, steps=3)):
        assert torch.equal(a, b)
    model.config.guidance_start = 5.0
    for a, b in zip(constant, sample(model, None, steps=3)):
        assert not torch.allclose(a, b, atol=1e-4)
    for a, b in zip(constant, sample(model, 2.0, steps=3)):  # the request's scale wins over the ramp
        assert torch.equal(a, b)


def test_the_start_round_trips_through_a_checkpoint_and_bad_ones_are_refused(model, tmp_path):
    model.config.guidance_start = 4.0
    folder = ckpt.save_pretrained(model, tmp_path / "ck")
    assert ckpt.from_pretrained(folder).config.guidance_start == 4.0
    old = json.loads((folder / "config.json").read_text())
    del old["guidance_start"]  # written before the option: constant guidance
    assert MoMugConfig.from_dict(old).guidance_start is None
    for bad in (-1.0, float("nan"), "high", True):
        with pytest.raises(MomugError, match="guidance_start: guidance must be"):
            MoMugConfig.from_dict(dict(old, guidance_start=bad))


def test_export_script_sets_or_clears_the_start_and_refuses_a_bad_one(tiny_pipeline, tmp_path):
    source = ckpt.save_pretrained(tiny_pipeline.model, tmp_path / "run")

    def export(*extra):
        return subprocess.run([sys.executable, str(SCRIPT), str(source), str(tmp_path / "half"), *extra],
                              capture_output=True, text=True)

    def written():
        return json.loads((tmp_path / "half" / "config.json").read_text())

    assert export("--guidance", "1.5", "--guidance-start", "5").returncode == 0
    assert (written()["guidance"], written()["guidance_start"]) == (1.5, 5.0)
    for bad in ("-2", "fast"):
        refused = export("--guidance-start", bad)
        assert refused.returncode == 2 and "--guidance-start" in refused.stderr
        assert written()["guidance_start"] == 5.0  # unchanged
    assert export("--guidance-start", "none").returncode == 0
    assert written()["guidance_start"] is None
