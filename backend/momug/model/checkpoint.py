"""Save and load MoMug checkpoints the Hugging Face way, without pickle.

A checkpoint folder holds:
    config.json          MoMugConfig (base model name, motion and diffusion settings)
    momug.safetensors    LoRA weights, special-token embeddings, motion heads, timestep MLP,
                         normalisation mean/std: only what MoMug adds to the frozen base LLM
The base LLM itself is never copied: it is rebuilt from its name (see momug.model.base_llm).
"""

from __future__ import annotations

import collections
import hashlib
import json
import os
import re
from pathlib import Path

import torch

from momug.errors import MomugError
from momug.model.config import MoMugConfig

WEIGHTS_NAME = "momug.safetensors"
CONFIG_NAME = "config.json"


def default_checkpoint() -> Path:
    """The default model shipped inside the package (its folder as the model registry names it)."""
    from momug.model.registry import DEFAULT, REGISTRY

    return REGISTRY.entry(DEFAULT).folder


def checkpoint_folder(checkpoint: str | None) -> Path:
    """The folder a --checkpoint value names (None: the shipped default), which must exist."""
    folder = Path(checkpoint) if checkpoint else default_checkpoint()
    if not folder.is_dir():
        if checkpoint:
            what = "is a file, not a checkpoint folder" if folder.exists() else "does not exist"
            raise MomugError(f"checkpoint folder {folder} {what}")
        raise MomugError("the default model is not installed with this copy of momug; pass --checkpoint DIR")
    return folder


def measure_embed_rms(llm, sample: int = 4096) -> float:
    table = llm.get_input_embeddings()
    n = table.num_embeddings
    ids = torch.linspace(0, n - 1, min(sample, n)).long()
    with torch.no_grad():
        return float(table(ids).float().pow(2).mean().sqrt())


def build_model(config: MoMugConfig, mean=None, std=None, dtype=None):
    """A fresh MoMug model around its base LLM (LoRA and heads newly initialised)."""
    from momug.model.base_llm import load_base_llm
    from momug.model.momug import MoMugModel

    llm, tokenizer = load_base_llm(config.base_model, dtype=dtype)
    if config.embed_rms == 1.0:
        config.embed_rms = measure_embed_rms(llm)
    return MoMugModel(config, llm, tokenizer, mean, std)


def save_weights(state: dict[str, torch.Tensor], path: str | Path, metadata: dict[str, str]) -> None:
    """Write a safetensors file whose bytes depend only on its tensors and metadata. safetensors keeps
    the metadata in a hash map and writes its keys in a different order from one call to the next, so
    the same weights saved twice would get two checkpoint_ids; the keys are put in sorted order here
    (the header keeps its length, so nothing else in the file moves)."""
    from safetensors.torch import save

    data = bytearray(save(state, metadata=metadata))
    n = int.from_bytes(data[:8], "little")
    header = json.loads(data[8:8 + n])
    header["__metadata__"] = dict(sorted(header.get("__metadata__", {}).items()))
    ordered = json.dumps(header, separators=(",", ":")).encode()
    if len(ordered) > n:
        raise MomugError(f"cannot write {path}: its safetensors header did not keep its length when sorted")
    data[8:8 + n] = ordered.ljust(n, b" ")   # safetensors pads the header with spaces
    Path(path).write_bytes(data)


