"""Each diffusion checkpoint carries the guidance scale generation uses when a request gives none
(config.json "guidance"; checkpoints written before it get 2.5, the scale they shipped with)."""

import json

import numpy as np
import pytest

from momug.errors import MomugError
from momug.model import checkpoint as ckpt
from momug.model.config import MoMugConfig


def test_configs_without_a_scale_get_the_old_default_and_bad_scales_are_refused():
    old = {k: v for k, v in MoMugConfig().__dict__.items() if k != "guidance"}
    assert MoMugConfig.from_dict(old).guidance == 2.5
    for bad in (-1.0, float("nan"), "high", True):
        with pytest.raises(MomugError, match="guidance"):
            MoMugConfig.from_dict(dict(old, guidance=bad))


def test_the_pipeline_uses_the_checkpoints_own_scale_unless_told(tiny_pipeline, tmp_path):
    from momug.pipeline import MotionPipeline

    model = tiny_pipeline.model
    model.config.guidance = 1.5
    try:
        folder = ckpt.save_pretrained(model, tmp_path / "ck")
    finally:
        model.config.guidance = 2.5
    assert json.loads((folder / "config.json").read_text())["guidance"] == 1.5
    pipe = MotionPipeline.load(str(folder), device="cpu")
    assert pipe.guidance == 1.5

    def joints(guidance):
        return pipe.generate(["a person walks"], [1.0], [3], guidance=guidance, steps=3, raw=True)[0].joints

    own = joints(None)
    assert np.array_equal(own, joints(1.5))
    assert not np.allclose(own, joints(2.5), atol=1e-4)
    with pytest.raises(MomugError, match="guidance must be between"):
        pipe.validate_request("a person walks", 1.0, 3, float("inf"))


def test_export_script_sets_the_copys_scale_and_refuses_a_bad_one(tiny_pipeline, tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    script = Path(__file__).resolve().parents[3] / "scripts" / "export_checkpoint.py"
    source = ckpt.save_pretrained(tiny_pipeline.model, tmp_path / "run")

    def export(*extra):
        return subprocess.run([sys.executable, str(script), str(source), str(tmp_path / "half"), *extra],
                              capture_output=True, text=True)

    assert export("--guidance", "1.5").returncode == 0
    assert json.loads((tmp_path / "half" / "config.json").read_text())["guidance"] == 1.5
    assert export().returncode == 0  # no --guidance: the source's own scale
    assert json.loads((tmp_path / "half" / "config.json").read_text())["guidance"] == 2.5
    refused = export("--guidance", "-1")
    assert refused.returncode == 2 and "guidance must be" in refused.stderr
    assert json.loads((tmp_path / "half" / "config.json").read_text())["guidance"] == 2.5  # unchanged
