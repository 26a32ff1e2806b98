"""Mixture-of-Transformers weights for a Hugging Face decoder: motion positions get their own copies
of every per-position module (norms, q/k/v/o projections, q/k norms, MLP, final norm), initialised
from the text ones; the text weights are frozen; attention stays joint over the whole sequence.

How: each text module's forward is routed: all-text calls run the text module, all-motion calls
(a streaming step) run only the motion copy, and mixed calls run both and keep the motion output at
motion positions. Every routed module works position by position, so mixing outputs per position
is the same as routing each position through its own weights, and q, k and v are built from each
position's own weights before the (unmodified) joint attention sees them.
Running each decoder layer twice and merging would be wrong: text queries would then attend to
motion keys made with text weights.

A sequence without motion positions skips the motion copies entirely, so text-only outputs are the
base model's, bit for bit: the language ability is kept by construction.

rank > 0 stores each motion copy of a linear layer as the frozen text weight plus a trainable
rank-`rank` update (zero at the start, so the copy still begins equal to the text weight); norms
are still full copies. That keeps a checkpoint to a few MB instead of a second copy of the model.
"""

from __future__ import annotations

import copy
import math

import torch
from torch import nn
from torch.nn import functional as F

# Per-position modules of one decoder layer, by attribute path (those a model lacks are skipped).
LAYER_MODULES = ("input_layernorm", "post_attention_layernorm", "pre_feedforward_layernorm",
                 "post_feedforward_layernorm", "self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj",
                 "self_attn.o_proj", "self_attn.q_norm", "self_attn.k_norm", "mlp")
# q/k norms see heads already split off. Gemma 3 transposes first: (B, heads, L, head_dim);
# Qwen 3 normalises before the transpose: (B, L, heads, head_dim).
HEADS_FIRST_MODELS = ("gemma3", "gemma3_text")


def _get(root: nn.Module, path: str):
    for part in path.split("."):
        root = getattr(root, part, None)
        if root is None:
            return None
    return root


def decoder_of(llm: nn.Module) -> nn.Module:
    """The decoder stack (the module holding .layers and .norm) of a causal LM."""
    for path in ("model", "model.language_model", "transformer"):
        m = _get(llm, path)
        if m is not None and hasattr(m, "layers"):
            return m
    raise ValueError(f"cannot find the decoder layers of {type(llm).__name__}")


class LowRankTwin(nn.Module):
    """A linear layer's motion copy: the (shared, frozen) text weight plus B @ A."""

    def __init__(self, base: nn.Linear, rank: int):
        super().__init__()
        self._base = [base]  # a list, so the text weight is neither a submodule nor saved here
        self.a = nn.Parameter(torch.randn(rank, base.in_features) / math.sqrt(base.in_features))
        self.b = nn.Parameter(torch.zeros(base.out_features, rank))

    def forward(self, x):
        base = self._base[0]
        return F.linear(x, base.weight, base.bias) + F.linear(F.linear(x, self.a.to(x.dtype)), self.b.to(x.dtype))


def _motion_twin(module: nn.Module, rank: int) -> nn.Module:
    if rank <= 0:
        twin = copy.deepcopy(module)
    elif isinstance(module, nn.Linear):
        return LowRankTwin(module, rank)
    else:
        # Share every tensor with the text module (the memo stops deepcopy from copying them), then
        # swap its linear layers for low-rank twins; what is left shared (norm weights) is copied.
        twin = copy.deepcopy(module, memo={id(p): p for p in module.parameters()})
        for name, child in list(twin.named_modules()):
            if isinstance(child, nn.Linear) and name:
                parent = twin.get_submodule(name.rsplit(".", 1)[0]) if "." in name else twin
                setattr(parent, name.rsplit(".", 1)[-1], LowRankTwin(child, rank))
        shared = {id(p) for p in module.parameters()}
        for sub in twin.modules():
            if isinstance(sub, LowRankTwin):
                continue
            for pname, p in list(sub.named_parameters(recurse=False)):
                if id(p) in shared:
                    setattr(sub, pname, nn.Parameter(p.detach().clone()))
    for p in twin.parameters():
        p.requires_grad_(True)
    return twin


