"""Averaging checkpoints (momug.model.average, scripts/average_checkpoints.py) on tiny random
models: the average's LoRA update in every layer is the weighted mean of the sources' updates
(through peft, with each source's own scale), dense tensors are averaged, a model averaged with
itself computes what it did, and checkpoints of different models, data or terms are refused.
Streaming checkpoints likewise: each motion twin's low-rank update b @ a in the average is the
weighted mean of the sources' updates, and the VAE is kept (sources with another VAE are refused)."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from momug import licences
from momug.errors import MomugError
from momug.model import checkpoint as ckpt
from momug.model.average import average_checkpoints, write_average
from momug.model.config import MoMugConfig
from momug.stream import checkpoint as sckpt
from momug.stream.pipeline import move_off_initialisation, tiny_stream_model

REPO = Path(__file__).resolve().parents[3]


def tiny_checkpoint(folder: Path, seed: int, rank: int = 4, alpha: int = 8, **overrides) -> Path:
    """A tiny model with every trainable float tensor set to seeded noise (LoRA B included, which
    peft starts at zero), saved in float32."""
    settings = dict(base_model="tiny", frames_per_token=4, max_frames=200, lora_rank=rank,
                    lora_alpha=alpha, adapter_scope="motion")
    config = MoMugConfig(**{**settings, **overrides})
    model = ckpt.build_model(config)
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.requires_grad:
                p.copy_(torch.randn(p.shape, generator=g) * 0.3)
    return ckpt.save_pretrained(model, folder)


def lora_deltas(model) -> dict[str, torch.Tensor]:
    """Each adapted layer's weight update as peft applies it (scale * B @ A)."""
    from peft.tuners.lora import LoraLayer

    return {name: module.get_delta_weight("default").detach()
            for name, module in model.llm.named_modules() if isinstance(module, LoraLayer)}


def dense(model) -> dict[str, torch.Tensor]:
    return {k: v for k, v in model.trainable_state_dict().items() if not k.startswith("lora.")}


def save_average(folders, out: Path, weights=None) -> Path:
    write_average(folders, out, weights, dtype=torch.float32)
    return out


def test_average_is_the_weighted_mean_of_updates_and_tensors(tmp_path):
    # Different ranks and scales (alpha/rank 2 and 4), weights 1:3.
    a = tiny_checkpoint(tmp_path / "a", seed=1, rank=4, alpha=8)
    b = tiny_checkpoint(tmp_path / "b", seed=2, rank=2, alpha=8)
    soup = ckpt.from_pretrained(save_average([a, b], tmp_path / "soup", weights=[1, 3]))
    ma, mb = ckpt.from_pretrained(a), ckpt.from_pretrained(b)
    assert soup.config.lora_rank == 6 and soup.config.lora_alpha == 6

    da, db, ds = lora_deltas(ma), lora_deltas(mb), lora_deltas(soup)
    assert da and set(ds) == set(da)
    for name in ds:
        expected = 0.25 * da[name] + 0.75 * db[name]
        assert torch.allclose(ds[name], expected, atol=1e-6), name
        # A mean of the A's times a mean of the B's would be something else.
        assert not torch.allclose(da[name], db[name], atol=1e-3)
    sa, sb, ss = dense(ma), dense(mb), dense(soup)
    for name, tensor in ss.items():
        if name in ("mean", "std", "caption_vocab"):
            assert torch.equal(tensor, sa[name])
        else:
            assert torch.allclose(tensor, 0.25 * sa[name] + 0.75 * sb[name], atol=1e-6), name


def test_a_model_averaged_with_itself_computes_the_same_loss(tmp_path):
    a = tiny_checkpoint(tmp_path / "a", seed=3)
    model = ckpt.from_pretrained(a)
    soup = ckpt.from_pretrained(save_average([a, a], tmp_path / "soup"))
    x = torch.randn(24, model.config.feature_dim, generator=torch.Generator().manual_seed(0))
    item = {"task": "t2m", "text_ids": model.text_ids("a person jumps"), "motion": model.to_tokens(x),
            "frame_mask": model.to_tokens(torch.ones_like(x)).bool()}

    def loss(m):
        with torch.no_grad():
            return float(m.training_loss([dict(item)], generator=torch.Generator().manual_seed(7))["loss"])

    assert loss(soup) == pytest.approx(loss(model), rel=1e-5)
    # ...and a different model does not (the check can fail).
    other = ckpt.from_pretrained(tiny_checkpoint(tmp_path / "b", seed=4))
    assert loss(other) != pytest.approx(loss(model), rel=1e-3)


