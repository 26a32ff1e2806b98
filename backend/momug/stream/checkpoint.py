"""Streaming-model checkpoints, in the same shape as the diffusion ones:

    config.json          StreamConfig (kind "stream", base model name, head and MoT settings)
    momug.safetensors    motion weights (MoT low-rank updates and norms), latent adapter, BOM/EOM
                         embeddings, flow and end heads: only what is added to the frozen base LLM
    vae/                 the causal motion VAE whose latents the model generates

The base LLM is rebuilt from its name by the same loader as the diffusion mode."""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch

from momug.errors import MomugError
from momug.model.checkpoint import (CONFIG_NAME, WEIGHTS_NAME, checkpoint_id, read_weights, save_weights,
                                    seed_trainable)
from momug.stream import vae as V
from momug.stream.ar_model import StreamConfig, StreamModel

VAE_FOLDER = "vae"


def default_stream_checkpoint() -> Path:
    return Path(__file__).resolve().parent.parent / "checkpoints" / "stream_default"


def is_stream_checkpoint(folder: str | Path) -> bool:
    try:
        return json.loads((Path(folder) / CONFIG_NAME).read_text()).get("kind") == "stream"
    except (OSError, ValueError, AttributeError):
        return False


def build_stream_model(config: StreamConfig, dtype=None) -> StreamModel:
    from momug.model.base_llm import load_base_llm

    llm, tokenizer = load_base_llm(config.base_model, dtype=dtype)
    return StreamModel(config, llm, tokenizer)


def save_pretrained(model: StreamModel, vae: V.MotionVAE, folder: str | Path,
                    dtype: torch.dtype = torch.float32) -> Path:
    """Write config.json, momug.safetensors and vae/ atomically into folder."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    V.save_pretrained(vae, folder / VAE_FOLDER)
    state = {k: v.to("cpu", dtype if v.is_floating_point() else v.dtype)
             for k, v in model.trainable_state_dict().items()}
    tmp_w, tmp_c = folder / (WEIGHTS_NAME + ".tmp"), folder / (CONFIG_NAME + ".tmp")
    save_weights(state, tmp_w, metadata={"format": "momug-stream", "version": str(model.config.version)})
    tmp_c.write_text(json.dumps(model.config.to_dict(), indent=2, sort_keys=True))
    os.replace(tmp_w, folder / WEIGHTS_NAME)
    os.replace(tmp_c, folder / CONFIG_NAME)
    return folder


INIT_MATCH = ("base_model", "latent_dim", "mot_rank", "flow_width", "flow_depth")


def init_from(model: StreamModel, folder: str | Path) -> list[str]:
    """Seed a freshly built streaming model with a stream checkpoint's trained tensors (and its
    latent scale, which those tensors were trained at), to fine-tune from it, as the diffusion
    trainer's init_from (momug.model.checkpoint.init_from). Tensors the checkpoint lacks keep their
    fresh initialisation; their names are returned. A checkpoint of another architecture is a
    MomugError."""
    folder = Path(folder)
    if not (folder / CONFIG_NAME).is_file():
        raise MomugError(f"init_from: {folder} is not a streaming checkpoint: {CONFIG_NAME} is missing")
    try:
        source = StreamConfig.from_dict(json.loads((folder / CONFIG_NAME).read_text()))
    except (ValueError, TypeError) as exc:
        raise MomugError(f"init_from: cannot read streaming config in {folder}: {exc}") from None
    fresh = seed_trainable(model, folder, source, INIT_MATCH)
    model.config.latent_scale = source.latent_scale
    return fresh


def from_pretrained(folder: str | Path, device: str | torch.device = "cpu", dtype=None, check_licence: bool = True):
    """(StreamModel, MotionVAE) from a checkpoint folder; anything wrong is a MomugError."""
    folder = Path(folder)
    if not (folder / CONFIG_NAME).is_file():
        raise MomugError(f"{folder} is not a streaming checkpoint: {CONFIG_NAME} is missing")
    from momug.licences import require_accepted

    if check_licence:  # off only where a training run resumes itself, on data its user supplied
        require_accepted(folder)  # an opt-in checkpoint (trained on CC BY-NC data) loads once accepted
    try:
        config = StreamConfig.from_dict(json.loads((folder / CONFIG_NAME).read_text()))
    except (ValueError, TypeError) as exc:
        raise MomugError(f"cannot read streaming config in {folder}: {exc}") from None
    vae = V.from_pretrained(folder / VAE_FOLDER, device=device)
    if vae.config.latent_dim != config.latent_dim:
        raise MomugError(f"{folder}: the VAE makes {vae.config.latent_dim}-wide latents, the model expects "
                         f"{config.latent_dim}")
    state = read_weights(folder)
    model = build_stream_model(config, dtype=dtype)
    try:
        model.load_trainable_state_dict({k: v.float() if v.is_floating_point() else v for k, v in state.items()})
    except KeyError as exc:
        raise MomugError(f"checkpoint {folder} does not match its config: {exc}") from None
    return model.eval().to(device), vae


__all__ = ["build_stream_model", "checkpoint_id", "default_stream_checkpoint", "from_pretrained", "init_from",
           "is_stream_checkpoint", "save_pretrained"]
