"""Where the LoRA adapter acts: at every position ("all") or at motion positions only ("motion").

peft's LoRA layer computes base(x) + lora_B(lora_A(dropout(x))) * scaling. With the "motion" scope
a forward hook on every lora_B multiplies its output by a per-position mask (1 = motion side,
0 = text) set for the duration of one LLM call, so text positions go through the frozen base
weights exactly (LLaMo's modality-specific weights) while motion positions get the adapted ones.
Text never sees the adapter, and with causal attention neither does anything a text position
reads before the motion starts: the base model's language is kept by construction. It also
means a prompt's keys and values never depend on the adapter: training computes them once per
step without autograd and backpropagates through the motion side only
(MoMugModel._prompt_cached_states).
"""

from __future__ import annotations

import contextlib

import torch

class AdapterScope:
    """The hooks of one model and the mask of the call in progress.

    Outside a `positions` block every position counts as text (no adapter): a caller that feeds
    plain token ids straight to the LLM (perplexity, say) gets the base model, which is what such
    text gets in every MoMug call too."""

    def __init__(self, peft_model):
        from peft.tuners.lora import LoraLayer

        self._mask: torch.Tensor | None = None
        self.handles = []
        for module in peft_model.modules():
            if isinstance(module, LoraLayer):
                for lora_b in module.lora_B.values():
                    self.handles.append(lora_b.register_forward_hook(self._hook))
        if not self.handles:
            raise ValueError("adapter_scope='motion' found no LoRA layers to scope")

    @contextlib.contextmanager
    def positions(self, adapted: torch.Tensor):
        """adapted: (B, L) bool, True where the adapter acts, for the tokens this call feeds."""
        previous, self._mask = self._mask, adapted
        try:
            yield
        finally:
            self._mask = previous

    def _hook(self, module, args, output):
        mask = self._mask
        if mask is None:
            return torch.zeros_like(output)
        if tuple(mask.shape) != tuple(output.shape[:2]):
            raise RuntimeError(f"adapter scope mask {tuple(mask.shape)} does not match the tokens fed "
                               f"{tuple(output.shape[:2])}")
        return output * mask[..., None].to(device=output.device, dtype=output.dtype)
