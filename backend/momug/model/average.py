"""Average diffusion checkpoints' weights (a "model soup").

Runs that start from the same weights and differ only in their batches land close together, and
the average of their weights is often better than any one of them: the seed-to-seed spread
averages out. Dense tensors (motion heads, timestep MLP, special embeddings) are averaged as they
are. LoRA layers are not: the mean of two A's times the mean of two B's is not the mean of the two
updates B·A. The exact mean of the updates is itself a LoRA of the summed rank, stacking every
source's A rows and its scaled B columns side by side:

    sum_i w_i * s_i * B_i A_i  =  [w_1 s_1 B_1, ..., w_k s_k B_k] @ [A_1; ...; A_k]

with s_i = lora_alpha_i / lora_rank_i. The result says lora_alpha = lora_rank (scale 1), so the
stacked factors carry every scale themselves. Generating costs a little more (LoRA's matrices are
small beside the base model's) and the weights file grows by the LoRA's share per source, unless
`rank` asks for a truncated SVD of each layer's averaged update (lossy; the largest relative error
over the layers is returned so the caller can say what was given up).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import torch

from momug.errors import MomugError
from momug.model.config import MoMugConfig

# Config keys that may differ between the sources: the LoRA's size (the result's is the sum) and
# the guidance scale (the result takes the first source's unless told otherwise).
_FREE_KEYS = {"lora_rank", "lora_alpha", "guidance"}
# Tensors that are data, not trained weights: they must agree exactly.
_SHARED_EXACTLY = ("mean", "std", "caption_vocab")


def _lora_factor(name: str) -> str | None:
    if not name.startswith("lora."):
        return None
    if ".lora_A." in name:
        return "A"
    if ".lora_B." in name:
        return "B"
    raise MomugError(f"cannot average LoRA tensor {name}: neither an A nor a B factor")


def truncate_lora(state: dict[str, torch.Tensor], rank: int) -> tuple[dict[str, torch.Tensor], float]:
    """Each LoRA layer's update B @ A (scale 1) refactored to `rank` by a truncated SVD; returns the
    new tensors and the largest relative (Frobenius) error of an update over the layers."""
    out, worst = dict(state), 0.0
    for name_a in [n for n in state if _lora_factor(n) == "A"]:
        name_b = name_a.replace(".lora_A.", ".lora_B.")
        delta = state[name_b].double() @ state[name_a].double()
        u, s, vh = torch.linalg.svd(delta, full_matrices=False)
        root = s[:rank].sqrt()
        out[name_b] = (u[:, :rank] * root).float()
        out[name_a] = (root[:, None] * vh[:rank]).float()
        norm = float(s.norm())
        worst = max(worst, float(s[rank:].norm()) / norm if norm > 0 else 0.0)
    return out, worst


def average_states(configs: list[MoMugConfig], states: list[dict[str, torch.Tensor]],
                   weights: list[float] | None = None, rank: int | None = None
                   ) -> tuple[MoMugConfig, dict[str, torch.Tensor], float]:
    """The weighted average of k checkpoints (config, trainable tensors, the largest relative error
    of a LoRA update that `rank` truncation caused: 0 without it). Without `rank` the LoRA has the
    summed rank and is exact. Weights default to equal and are normalised to sum to 1."""
    k = len(states)
    if k < 2 or len(configs) != k:
        raise MomugError("averaging needs at least two checkpoints")
    weights = [1.0] * k if weights is None else [float(w) for w in weights]
    if len(weights) != k or any(not w > 0 for w in weights):
        raise MomugError(f"averaging: give one positive weight per checkpoint, got {weights}")
    total = sum(weights)
    weights = [w / total for w in weights]

    first = dataclasses.asdict(configs[0])
    for i, config in enumerate(configs[1:], start=1):
        other = dataclasses.asdict(config)
        differ = sorted(key for key in first if key not in _FREE_KEYS and first[key] != other[key])
        if differ:
            raise MomugError(f"checkpoint {i + 1} differs from the first in {differ}: only runs of one "
                             "model (same base model, targets, motion settings) can be averaged")
    names = set(states[0])
    for i, state in enumerate(states[1:], start=1):
        if set(state) != names:
            odd = sorted(names.symmetric_difference(state))[:5]
            raise MomugError(f"checkpoint {i + 1} holds other tensors than the first: {odd}")

    scales = [c.lora_alpha / c.lora_rank for c in configs]
    out: dict[str, torch.Tensor] = {}
    for name in sorted(names):
        tensors = [state[name] for state in states]
        factor = _lora_factor(name)
        if name in _SHARED_EXACTLY:
            if any(t.shape != tensors[0].shape or not torch.equal(t, tensors[0]) for t in tensors[1:]):
                raise MomugError(f"checkpoints disagree on {name}: they were trained on different data")
            out[name] = tensors[0].clone()
        elif factor == "A":  # (rank, in): stack the rows
            out[name] = torch.cat([t.float() for t in tensors], dim=0)
        elif factor == "B":  # (out, rank): stack the columns, each source's weight and scale folded in
            out[name] = torch.cat([w * s * t.float() for w, s, t in zip(weights, scales, tensors)], dim=1)
        elif not tensors[0].is_floating_point():
            raise MomugError(f"cannot average integer tensor {name}")
        else:
            out[name] = sum(w * t.float() for w, t in zip(weights, tensors))
    summed = sum(c.lora_rank for c in configs)
    error = 0.0
    if rank is not None:
        if not 0 < rank <= summed:
            raise MomugError(f"averaging: rank must be between 1 and the summed rank {summed}, got {rank}")
        if rank < summed:
            out, error = truncate_lora(out, rank)
    final = rank or summed
    config = dataclasses.replace(configs[0], lora_rank=final, lora_alpha=final)
    return config, out, error


def average_checkpoints(folders: list[str | Path], weights: list[float] | None = None, rank: int | None = None):
    """Read k diffusion checkpoint folders and return their average as (config, tensors, licence,
    truncation error; see average_states):
    the terms any source was trained under go with the average (sources under different terms
    are refused), and a source under terms of its own is read only once they were accepted."""
    from momug.licences import read_licence, require_accepted
    from momug.model.checkpoint import CONFIG_NAME, read_weights
    from momug.stream.checkpoint import is_stream_checkpoint

    configs, states, licences = [], [], []
    for folder in map(Path, folders):
        if not (folder / CONFIG_NAME).is_file():
            raise MomugError(f"{folder} is not a MoMug checkpoint: {CONFIG_NAME} is missing")
        if is_stream_checkpoint(folder):
            raise MomugError(f"{folder} is a streaming checkpoint; only diffusion checkpoints can be averaged")
        require_accepted(folder)
        licence = read_licence(folder)
        if licence is not None and licence not in licences:
            licences.append(licence)
        configs.append(MoMugConfig.load(folder / CONFIG_NAME))
        states.append(read_weights(folder))
    if len(licences) > 1:
        raise MomugError("the checkpoints carry different licences: "
                         + "; ".join(t["name"] for t in licences) + "; average checkpoints under one set of terms")
    config, state, error = average_states(configs, states, weights, rank)
    return config, state, (licences[0] if licences else None), error


def write_average(folders: list[str | Path], output: str | Path, weights: list[float] | None = None,
                  rank: int | None = None, guidance: float | None = None,
                  dtype: torch.dtype = torch.float16) -> tuple[MoMugConfig, float]:
    """Average the checkpoints (average_checkpoints) into a checkpoint folder with their terms,
    loaded into a model first so every tensor's name and shape is checked before anything is
    written. guidance: the average's default scale (None: the first source's). Returns the
    average's config and the truncation error."""
    from momug.licences import write_licence
    from momug.model import checkpoint as ckpt
    from momug.model.config import config_guidance

    if guidance is not None:
        guidance = config_guidance(guidance, "guidance")
    config, state, licence, error = average_checkpoints(folders, weights, rank)
    if guidance is not None:
        config.guidance = guidance
    model = ckpt.build_model(config)
    model.load_trainable_state_dict(state)
    ckpt.save_pretrained(model, output, dtype=dtype)
    write_licence(output, licence)
    return config, error
