"""A causal motion VAE: every 4 frames of normalised features become one continuous latent.

Causality is what makes streaming possible: latent k sees only frames <= 4k+3, and decoded frame f
sees only latents <= f // 4, so a latent can be decoded the moment it is generated. Every
convolution is padded on the left only; the two stride-2 down-samplings use kernel 2 with no
padding (output j reads inputs 2j, 2j+1) and the up-samplings are transposed convolutions with
kernel = stride = 2 (input j writes outputs 2j, 2j+1), which keeps the 4-frame windows aligned.

Folder format (same style as momug.model.checkpoint):
    config.json             VAEConfig
    vae.safetensors         weights plus the normalisation mean/std of the training data
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from momug.errors import MomugError

WEIGHTS_NAME = "vae.safetensors"
CONFIG_NAME = "config.json"
DOWNSAMPLE = 4  # frames per latent; two stride-2 stages


def default_vae_checkpoint() -> Path:
    return Path(__file__).resolve().parent.parent / "checkpoints" / "stream_vae"


@dataclass
class VAEConfig:
    feature_dim: int = 263
    latent_dim: int = 32
    channels: int = 128
    res_blocks: int = 2
    kernel: int = 3
    kl_weight: float = 1e-4
    # The root track (yaw velocity, XZ velocity, height: the first 4 dims) is integrated over time
    # when decoding to joints, so its errors grow into trajectory drift: weight it up in the loss.
    root_weight: float = 10.0
    version: int = 1

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2)

    @classmethod
    def from_dict(cls, data: dict) -> "VAEConfig":
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


class CausalConv1d(nn.Conv1d):
    """Conv1d padded on the left by (kernel - 1): output t reads inputs t-k+1 .. t only."""

    def __init__(self, cin: int, cout: int, kernel: int):
        super().__init__(cin, cout, kernel)
        self.left = kernel - 1

    def forward(self, x):
        return super().forward(F.pad(x, (self.left, 0)))


class ResBlock(nn.Module):
    def __init__(self, channels: int, kernel: int):
        super().__init__()
        self.conv1 = CausalConv1d(channels, channels, kernel)
        self.conv2 = nn.Conv1d(channels, channels, 1)  # pointwise: causal by construction

    def forward(self, x):
        return x + self.conv2(F.silu(self.conv1(F.silu(x))))


class MotionVAE(nn.Module):
    """Features (B, T, D) with T a multiple of 4 <-> latents (B, T/4, latent_dim)."""

    def __init__(self, config: VAEConfig, mean=None, std=None):
        super().__init__()
        self.config = c = config
        C = c.channels
        self.encoder = nn.Sequential(
            CausalConv1d(c.feature_dim, C, c.kernel), nn.SiLU(),
            nn.Conv1d(C, C, 2, stride=2), nn.SiLU(),
            nn.Conv1d(C, C, 2, stride=2),
            *[ResBlock(C, c.kernel) for _ in range(c.res_blocks)], nn.SiLU(),
            nn.Conv1d(C, 2 * c.latent_dim, 1))
        self.decoder = nn.Sequential(
            CausalConv1d(c.latent_dim, C, c.kernel),
            *[ResBlock(C, c.kernel) for _ in range(c.res_blocks)], nn.SiLU(),
            nn.ConvTranspose1d(C, C, 2, stride=2), nn.SiLU(),
            nn.ConvTranspose1d(C, C, 2, stride=2), nn.SiLU(),
            CausalConv1d(C, c.feature_dim, c.kernel))
        # Statistics of the training data travel with the weights so a loaded VAE can take raw features.
        self.register_buffer("mean", torch.zeros(c.feature_dim) if mean is None else torch.as_tensor(mean).float())
        self.register_buffer("std", torch.ones(c.feature_dim) if std is None else torch.as_tensor(std).float())

    def _check(self, x: torch.Tensor) -> None:
        if x.ndim != 3 or x.shape[-1] != self.config.feature_dim:
            raise ValueError(f"expected features (B, T, {self.config.feature_dim}), got {tuple(x.shape)}")
        if x.shape[1] % DOWNSAMPLE:
            raise ValueError(f"frame count {x.shape[1]} is not a multiple of {DOWNSAMPLE}; use pad_frames")

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Normalised features (B, T, D) -> (mu, logvar), each (B, T/4, latent_dim)."""
        self._check(x)
        h = self.encoder(x.transpose(1, 2)).transpose(1, 2)
        mu, logvar = h.chunk(2, dim=-1)
        return mu, logvar.clamp(-20.0, 10.0)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Latents (B, N, latent_dim) -> normalised features (B, 4N, D)."""
        return self.decoder(z.transpose(1, 2)).transpose(1, 2)

    def forward(self, x: torch.Tensor, sample: bool = True, generator=None) -> dict[str, torch.Tensor]:
        mu, logvar = self.encode(x)
        z = mu
        if sample:
            noise = torch.randn(mu.shape, generator=generator, dtype=mu.dtype, device=mu.device)
            z = mu + noise * (0.5 * logvar).exp()
        return {"recon": self.decode(z), "mu": mu, "logvar": logvar, "z": z}

    def loss(self, x: torch.Tensor, mask: torch.Tensor | None = None, generator=None) -> dict[str, torch.Tensor]:
        """MSE on normalised features (masked frames ignored) + kl_weight * KL(q(z|x) || N(0, I))."""
        out = self(x, generator=generator)
        w = torch.ones(x.shape[-1], dtype=x.dtype, device=x.device)
        w[:4] = self.config.root_weight
        err = ((out["recon"] - x).pow(2) * w).sum(-1) / w.sum()
        kl = 0.5 * (out["mu"].pow(2) + out["logvar"].exp() - 1.0 - out["logvar"]).sum(-1)
        if mask is None:
            rec, kl = err.mean(), kl.mean()
        else:
            m = mask.float()
            lat_m = m[:, ::DOWNSAMPLE]  # a latent counts when its window's first frame is real
            rec = (err * m).sum() / m.sum().clamp(min=1)
            kl = (kl * lat_m).sum() / lat_m.sum().clamp(min=1)
        return {"loss": rec + self.config.kl_weight * kl, "recon": rec, "kl": kl}

    def normalise(self, feats: torch.Tensor) -> torch.Tensor:
        return (feats - self.mean) / self.std

    def denormalise(self, feats: torch.Tensor) -> torch.Tensor:
        return feats * self.std + self.mean

    @torch.no_grad()
    def reconstruct(self, raw: np.ndarray) -> np.ndarray:
        """Raw features (T, D) -> raw features (T, D) through the mean latents (for evaluation)."""
        x = self.normalise(torch.as_tensor(np.array(raw, dtype=np.float32), device=self.mean.device))
        padded, n = pad_frames(x[None])
        mu, _ = self.encode(padded)
        return self.denormalise(self.decode(mu)[0, :n]).cpu().numpy()


def pad_frames(x: torch.Tensor) -> tuple[torch.Tensor, int]:
    """Pad (B, T, D) at the end to a multiple of 4 by repeating the last frame; returns (x, T).
    Padding at the end never changes earlier latents (causality), so cropping afterwards is exact."""
    n = x.shape[1]
    extra = (-n) % DOWNSAMPLE
    if extra:
        x = torch.cat([x, x[:, -1:].expand(-1, extra, -1)], dim=1)
    return x, n


def save_pretrained(vae: MotionVAE, folder: str | Path) -> Path:
    """Write config.json and vae.safetensors atomically (temp file + rename)."""
    from momug.model.checkpoint import save_weights

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().to("cpu", torch.float32).contiguous() for k, v in vae.state_dict().items()}
    tmp_w, tmp_c = folder / (WEIGHTS_NAME + ".tmp"), folder / (CONFIG_NAME + ".tmp")
    save_weights(state, tmp_w, metadata={"format": "momug-stream-vae", "version": str(vae.config.version)})
    tmp_c.write_text(vae.config.to_json() + "\n")
    os.replace(tmp_w, folder / WEIGHTS_NAME)
    os.replace(tmp_c, folder / CONFIG_NAME)
    return folder


def from_pretrained(folder: str | Path | None = None, device: str | torch.device = "cpu") -> MotionVAE:
    """Load a VAE folder (default: the shipped one); anything unreadable is a MomugError."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    folder = Path(folder) if folder is not None else default_vae_checkpoint()
    cfg_path, w_path = folder / CONFIG_NAME, folder / WEIGHTS_NAME
    for need in (cfg_path, w_path):
        if not need.is_file():
            raise MomugError(f"{folder} is not a motion VAE checkpoint: {need.name} is missing")
    try:
        config = VAEConfig.from_dict(json.loads(cfg_path.read_text()))
    except (ValueError, TypeError) as exc:
        raise MomugError(f"VAE config {cfg_path} is corrupt: {exc}") from None
    try:
        state = load_file(str(w_path))
    except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
        raise MomugError(f"VAE checkpoint {w_path} is corrupt or unreadable: {exc}") from None
    vae = MotionVAE(config)
    try:
        vae.load_state_dict(state)
    except RuntimeError as exc:
        raise MomugError(f"VAE checkpoint {folder} does not match its config: {exc}") from None
    return vae.eval().to(device)
