"""Onset guidance: a streaming checkpoint may sample each motion's first latents (each sequence step's
too) at another classifier-free guidance scale than the rest (StreamConfig.onset_guidance,
onset_guidance_latents), in the one-prompt sampler, the batched one and the pipeline."""

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

pytest.importorskip("transformers")

from momug.errors import MomugError  # noqa: E402
from momug.stream import checkpoint as sckpt  # noqa: E402
from momug.stream.ar_model import StreamConfig  # noqa: E402
from momug.stream.pipeline import StreamPipeline, move_off_initialisation, tiny_stream_model  # noqa: E402

PROMPT = "a person raises their left arm"
ROOT = Path(__file__).resolve().parents[3]


def perturbed_model(seed: int = 0):
    model, vae = tiny_stream_model(seed)
    move_off_initialisation([*model.mot.motion.parameters(), *model.flow.parameters(), *model.adapter.parameters()],
                            seed=seed + 100)
    return model, vae


def record_scales(model) -> list:
    """A list that collects the guidance scale of every guided flow-head call the model makes from now on."""
    scales, real = [], model.flow.sample_guided
    model.flow.sample_guided = lambda c, u, w, **kw: scales.append(w) or real(c, u, w, **kw)
    return scales


def latents(model, n=4, seed=0, **kw):
    return torch.stack(list(model.stream_latents(PROMPT, max_latents=n, min_latents=n,
                                                 generator=torch.Generator().manual_seed(seed), **kw)))


def test_the_first_latents_take_the_onset_scale_and_the_rest_the_guidance():
    model, _ = perturbed_model()
    scales = record_scales(model)
    latents(model, n=5, guidance=5.0, onset_guidance=1.0)
    assert scales == [1.0, 5.0, 5.0, 5.0, 5.0]
    scales.clear()
    model.config.onset_guidance_latents = 2
    latents(model, n=4, guidance=3.0, onset_guidance=0.5)
    assert scales == [0.5, 0.5, 3.0, 3.0]
    scales.clear()
    # A history counts: latents after two made ones are past a two-latent onset.
    list(model.stream_latents(PROMPT, max_latents=2, min_latents=2, generator=torch.Generator().manual_seed(0),
                              guidance=3.0, onset_guidance=0.5, history=torch.zeros(2, model.config.latent_dim)))
    assert scales == [3.0, 3.0]


def test_an_onset_at_the_guidance_scale_changes_nothing_and_an_unguided_onset_starts_as_unguided():
    model, _ = perturbed_model()
    guided = latents(model, guidance=4.0)
    assert torch.equal(latents(model, guidance=4.0, onset_guidance=4.0), guided)
    assert torch.equal(latents(model, guidance=4.0, onset_guidance=None), guided)
    onset = latents(model, guidance=4.0, onset_guidance=1.0)
    plain = latents(model)   # unguided throughout
    assert torch.allclose(onset[0], plain[0], atol=1e-5)             # v_u + 1 (v_c - v_u) = v_c
    assert not torch.allclose(onset[0], guided[0], atol=1e-4)
    assert not torch.allclose(onset[1:], plain[1:], atol=1e-4)       # the rest guided
    # Guidance 1 with an onset scale still runs the guided rows for that onset.
    assert not torch.allclose(latents(model, guidance=1.0, onset_guidance=3.0)[0], plain[0], atol=1e-4)
    model.config.onset_guidance_latents = 0
    assert torch.equal(latents(model, guidance=4.0, onset_guidance=1.0), guided)


