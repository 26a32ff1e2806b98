"""Noise schedule, training targets and the DDIM sampler step, kept apart from the network.

The network predicts one of three targets for a noised sample x_t = sqrt(a) x0 + sqrt(1-a) eps
(a = alpha_bar(t)): "sample" (x0, as MDM and MoMug do), "epsilon" or "v_prediction". Whatever it
predicts, the sampler converts it to (x0, eps) and takes deterministic DDIM steps (eta 0) or
stochastic ones (eta > 0) over a short, evenly spaced subset of the training timesteps.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from momug.errors import MomugError

PREDICTION_TYPES = ("sample", "epsilon", "v_prediction")
SCHEDULES = ("cosine", "linear")


def alpha_bars(schedule: str, num_steps: int, shift: float = 1.0) -> torch.Tensor:
    """Cumulative signal fractions alpha_bar(t) for t = 0..num_steps-1 (float64).

    shift > 1 divides the signal-to-noise ratio at every t by shift**2 ("simple diffusion"):
    a motion token folds many strongly correlated numbers, so at the unshifted high-noise steps
    x_t still gives the answer away and the network never learns to read the prompt."""
    if shift <= 0:
        raise MomugError(f"noise shift must be positive, got {shift}")
    if schedule == "cosine":
        # Nichol & Dhariwal's squared-cosine schedule, betas clipped at 0.999.
        s = 0.008
        grid = torch.arange(num_steps + 1, dtype=torch.float64) / num_steps
        f = torch.cos((grid + s) / (1 + s) * math.pi / 2) ** 2
        betas = (1 - f[1:] / f[:-1]).clamp(max=0.999)
    elif schedule == "linear":
        betas = torch.linspace(1e-4, 0.02, num_steps, dtype=torch.float64)
    else:
        raise MomugError(f"unknown noise schedule '{schedule}' (choose from {', '.join(SCHEDULES)})")
    alpha_bar = torch.cumprod(1 - betas, dim=0)
    if shift != 1.0:
        alpha_bar = torch.sigmoid(torch.logit(alpha_bar) - 2 * math.log(shift))
    return alpha_bar


@dataclass
class NoiseSchedule:
    schedule: str = "cosine"
    num_train_steps: int = 1000
    prediction_type: str = "sample"
    shift: float = 1.0

    def __post_init__(self):
        if self.prediction_type not in PREDICTION_TYPES:
            raise MomugError(f"unknown prediction type '{self.prediction_type}' "
                             f"(choose from {', '.join(PREDICTION_TYPES)})")
        self.alpha_bar = alpha_bars(self.schedule, self.num_train_steps, self.shift)

    def _ab(self, t: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
        ab = self.alpha_bar.to(like.device)[t.long()].to(like.dtype)
        return ab.view(-1, *([1] * (like.dim() - 1)))

    def add_noise(self, x0: torch.Tensor, noise: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        ab = self._ab(t, x0)
        return ab.sqrt() * x0 + (1 - ab).sqrt() * noise

    def target(self, x0: torch.Tensor, noise: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """What the network is trained to output for this (x0, noise, t)."""
        if self.prediction_type == "sample":
            return x0
        if self.prediction_type == "epsilon":
            return noise
        ab = self._ab(t, x0)
        return ab.sqrt() * noise - (1 - ab).sqrt() * x0

    def split(self, output: torch.Tensor, x_t: torch.Tensor, t: torch.Tensor):
        """Network output at x_t -> (predicted x0, predicted noise)."""
        ab = self._ab(t, x_t)
        if self.prediction_type == "sample":
            x0 = output
            eps = (x_t - ab.sqrt() * x0) / (1 - ab).sqrt().clamp(min=1e-8)
        elif self.prediction_type == "epsilon":
            eps = output
            x0 = (x_t - (1 - ab).sqrt() * eps) / ab.sqrt()
        else:
            x0 = ab.sqrt() * x_t - (1 - ab).sqrt() * output
            eps = (1 - ab).sqrt() * x_t + ab.sqrt() * output
        return x0, eps


def ddim_timesteps(num_train_steps: int, num_steps: int) -> list[int]:
    """num_steps timesteps from high noise to low, evenly spaced ("trailing" spacing, so the first
    step starts from pure noise at t = T-1)."""
    if not 1 <= num_steps <= num_train_steps:
        raise MomugError(f"sampling steps must be between 1 and {num_train_steps}, got {num_steps}")
    step = num_train_steps / num_steps
    return [int(round(num_train_steps - 1 - i * step)) for i in range(num_steps)]


def ddim_step(schedule: NoiseSchedule, x0: torch.Tensor, eps: torch.Tensor, t: int, t_prev: int | None,
              eta: float = 0.0, generator: torch.Generator | None = None) -> torch.Tensor:
    """One DDIM update from timestep t to t_prev (None: the end, return x0)."""
    if t_prev is None:
        return x0
    ab = schedule.alpha_bar[t].item()
    ab_prev = schedule.alpha_bar[t_prev].item()
    sigma = eta * math.sqrt((1 - ab_prev) / (1 - ab) * (1 - ab / ab_prev)) if eta > 0 else 0.0
    direction = math.sqrt(max(1 - ab_prev - sigma ** 2, 0.0)) * eps
    x = math.sqrt(ab_prev) * x0 + direction
    if sigma > 0:
        x = x + sigma * torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)
    return x