class MixtureOfTransformers(nn.Module):
    """Wraps a causal LM in place. Call forward(..., motion_mask=(B, L) bool) or set the mask
    with `with mot.modality(mask):` around any call of the wrapped model (generation included)."""

    def __init__(self, llm: nn.Module, rank: int = 0):
        super().__init__()
        self.llm = llm
        for p in llm.parameters():
            p.requires_grad_(False)
        model_type = getattr(llm.config, "model_type", "")
        self.heads_first = model_type in HEADS_FIRST_MODELS
        self.motion = nn.ModuleDict()
        self._mask: torch.Tensor | None = None
        self._routed: list[nn.Module] = []
        decoder = decoder_of(llm)
        targets = [(f"layers.{i}.{name}", _get(layer, name))
                   for i, layer in enumerate(decoder.layers) for name in LAYER_MODULES]
        targets.append(("norm", getattr(decoder, "norm", None)))
        for path, module in targets:
            if module is None:
                continue
            twin = _motion_twin(module, rank)
            key = path.replace(".", "__")
            self.motion[key] = twin
            heads = path.endswith(("q_norm", "k_norm"))
            # An instance attribute shadows the class's forward; deleting it restores the module.
            module.forward = self._router(module, twin, heads)
            self._routed.append(module)

    def _router(self, module: nn.Module, twin: nn.Module, heads: bool):
        text_forward = type(module).forward.__get__(module)

        def forward(*args, **kwargs):
            mask = self._mask
            if mask is None or not bool(mask.any()):
                return text_forward(*args, **kwargs)  # text only: the base model untouched
            if bool(mask.all()):
                return twin(*args, **kwargs)
            if len(args) == 1 and not kwargs:
                return self._split(args[0], mask, heads, text_forward, twin)
            text_out, motion_out = text_forward(*args, **kwargs), twin(*args, **kwargs)
            return torch.where(self._expand(mask, heads, text_out.ndim), motion_out, text_out)
        return forward

    def _expand(self, mask: torch.Tensor, heads: bool, ndim: int) -> torch.Tensor:
        if heads:
            return mask[:, None, :, None] if self.heads_first else mask[:, :, None, None]
        return mask.reshape(*mask.shape, *([1] * (ndim - mask.ndim)))

    def _split(self, x: torch.Tensor, mask: torch.Tensor, heads: bool, text_forward, twin) -> torch.Tensor:
        """Run each position through one weight set only: gather text and motion positions, run
        each module on its own rows, scatter back (half the work of running both everywhere)."""
        moved = heads and self.heads_first
        if moved:
            x = x.transpose(1, 2)  # (B, heads, L, d) -> (B, L, heads, d): positions first
        flat = mask.reshape(-1)
        rows = x.reshape(flat.shape[0], *x.shape[2:])
        text_out, motion_out = text_forward(rows[~flat]), twin(rows[flat])
        out = text_out.new_empty((flat.shape[0], *text_out.shape[1:]))
        out[~flat] = text_out
        out[flat] = motion_out.to(text_out.dtype)
        out = out.reshape(*x.shape[:2], *text_out.shape[1:])
        return out.transpose(1, 2) if moved else out

    class _Modality:
        def __init__(self, owner, mask):
            self.owner, self.mask = owner, mask

        def __enter__(self):
            self.previous, self.owner._mask = self.owner._mask, self.mask
            return self.owner

        def __exit__(self, *exc):
            self.owner._mask = self.previous

    def modality(self, motion_mask: torch.Tensor | None):
        """Context in which the wrapped model routes positions where motion_mask is True to the
        motion weights. The mask covers the positions of this call only (with a KV cache, the new ones)."""
        return self._Modality(self, None if motion_mask is None else motion_mask.bool())

    def forward(self, *args, motion_mask: torch.Tensor | None = None, **kwargs):
        with self.modality(motion_mask):
            return self.llm(*args, **kwargs)

    def motion_state_dict(self) -> dict[str, torch.Tensor]:
        """Only the motion copies: the text weights are rebuilt from the base model's name."""
        return {f"mot.{k}": v for k, v in self.motion.state_dict().items()}

    def load_motion_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        self.motion.load_state_dict({k[len("mot."):]: v for k, v in state.items() if k.startswith("mot.")})

    def remove(self) -> nn.Module:
        """Undo the routing and hand back the plain base model."""
        for module in self._routed:
            del module.forward
        self._routed.clear()
        return self.llm