def test_the_batched_sampler_makes_what_one_prompt_at_a_time_makes():
    model, _ = perturbed_model()
    model = model.double()   # float32 rounding grows as latents are fed back (test_batched_sampling.py)
    texts, seeds = [PROMPT, "a person jogs forward"], [3, 4]
    batched = model.sample_latents(texts, 4, [torch.Generator().manual_seed(s) for s in seeds], guidance=4.0,
                                   onset_guidance=1.0)
    for row, (text, seed) in enumerate(zip(texts, seeds)):
        alone = torch.stack(list(model.stream_latents(text, max_latents=4, min_latents=4, guidance=4.0,
                                                      onset_guidance=1.0,
                                                      generator=torch.Generator().manual_seed(seed))))
        torch.testing.assert_close(batched[row], alone, atol=1e-9, rtol=0)
    plain = model.sample_latents(texts, 4, [torch.Generator().manual_seed(s) for s in seeds], guidance=4.0)
    assert not torch.allclose(plain[:, 0], batched[:, 0], atol=1e-3)   # the onset scale was applied


def test_the_pipeline_uses_the_checkpoints_onset_scale_for_each_sequence_step():
    model, vae = perturbed_model()
    pipe = StreamPipeline(model, vae, "tiny", "tiny-perturbed", "cpu")
    assert pipe.onset_guidance is None
    pipe.guidance = 4.0
    before = pipe.features(PROMPT, 16, seed=2)
    scales = record_scales(model)
    pipe.onset_guidance = 1.0   # as a checkpoint whose config sets onset_guidance = 1 loads
    after = pipe.features(PROMPT, 16, seed=2)
    assert scales == [1.0, 4.0, 4.0, 4.0] and not np.allclose(after, before, atol=1e-4)
    scales.clear()
    assert np.allclose(pipe.features_batch([PROMPT], 16, [2])[0], after, atol=1e-4) and scales[0] == 1.0
    scales.clear()
    pipe.generate("a person waves then jumps", 2.0, seed=0, raw=True)   # two steps, each from its own start
    assert scales.count(1.0) == 2 and scales[0] == 1.0
    scales.clear()
    pipe.generate(PROMPT, 1.0, seed=0, raw=True, guidance=2.0)   # a request's scale is for the rest
    assert scales[0] == 1.0 and set(scales[1:]) == {2.0}


def test_the_onset_scale_round_trips_through_a_checkpoint_and_is_range_checked(tmp_path):
    model, vae = tiny_stream_model()
    model.config.guidance, model.config.onset_guidance = 5.0, 1.0
    sckpt.save_pretrained(model, vae, tmp_path / "ck")
    pipe = StreamPipeline.load(str(tmp_path / "ck"), device="cpu")
    assert (pipe.guidance, pipe.onset_guidance, pipe.model.config.onset_guidance_latents) == (5.0, 1.0, 1)
    cfg = json.loads((tmp_path / "ck" / "config.json").read_text())
    for key in ("onset_guidance", "onset_guidance_latents"):   # written before the option: none
        del cfg[key]
    assert StreamConfig.from_dict(cfg).onset_guidance is None
    for bad in (-1.0, math.nan, "1"):
        with pytest.raises(MomugError, match="onset_guidance"):
            StreamConfig.from_dict(dict(cfg, onset_guidance=bad))
    with pytest.raises(MomugError, match="onset_guidance_latents"):
        StreamConfig.from_dict(dict(cfg, onset_guidance_latents=-1))


def test_export_sets_the_onset_scale_of_a_streaming_copy_only(tmp_path):
    model, vae = tiny_stream_model()
    sckpt.save_pretrained(model, vae, tmp_path / "src")
    script = str(ROOT / "scripts" / "export_checkpoint.py")
    run = subprocess.run([sys.executable, script, str(tmp_path / "src"), str(tmp_path / "out"), "--guidance", "5",
                          "--onset-guidance", "1"], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    cfg = json.loads((tmp_path / "out" / "config.json").read_text())
    assert (cfg["guidance"], cfg["onset_guidance"]) == (5.0, 1.0)
    bad = subprocess.run([sys.executable, script, str(tmp_path / "src"), str(tmp_path / "bad"), "--onset-guidance",
                          "-2"], capture_output=True, text=True)
    assert bad.returncode != 0 and "onset-guidance" in bad.stderr and not (tmp_path / "bad").exists()