def test_checkpoints_of_different_models_or_data_are_refused(tmp_path):
    a = tiny_checkpoint(tmp_path / "a", seed=1)
    with pytest.raises(MomugError, match="at least two"):
        average_checkpoints([a])
    other_targets = tiny_checkpoint(tmp_path / "t", seed=2, lora_targets=["q_proj", "v_proj"])
    with pytest.raises(MomugError, match="lora_targets"):
        average_checkpoints([a, other_targets])
    other_frames = tiny_checkpoint(tmp_path / "f", seed=2, max_frames=100)
    with pytest.raises(MomugError, match="max_frames"):
        average_checkpoints([a, other_frames])
    # Same model, other normalisation statistics: trained on other data.
    other_data = tiny_checkpoint(tmp_path / "d", seed=2)
    model = ckpt.from_pretrained(other_data)
    model.mean.add_(1.0)
    ckpt.save_pretrained(model, other_data)
    with pytest.raises(MomugError, match="mean"):
        average_checkpoints([a, other_data])
    with pytest.raises(MomugError, match="positive weight"):
        average_checkpoints([a, a], weights=[1, 0])
    with pytest.raises(MomugError, match="not a MoMug checkpoint"):
        average_checkpoints([a, tmp_path / "missing"])


def test_terms_must_be_accepted_and_go_with_the_average(tmp_path, monkeypatch):
    monkeypatch.setenv("MOMUG_CONFIG", str(tmp_path / "config"))
    monkeypatch.delenv(licences.ENV_ACCEPT, raising=False)
    free = tiny_checkpoint(tmp_path / "free", seed=1)
    bound = tiny_checkpoint(tmp_path / "bound", seed=2)
    terms = {"name": "CC BY-NC 4.0", "summary": "non-commercial use only", "attribution": "someone"}
    licences.write_licence(bound, terms)
    with pytest.raises(licences.LicenceNotAccepted):
        average_checkpoints([free, bound])
    monkeypatch.setenv(licences.ENV_ACCEPT, "CC BY-NC 4.0")
    out = save_average([free, bound], tmp_path / "soup")
    assert licences.read_licence(out) == terms
    other = tiny_checkpoint(tmp_path / "other", seed=3)
    licences.write_licence(other, {**terms, "name": "Some other terms"})
    monkeypatch.setenv(licences.ENV_ACCEPT, "CC BY-NC 4.0,Some other terms")
    with pytest.raises(MomugError, match="different licences"):
        average_checkpoints([bound, other])