def save_pretrained(model, folder: str | Path, dtype: torch.dtype = torch.float32) -> Path:
    """Write config.json and momug.safetensors atomically into folder."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    # Normalisation statistics stay float32 whatever dtype the weights are stored in.
    state = {k: v.to("cpu", dtype if v.is_floating_point() and k not in ("mean", "std") else v.dtype)
             for k, v in model.trainable_state_dict().items()}
    tmp_weights = folder / (WEIGHTS_NAME + ".tmp")
    save_weights(state, tmp_weights, metadata={"format": "momug", "version": str(model.config.version)})
    tmp_config = folder / (CONFIG_NAME + ".tmp")
    tmp_config.write_text(model.config.to_json() + "\n")
    os.replace(tmp_weights, folder / WEIGHTS_NAME)
    os.replace(tmp_config, folder / CONFIG_NAME)
    return folder


def checkpoint_id(folder: str | Path) -> str:
    """A short content hash of a checkpoint's weights and config."""
    h = hashlib.sha256()
    for name in (CONFIG_NAME, WEIGHTS_NAME):
        with open(Path(folder) / name, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
    return h.hexdigest()[:12]


def read_weights(folder: Path) -> dict[str, torch.Tensor]:
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    path = folder / WEIGHTS_NAME
    if not path.is_file():
        raise MomugError(f"{folder} is not a MoMug checkpoint: {WEIGHTS_NAME} is missing")
    try:
        return load_file(str(path))
    except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
        raise MomugError(f"checkpoint {path} is corrupt or unreadable: {exc}") from None


def seed_trainable(model, folder: Path, source, match: tuple[str, ...]) -> list[str]:
    """Load a checkpoint's trained tensors into a freshly built model (diffusion or streaming) whose
    config agrees with `source` (the checkpoint's config) on every key of `match`. Tensors the
    checkpoint lacks (modules added since) keep their fresh initialisation; their names are
    returned. Weights trained under terms of their own are used only once those were accepted."""
    from momug.licences import require_accepted

    require_accepted(folder)  # and the new run carries them on (licences.run_licence)
    for key in match:
        if getattr(source, key) != getattr(model.config, key):
            raise MomugError(f"init_from: {folder} has {key}={getattr(source, key)!r}, "
                             f"this model {getattr(model.config, key)!r}")
    state = read_weights(folder)
    current = model.trainable_state_dict()
    unknown = sorted(set(state) - set(current))
    if unknown:
        raise MomugError(f"init_from: {folder} holds tensors this model does not have: {unknown[:5]}")
    fresh = sorted(set(current) - set(state))
    merged = {k: (state[k].float() if state[k].is_floating_point() else state[k]) if k in state else v
              for k, v in current.items()}
    try:
        model.load_trainable_state_dict(merged)
    except KeyError as exc:
        raise MomugError(f"init_from: {folder} does not match this model: {exc}") from None
    return fresh


def describe_fresh(names: list[str]) -> str:
    """The tensors a seeded run starts fresh, for its first log line: one entry per module kind with
    the layer numbers folded ("lora...layers.*.mlp.up_proj.lora_A.weight x18"), not hundreds of names."""
    kinds = collections.Counter(re.sub(r"\.\d+\.", ".*.", name) for name in names)
    return ", ".join(kind if n == 1 else f"{kind} x{n}" for kind, n in sorted(kinds.items()))


def init_from(model, folder: str | Path) -> list[str]:
    """Seed a freshly built model with a checkpoint's trained tensors, to fine-tune from it
    (seed_trainable). A checkpoint for another base model or feature size is a MomugError."""
    folder = Path(folder)
    if not (folder / CONFIG_NAME).is_file():
        raise MomugError(f"init_from: {folder} is not a MoMug checkpoint: {CONFIG_NAME} is missing")
    source = MoMugConfig.load(folder / CONFIG_NAME)
    # More LoRA targets than the source had is growth, not a mismatch: the added layers start at
    # zero (peft's lora_B), so the new run starts from exactly the source model.
    missing = sorted(set(source.lora_targets) - set(model.config.lora_targets))
    if missing:
        raise MomugError(f"init_from: {folder} adapts {missing}, which this model's lora_targets "
                         f"{list(model.config.lora_targets)} leave out")
    return seed_trainable(model, folder, source, ("base_model", "feature_dim", "frames_per_token", "lora_rank"))


def from_pretrained(folder: str | Path, device: str | torch.device = "cpu", dtype=None, check_licence: bool = True):
    """Load a MoMug model from a checkpoint folder; a corrupt or mismatched one is a MomugError."""
    folder = Path(folder)
    if not (folder / CONFIG_NAME).is_file():
        raise MomugError(f"{folder} is not a MoMug checkpoint: {CONFIG_NAME} is missing")
    from momug.licences import require_accepted

    if check_licence:  # off only where a training run resumes itself, on data its user supplied
        require_accepted(folder)  # an opt-in checkpoint (trained on CC BY-NC data) loads once accepted
    config = MoMugConfig.load(folder / CONFIG_NAME)
    state = read_weights(folder)
    model = build_model(config, dtype=dtype)
    expected = model.trainable_state_dict()
    for name, tensor in state.items():
        if name in expected and expected[name].shape != tensor.shape and name != "caption_vocab":
            raise MomugError(f"checkpoint {folder} does not match its config: tensor {name} has shape "
                             f"{tuple(tensor.shape)}, the model expects {tuple(expected[name].shape)}")
    try:
        model.load_trainable_state_dict({k: v.float() if v.is_floating_point() else v for k, v in state.items()})
    except (KeyError, RuntimeError) as exc:
        raise MomugError(f"checkpoint {folder} does not match its config: {exc}") from None
    model.eval()
    return model.to(device)
