import json

import numpy as np
import pytest
import torch

from momug.errors import MomugError
from momug.stream import vae as V


def tiny_vae(seed=0, dim=263):
    torch.manual_seed(seed)
    return V.MotionVAE(V.VAEConfig(feature_dim=dim, latent_dim=8, channels=16, res_blocks=1)).eval()


def test_shapes():
    vae = tiny_vae()
    x = torch.randn(2, 24, 263)
    out = vae(x, sample=False)
    assert out["mu"].shape == (2, 6, 8) and out["logvar"].shape == (2, 6, 8)
    assert out["recon"].shape == x.shape
    with pytest.raises(ValueError):
        vae.encode(torch.randn(1, 10, 263))  # not a multiple of 4


def test_default_latent_is_32_wide_per_4_frames():
    vae = V.MotionVAE(V.VAEConfig())
    assert vae.encode(torch.randn(1, 8, 263))[0].shape == (1, 2, 32)


@pytest.mark.parametrize("t", [0, 5, 8, 13, 19])
def test_causality(t):
    """Changing frames >= t leaves latents whose window ends before t, and the frames they decode, alone."""
    vae = tiny_vae()
    x = torch.randn(1, 24, 263)
    y = x.clone()
    y[:, t:] += torch.randn_like(y[:, t:])
    with torch.no_grad():
        mx, my = vae.encode(x)[0], vae.encode(y)[0]
        dx, dy = vae.decode(mx), vae.decode(my)
    safe_latents = t // 4  # latents k with 4k + 3 < t
    safe_frames = 4 * safe_latents
    assert torch.equal(mx[:, :safe_latents], my[:, :safe_latents])
    assert torch.equal(dx[:, :safe_frames], dy[:, :safe_frames])
    assert not torch.equal(mx[:, safe_latents:], my[:, safe_latents:])  # and the rest does see the change


def test_decoder_is_causal_in_latents():
    vae = tiny_vae()
    z = torch.randn(1, 5, 8)
    z2 = z.clone()
    z2[:, 3] += 1.0
    with torch.no_grad():
        a, b = vae.decode(z), vae.decode(z2)
    assert torch.equal(a[:, :12], b[:, :12]) and not torch.equal(a[:, 12:16], b[:, 12:16])


def test_round_trip_learns_to_reconstruct():
    torch.manual_seed(0)
    vae = V.MotionVAE(V.VAEConfig(feature_dim=12, latent_dim=8, channels=32, res_blocks=1, kl_weight=1e-5))
    t = torch.linspace(0, 6.28, 32)
    x = torch.stack([torch.sin(t * (i + 1) / 4 + i) for i in range(12)], -1)[None]  # smooth signals
    opt = torch.optim.Adam(vae.parameters(), lr=3e-3)
    first = None
    for step in range(300):
        loss = vae.loss(x, generator=torch.Generator().manual_seed(step))
        opt.zero_grad()
        loss["loss"].backward()
        opt.step()
        first = first if first is not None else float(loss["recon"].detach())
    vae.eval()
    with torch.no_grad():
        err = float((vae(x, sample=False)["recon"] - x).pow(2).mean())
    assert err < 0.05 * first


def test_reconstruct_pads_odd_lengths():
    vae = tiny_vae()
    raw = np.random.default_rng(0).normal(size=(10, 263)).astype(np.float32)
    assert vae.reconstruct(raw).shape == (10, 263)


def test_save_load(tmp_path):
    vae = tiny_vae()
    vae.mean.fill_(0.5)
    V.save_pretrained(vae, tmp_path)
    assert json.loads((tmp_path / "config.json").read_text())["latent_dim"] == 8
    back = V.from_pretrained(tmp_path)
    x = torch.randn(1, 8, 263)
    with torch.no_grad():
        assert torch.equal(vae.encode(x)[0], back.encode(x)[0])
    assert torch.equal(back.mean, vae.mean)


def test_corrupt_or_missing(tmp_path):
    with pytest.raises(MomugError):
        V.from_pretrained(tmp_path)
    V.save_pretrained(tiny_vae(), tmp_path)
    data = (tmp_path / V.WEIGHTS_NAME).read_bytes()
    (tmp_path / V.WEIGHTS_NAME).write_bytes(data[: len(data) // 2])
    with pytest.raises(MomugError, match="corrupt"):
        V.from_pretrained(tmp_path)
    (tmp_path / V.WEIGHTS_NAME).write_bytes(b"garbage")
    with pytest.raises(MomugError):
        V.from_pretrained(tmp_path)


def test_config_mismatch(tmp_path):
    V.save_pretrained(tiny_vae(), tmp_path)
    cfg = json.loads((tmp_path / "config.json").read_text())
    cfg["channels"] = 24
    (tmp_path / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(MomugError, match="does not match"):
        V.from_pretrained(tmp_path)


def test_shipped_checkpoint_loads_and_is_small():
    folder = V.default_vae_checkpoint()
    if not (folder / V.WEIGHTS_NAME).is_file():
        pytest.skip("no shipped VAE")
    assert sum(f.stat().st_size for f in folder.iterdir()) < 3 * 1024 * 1024
    vae = V.from_pretrained()
    assert vae.config.latent_dim == 32 and vae.config.feature_dim == 263
