"""A small MLP flow-matching head (rectified flow) and an end-of-motion head, both read the LLM's
hidden state at the position that predicts the next motion latent.

Rectified flow: x_t = (1 - t) * x0 + t * noise for t in [0, 1]; the head learns the constant
velocity v = noise - x0 along that straight line. Sampling integrates dx/dt = v from t = 1 (pure
noise) back to t = 0 with a configurable number of Euler steps: few steps suffice because the
paths are straight, which is what keeps per-latent cost low enough to stream.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F


def timestep_embedding(t: torch.Tensor, dim: int) -> torch.Tensor:
    """Sinusoidal features of t in [0, 1] (scaled to 0..1000 so low frequencies still vary)."""
    half = dim // 2
    freqs = torch.exp(-math.log(10000.0) * torch.arange(half, dtype=torch.float32, device=t.device) / half)
    args = 1000.0 * t.float()[..., None] * freqs
    emb = torch.cat([args.cos(), args.sin()], dim=-1)
    return F.pad(emb, (0, dim % 2)).to(t.dtype if t.is_floating_point() else torch.float32)


def starting_noise(shape: tuple[int, ...], generator, like: torch.Tensor) -> torch.Tensor:
    """Standard normal noise of `shape` in like's dtype and device. generator: one torch.Generator
    (or None) for the whole tensor, or a list with one per row (shape[0]): each row is then drawn
    from its own, exactly as a single row of that generator would be, so a batch of seeded motions
    equals the same motions made one at a time."""
    if isinstance(generator, (list, tuple)):
        if len(generator) != shape[0]:
            raise ValueError(f"{len(generator)} generators for {shape[0]} rows")
        return torch.cat([torch.randn((1, *shape[1:]), generator=g, dtype=like.dtype, device=like.device)
                          for g in generator])
    return torch.randn(shape, generator=generator, dtype=like.dtype, device=like.device)


class _Block(nn.Module):
    """Residual MLP block whose LayerNorm is modulated (scale, shift, gate) by the condition:
    the condition must steer every layer, not only the input, for the head to stay small."""

    def __init__(self, width: int):
        super().__init__()
        self.norm = nn.LayerNorm(width, elementwise_affine=False)
        self.mlp = nn.Sequential(nn.Linear(width, width), nn.SiLU(), nn.Linear(width, width))
        self.mod = nn.Linear(width, 3 * width)
        nn.init.zeros_(self.mod.weight)  # starts as a plain residual MLP
        nn.init.zeros_(self.mod.bias)

    def forward(self, h, c):
        scale, shift, gate = self.mod(F.silu(c)).chunk(3, dim=-1)
        return h + (1 + gate) * self.mlp(self.norm(h) * (1 + scale) + shift)


class FlowHead(nn.Module):
    """velocity(x_t, t, cond): latent (..., latent_dim), t (...,), cond (..., cond_dim)."""

    def __init__(self, latent_dim: int, cond_dim: int, width: int = 256, depth: int = 3):
        super().__init__()
        self.latent_dim = latent_dim
        self.inp = nn.Linear(latent_dim, width)
        self.cond = nn.Linear(cond_dim, width)
        self.time = nn.Sequential(nn.Linear(width, width), nn.SiLU(), nn.Linear(width, width))
        self.blocks = nn.ModuleList(_Block(width) for _ in range(depth))
        self.out_norm = nn.LayerNorm(width)
        self.out = nn.Linear(width, latent_dim)

    def forward(self, x_t, t, cond):
        c = self.cond(cond) + self.time(timestep_embedding(t, self.inp.out_features).to(cond.dtype))
        h = self.inp(x_t)
        for block in self.blocks:
            h = block(h, c)
        return self.out(self.out_norm(h))

    @staticmethod
    def _noised(x0: torch.Tensor, generator: torch.Generator | None):
        """(noise, t, x_t): the training draws, a uniform random t per target and x0 moved toward noise."""
        noise = torch.randn(x0.shape, generator=generator, dtype=x0.dtype, device=x0.device)
        t = torch.rand(x0.shape[:-1], generator=generator, dtype=x0.dtype, device=x0.device)
        return noise, t, (1 - t[..., None]) * x0 + t[..., None] * noise

    def errors(self, x0: torch.Tensor, cond: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """Squared velocity error per target (x0.shape[:-1]) at a uniform random t per target."""
        noise, t, x_t = self._noised(x0, generator)
        return (self(x_t, t, cond) - (noise - x0)).pow(2).mean(-1)

    def guided_errors(self, x0: torch.Tensor, cond: torch.Tensor, uncond: torch.Tensor, guidance: float,
                      generator: torch.Generator | None = None) -> torch.Tensor:
        """errors() of the guided velocity v_u + guidance * (v_c - v_u), the one sample_guided()
        integrates, at the same x_t and t for both conditions (draws as errors() draws them)."""
        noise, t, x_t = self._noised(x0, generator)
        v_c, v_u = self(x_t.expand(2, *x0.shape), t.expand(2, *t.shape), torch.stack([cond, uncond])).unbind(0)
        return (v_u + guidance * (v_c - v_u) - (noise - x0)).pow(2).mean(-1)

    def loss(self, x0: torch.Tensor, cond: torch.Tensor, mask: torch.Tensor | None = None,
             generator: torch.Generator | None = None) -> torch.Tensor:
        """Rectified-flow loss: the mean of errors(), or their mean weighted by mask (0/1 picks targets;
        other values weigh them)."""
        err = self.errors(x0, cond, generator)
        if mask is None:
            return err.mean()
        m = mask.to(err.dtype)
        return (err * m).sum() / m.sum().clamp(min=1)

    @torch.no_grad()
    def sample(self, cond: torch.Tensor, steps: int = 8, generator: torch.Generator | None = None,
               temperature: float = 1.0) -> torch.Tensor:
        """Euler integration from noise (t = 1) to data (t = 0); one latent per condition vector.
        temperature < 1 shrinks the starting noise (less varied, often cleaner samples). generator:
        one, or a list with one per row of cond (see starting_noise)."""
        if steps < 1:
            raise ValueError("steps must be at least 1")
        shape = (*cond.shape[:-1], self.latent_dim)
        x = temperature * starting_noise(shape, generator, cond)
        ts = torch.linspace(1.0, 0.0, steps + 1, dtype=cond.dtype, device=cond.device)
        for i in range(steps):
            t = ts[i].expand(shape[:-1])
            x = x + (ts[i + 1] - ts[i]) * self(x, t, cond)
        return x

    @torch.no_grad()
    def sample_guided(self, cond: torch.Tensor, uncond: torch.Tensor, guidance: float, steps: int = 8,
                      generator: torch.Generator | None = None, temperature: float = 1.0) -> torch.Tensor:
        """sample() with classifier-free guidance: both conditions see the same x_t and the step
        follows v = v_u + guidance * (v_c - v_u). cond, uncond: (..., cond_dim) of the same shape; the
        starting noise is drawn as sample() draws it for cond."""
        if steps < 1:
            raise ValueError("steps must be at least 1")
        shape = (*cond.shape[:-1], self.latent_dim)
        x = temperature * starting_noise(shape, generator, cond)
        ts = torch.linspace(1.0, 0.0, steps + 1, dtype=cond.dtype, device=cond.device)
        both = torch.stack([cond, uncond])
        for i in range(steps):
            t = ts[i].expand((2, *shape[:-1]))
            v_c, v_u = self(x.expand(2, *shape), t, both).unbind(0)
            x = x + (ts[i + 1] - ts[i]) * (v_u + guidance * (v_c - v_u))
        return x


class EndHead(nn.Module):
    """One logit per position: does the motion end after this latent?"""

    def __init__(self, cond_dim: int):
        super().__init__()
        self.proj = nn.Linear(cond_dim, 1)

    def forward(self, cond: torch.Tensor) -> torch.Tensor:
        return self.proj(cond).squeeze(-1)
