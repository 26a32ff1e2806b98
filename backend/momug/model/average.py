"""Average checkpoints' weights (a "model soup"), diffusion or streaming.

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

Streaming checkpoints are averaged the same way: their motion weights' low-rank updates (mot.*.a,
mot.*.b; momug.stream.mot, scale 1) are stacked, everything else is averaged, and the sources must
share one VAE (the latents the model reads and makes), which the average keeps.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import torch

from momug.errors import MomugError
from momug.model.config import MoMugConfig

# Shared exactly: tensors that are data, not trained weights (the diffusion model's).
_SHARED_EXACTLY = ("mean", "std", "caption_vocab")


@dataclasses.dataclass(frozen=True)
class _Kind:
    """How one kind of checkpoint stores its low-rank updates."""
    rank_key: str            # the config field with the update's rank
    free_keys: frozenset     # config keys that may differ between sources (the result's are set here)
    prefix: str              # low-rank tensors' names start with this ...
    a_pattern: str           # ... an A factor's (rank, in) name matches this regular expression ...
    b_pattern: str           # ... and its B factor's (out, rank) this one,
    b_in_place_of_a: str     # which is the A's name with its match replaced by this

    def factor(self, name: str) -> str | None:
        if not name.startswith(self.prefix):
            return None
        if re.search(self.a_pattern, name):
            return "A"
        if re.search(self.b_pattern, name):
            return "B"
        return None

    def partner(self, name_a: str) -> str:
        return re.sub(self.a_pattern, self.b_in_place_of_a, name_a, count=1)

    def scale(self, config) -> float:
        return config.lora_alpha / config.lora_rank if self.rank_key == "lora_rank" else 1.0

    def with_rank(self, config, rank: int):
        extra = {"lora_alpha": rank} if self.rank_key == "lora_rank" else {}
        return dataclasses.replace(config, **{self.rank_key: rank}, **extra)


# The diffusion model's peft LoRA (its scale lora_alpha / lora_rank) and the streaming model's
# low-rank motion twins (momug.stream.mot.LowRankTwin: text weight + b @ a, scale 1).
DIFFUSION = _Kind("lora_rank", frozenset({"lora_rank", "lora_alpha", "guidance"}), "lora.",
                  r"\.lora_A\.", r"\.lora_B\.", ".lora_B.")
STREAM = _Kind("mot_rank", frozenset({"mot_rank", "guidance"}), "mot.", r"\.a$", r"\.b$", ".b")


def _kind_of(config) -> _Kind:
    from momug.stream.ar_model import StreamConfig

    return STREAM if isinstance(config, StreamConfig) else DIFFUSION


def _lora_factor(name: str, kind: _Kind = DIFFUSION) -> str | None:
    factor = kind.factor(name)
    if kind is DIFFUSION and name.startswith(kind.prefix) and factor is None:
        raise MomugError(f"cannot average LoRA tensor {name}: neither an A nor a B factor")
    return factor


def truncate_lora(state: dict[str, torch.Tensor], rank: int, kind: _Kind = DIFFUSION
                  ) -> tuple[dict[str, torch.Tensor], float]:
    """Each low-rank layer's update B @ A (scale 1) refactored to `rank` by a truncated SVD; returns
    the new tensors and the largest relative (Frobenius) error of an update over the layers."""
    out, worst = dict(state), 0.0
    for name_a in [n for n in state if _lora_factor(n, kind) == "A"]:
        name_b = kind.partner(name_a)
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
    """The weighted average of k checkpoints of one kind, diffusion (MoMugConfig) or streaming
    (StreamConfig): config, trainable tensors, the largest relative error of a low-rank update that
    `rank` truncation caused (0 without it). Without `rank` the updates have the summed rank and are
    exact. Weights default to equal and are normalised to sum to 1."""
    k = len(states)
    if k < 2 or len(configs) != k:
        raise MomugError("averaging needs at least two checkpoints")
    kind = _kind_of(configs[0])
    if any(_kind_of(c) is not kind for c in configs[1:]):
        raise MomugError("averaging: the checkpoints mix diffusion and streaming models")
    weights = [1.0] * k if weights is None else [float(w) for w in weights]
    if len(weights) != k or any(not w > 0 for w in weights):
        raise MomugError(f"averaging: give one positive weight per checkpoint, got {weights}")
    total = sum(weights)
    weights = [w / total for w in weights]

    first = dataclasses.asdict(configs[0])
    for i, config in enumerate(configs[1:], start=1):
        other = dataclasses.asdict(config)
        differ = sorted(key for key in first if key not in kind.free_keys and first[key] != other[key])
        if differ:
            raise MomugError(f"checkpoint {i + 1} differs from the first in {differ}: only runs of one "
                             "model (same base model, targets, motion settings) can be averaged")
    names = set(states[0])
    for i, state in enumerate(states[1:], start=1):
        if set(state) != names:
            odd = sorted(names.symmetric_difference(state))[:5]
            raise MomugError(f"checkpoint {i + 1} holds other tensors than the first: {odd}")

    ranks = [getattr(c, kind.rank_key) for c in configs]
    if 0 in ranks and any(ranks):
        raise MomugError(f"checkpoints differ in {kind.rank_key}: full motion copies (0) and low-rank ones {ranks}")
    scales = [kind.scale(c) for c in configs]
    out: dict[str, torch.Tensor] = {}
    for name in sorted(names):
        tensors = [state[name] for state in states]
        factor = _lora_factor(name, kind)
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
    summed = sum(ranks)
    error = 0.0
    if rank is not None:
        if not 0 < rank <= summed:
            raise MomugError(f"averaging: rank must be between 1 and the summed rank {summed}, got {rank}")
        if rank < summed:
            out, error = truncate_lora(out, rank, kind)
    return kind.with_rank(configs[0], rank or summed), out, error


def _read_source(folder: Path):
    """(config, trainable tensors) of one checkpoint folder, diffusion or streaming."""
    import json

    from momug.model.checkpoint import CONFIG_NAME, read_weights
    from momug.stream.ar_model import StreamConfig
    from momug.stream.checkpoint import is_stream_checkpoint

    if not (folder / CONFIG_NAME).is_file():
        raise MomugError(f"{folder} is not a MoMug checkpoint: {CONFIG_NAME} is missing")
    if is_stream_checkpoint(folder):
        try:
            config = StreamConfig.from_dict(json.loads((folder / CONFIG_NAME).read_text()))
        except (ValueError, TypeError) as exc:
            raise MomugError(f"cannot read streaming config in {folder}: {exc}") from None
    else:
        config = MoMugConfig.load(folder / CONFIG_NAME)
    return config, read_weights(folder)


def _same_vae(folders: list[Path]) -> None:
    """Streaming sources must read and make the same latents: one VAE, tensor for tensor."""
    from safetensors.torch import load_file

    from momug.stream import vae as V
    from momug.stream.checkpoint import VAE_FOLDER

    def tensors(folder: Path) -> dict[str, torch.Tensor]:
        path = folder / VAE_FOLDER / V.WEIGHTS_NAME
        try:
            return load_file(str(path))
        except Exception as exc:  # missing or corrupt: say which source
            raise MomugError(f"streaming checkpoint {folder} has no readable VAE ({path}): {exc}") from None

    first = tensors(folders[0])
    for i, folder in enumerate(folders[1:], start=2):
        other = tensors(folder)
        if set(other) != set(first) or any(not torch.equal(first[k], other[k]) for k in first):
            raise MomugError(f"streaming checkpoint {i} ({folder}) has another VAE than the first: their latents "
                             "mean different motions, so their weights cannot be averaged")


def average_checkpoints(folders: list[str | Path], weights: list[float] | None = None, rank: int | None = None):
    """Read k checkpoint folders of one kind and return their average as (config, tensors, licence,
    truncation error; see average_states):
    the terms any source was trained under go with the average (sources under different terms
    are refused), and a source under terms of its own is read only once they were accepted."""
    from momug.licences import read_licence, require_accepted

    configs, states, licences = [], [], []
    folders = [Path(f) for f in folders]
    for folder in folders:
        if not folder.is_dir():
            raise MomugError(f"{folder} is not a MoMug checkpoint: no such folder")
        require_accepted(folder)
        licence = read_licence(folder)
        if licence is not None and licence not in licences:
            licences.append(licence)
        config, state = _read_source(folder)
        configs.append(config)
        states.append(state)
    if len(licences) > 1:
        raise MomugError("the checkpoints carry different licences: "
                         + "; ".join(t["name"] for t in licences) + "; average checkpoints under one set of terms")
    config, state, error = average_states(configs, states, weights, rank)
    if _kind_of(config) is STREAM:
        _same_vae(folders)
    return config, state, (licences[0] if licences else None), error


def write_average(folders: list[str | Path], output: str | Path, weights: list[float] | None = None,
                  rank: int | None = None, guidance: float | None = None,
                  dtype: torch.dtype = torch.float16):
    """Average the checkpoints (average_checkpoints) into a checkpoint folder with their terms (a
    streaming average with the sources' VAE), loaded into a model first so every tensor's name and
    shape is checked before anything is written. guidance: the average's default scale (None: the
    first source's). Returns the average's config and the truncation error."""
    from momug.licences import write_licence
    from momug.model.config import config_guidance

    if guidance is not None:
        guidance = config_guidance(guidance, "guidance")
    config, state, licence, error = average_checkpoints(folders, weights, rank)
    if guidance is not None:
        config.guidance = guidance
    if _kind_of(config) is STREAM:
        from momug.stream import checkpoint as sckpt
        from momug.stream import vae as V

        model = sckpt.build_stream_model(config)
        model.load_trainable_state_dict(state)
        sckpt.save_pretrained(model, V.from_pretrained(Path(folders[0]) / sckpt.VAE_FOLDER), output, dtype=dtype)
    else:
        from momug.model import checkpoint as ckpt

        model = ckpt.build_model(config)
        model.load_trainable_state_dict(state)
        ckpt.save_pretrained(model, output, dtype=dtype)
    write_licence(output, licence)
    return config, error