def test_script_writes_a_loadable_float16_average_and_reports_errors(tmp_path):
    a = tiny_checkpoint(tmp_path / "a", seed=1)
    b = tiny_checkpoint(tmp_path / "b", seed=2)
    script = REPO / "scripts" / "average_checkpoints.py"
    done = subprocess.run([sys.executable, str(script), str(a), str(b), "-o", str(tmp_path / "soup"),
                           "--guidance", "3"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "LoRA rank 8" in done.stdout
    config = json.loads((tmp_path / "soup" / "config.json").read_text())
    assert config["guidance"] == 3 and config["lora_rank"] == 8
    from safetensors import safe_open

    with safe_open(str(tmp_path / "soup" / ckpt.WEIGHTS_NAME), "pt") as f:
        assert f.get_slice("motion_in.weight").get_dtype() == "F16"
    ckpt.from_pretrained(tmp_path / "soup")
    bad = subprocess.run([sys.executable, str(script), str(a), "-o", str(tmp_path / "x")],
                         capture_output=True, text=True)
    assert bad.returncode == 1 and "at least two" in bad.stderr and "Traceback" not in bad.stderr
    assert not (tmp_path / "x").exists()


def test_rank_truncation_keeps_the_largest_directions(tmp_path):
    a = tiny_checkpoint(tmp_path / "a", seed=1)
    b = tiny_checkpoint(tmp_path / "b", seed=2)
    exact = average_checkpoints([a, b])[1]
    config, state, _, error = average_checkpoints([a, b], rank=8)  # the summed rank: nothing to cut
    assert config.lora_rank == 8 and error == 0.0
    config, cut, _, error = average_checkpoints([a, b], rank=3)
    assert config.lora_rank == 3 and 0 < error < 1
    for name in [n for n in cut if ".lora_A." in n]:
        name_b = name.replace(".lora_A.", ".lora_B.")
        full = exact[name_b] @ exact[name]
        approx = cut[name_b] @ cut[name]
        u, s, vh = torch.linalg.svd(full)
        best = (u[:, :3] * s[:3]) @ vh[:3]  # the best rank-3 approximation (Eckart-Young)
        assert torch.allclose(approx, best, atol=1e-5)
        assert float((full - approx).norm() / full.norm()) <= error + 1e-6
    with pytest.raises(MomugError, match="rank must be"):
        average_checkpoints([a, b], rank=9)


# ----- streaming checkpoints -----

def tiny_stream_checkpoint(folder: Path, seed: int, vae_seed: int | None = None) -> Path:
    """A tiny streaming model with seeded noise on its trainable tensors; vae_seed: another VAE."""
    model, vae = tiny_stream_model(seed=0)
    move_off_initialisation([p for p in model.parameters() if p.requires_grad], seed=seed)
    if vae_seed is not None:
        move_off_initialisation(vae.parameters(), seed=vae_seed)
    return sckpt.save_pretrained(model, vae, folder)


def stream_updates(model) -> dict[str, torch.Tensor]:
    from momug.stream.mot import LowRankTwin

    return {name: (m.b @ m.a).detach() for name, m in model.named_modules() if isinstance(m, LowRankTwin)}


def stream_dense(model) -> dict[str, torch.Tensor]:
    return {k: v for k, v in model.trainable_state_dict().items() if not (k.endswith((".a", ".b")) and k.startswith("mot."))}


def test_the_average_is_the_weighted_mean_of_updates_and_tensors(tmp_path):
    a = tiny_stream_checkpoint(tmp_path / "a", seed=1)
    b = tiny_stream_checkpoint(tmp_path / "b", seed=2)
    write_average([a, b], tmp_path / "mix", weights=[1, 3], guidance=4.0, dtype=torch.float32)
    mix, mix_vae = sckpt.from_pretrained(tmp_path / "mix")
    (ma, vae), (mb, _) = sckpt.from_pretrained(a), sckpt.from_pretrained(b)
    assert mix.config.mot_rank == 8 and mix.config.guidance == 4.0
    ua, ub, um = stream_updates(ma), stream_updates(mb), stream_updates(mix)
    assert set(um) == set(ua) and len(um) > 0
    for name in um:
        assert not torch.allclose(ua[name], ub[name])
        assert torch.allclose(um[name], 0.25 * ua[name] + 0.75 * ub[name], atol=1e-5)
    da, db, dm = stream_dense(ma), stream_dense(mb), stream_dense(mix)
    for name in dm:
        assert torch.allclose(dm[name], 0.25 * da[name] + 0.75 * db[name], atol=1e-6)
    assert all(torch.equal(x, y) for x, y in zip(vae.state_dict().values(), mix_vae.state_dict().values()))


def test_a_model_averaged_with_itself_computes_the_same_loss(tmp_path):
    a = tiny_stream_checkpoint(tmp_path / "a", seed=1)
    write_average([a, a], tmp_path / "self", dtype=torch.float32)
    (model, _), (same, _) = sckpt.from_pretrained(a), sckpt.from_pretrained(tmp_path / "self")
    texts = [model.text_ids("a person waves.")]
    latents = [torch.randn(5, 8, generator=torch.Generator().manual_seed(0))]
    with torch.no_grad():
        want = model.training_loss(texts, latents, generator=torch.Generator().manual_seed(1))["flow"]
        got = same.training_loss(texts, latents, generator=torch.Generator().manual_seed(1))["flow"]
    assert torch.allclose(want, got, atol=1e-5)


def test_the_script_writes_a_float16_streaming_average_and_rank_cuts_it(tmp_path):
    a = tiny_stream_checkpoint(tmp_path / "a", seed=1)
    b = tiny_stream_checkpoint(tmp_path / "b", seed=2)
    script = REPO / "scripts" / "average_checkpoints.py"
    done = subprocess.run([sys.executable, str(script), str(a), str(b), "-o", str(tmp_path / "mix"), "--rank", "3"],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "motion rank 3" in done.stdout and "truncated" in done.stdout
    assert json.loads((tmp_path / "mix" / "config.json").read_text())["mot_rank"] == 3
    model, _ = sckpt.from_pretrained(tmp_path / "mix")
    assert all(m.shape[0] == 3 for k, m in model.trainable_state_dict().items() if k.endswith(".a"))


def test_sources_of_another_kind_shape_or_vae_are_refused(tmp_path):
    a = tiny_stream_checkpoint(tmp_path / "a", seed=1)
    other_vae = tiny_stream_checkpoint(tmp_path / "v", seed=2, vae_seed=5)
    with pytest.raises(MomugError, match="another VAE"):
        average_checkpoints([a, other_vae])
    diffusion = tiny_checkpoint(tmp_path / "d", seed=1)
    with pytest.raises(MomugError, match="mix diffusion and streaming"):
        average_checkpoints([a, diffusion])
    config = json.loads((a / "config.json").read_text())
    wider = tmp_path / "w"
    model, vae = tiny_stream_model(seed=0)
    from momug.stream.ar_model import StreamConfig

    wide = sckpt.build_stream_model(StreamConfig.from_dict({**config, "flow_width": 48}))
    sckpt.save_pretrained(wide, vae, wider)
    with pytest.raises(MomugError, match="flow_width"):
        average_checkpoints([a, wider])
    with pytest.raises(MomugError, match="no such folder"):
        average_checkpoints([a, tmp_path / "missing"])
