"""An exponential moving average of the trainable weights, kept beside a training run.

Diffusion models are usually sampled from averaged weights rather than the last step's, which
carry the noise of the last few batches (on this project's cosine-decayed CPU runs the two did
equally well: docs/training.md, part 17). Only the trainable tensors are averaged (the
LoRA, heads and embeddings, a few million numbers), never the frozen base model, so it costs
little memory and time. The update is torch's own (swa_utils.get_ema_multi_avg_fn); the decay
warms up as (1 + n) / (10 + n) so the first hundred updates do not drag the start along.
"""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path

import torch
from torch.optim.swa_utils import get_ema_multi_avg_fn

from momug.errors import MomugError

EMA_NAME = "ema"   # OUT/ema/: the average's own checkpoint, beside the run's latest weights in OUT


class WeightAverage:
    def __init__(self, params, decay: float):
        if not 0.0 < decay < 1.0:
            raise MomugError(f"ema_decay must be between 0 and 1 (0 turns it off), got {decay}")
        self.params = [p for p in params]
        self.decay = decay
        self.updates = 0
        self.shadow = [p.detach().clone() for p in self.params]

    def current_decay(self) -> float:
        return min(self.decay, (1 + self.updates) / (10 + self.updates))

    @torch.no_grad()
    def update(self) -> None:
        self.updates += 1
        get_ema_multi_avg_fn(self.current_decay())(self.shadow, [p.detach() for p in self.params], None)

    @contextmanager
    def applied(self):
        """The averaged weights in the model for the duration (to save or validate them), then the
        training weights back exactly."""
        with torch.no_grad():
            for p, s in zip(self.params, self.shadow):
                p.data, s.data = s.data, p.data
        try:
            yield
        finally:
            with torch.no_grad():
                for p, s in zip(self.params, self.shadow):
                    p.data, s.data = s.data, p.data

    def state_dict(self) -> dict:
        return {"decay": self.decay, "updates": self.updates, "shadow": [s.cpu() for s in self.shadow]}

    def load_state_dict(self, state: dict) -> None:
        shadow = state["shadow"]
        if len(shadow) != len(self.shadow) or any(a.shape != b.shape for a, b in zip(shadow, self.shadow)):
            raise MomugError("the saved weight average does not match this model's trainable tensors")
        self.updates = int(state["updates"])
        with torch.no_grad():
            for s, saved in zip(self.shadow, shadow):
                s.copy_(saved)


def start_average(params, decay: float, training_state: dict | None) -> WeightAverage | None:
    """A run's weight average (None when decay is 0), carried on from the training state it resumes
    (momug.train.loop.save_state's "ema"); a fresh run, or one that turns it on only now, starts it
    from the current weights."""
    if not decay:
        return None
    average = WeightAverage(params, decay)
    saved = (training_state or {}).get("ema")
    if saved is not None:
        average.load_state_dict(saved)
    return average


def save_with_average(save_checkpoint, out: Path, terms, average: WeightAverage | None) -> None:
    """save_checkpoint(folder) for the run's weights into out and, with a weight average, for the
    averaged ones into out/ema/; each folder with the run's licence terms (momug.licences)."""
    from momug.licences import write_licence

    save_checkpoint(out)
    write_licence(out, terms)
    if average is not None:
        with average.applied():
            save_checkpoint(out / EMA_NAME)
        write_licence(out / EMA_NAME, terms)


def validate_with_average(run_validation, average: WeightAverage | None) -> list[tuple[str, dict]]:
    """[("val", run_validation())], and ("val_ema", the same with the averaged weights) where there is
    an average: the metrics log's rows, split first."""
    rows = [("val", run_validation())]
    if average is not None:
        with average.applied():
            rows.append(("val_ema", run_validation()))
    return rows
