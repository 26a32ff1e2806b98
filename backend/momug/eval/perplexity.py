"""Is the base LLM's language kept? Perplexity of the frozen base model on a general English text
(written for this project, nothing to do with motion), with and without what MoMug adds:
the diffusion mode's LoRA adapter (active vs. disabled through peft) and the streaming mode's
motion weights (MoT loaded vs. the plain model; text-only input never reaches them by design)."""

from __future__ import annotations

import math
from pathlib import Path

import torch

from momug.model.base_llm import lm_logits


def default_text() -> str:
    return (Path(__file__).parent / "texts" / "general_english.txt").read_text(encoding="utf-8")


@torch.no_grad()
def perplexity(llm, tokenizer, text: str, window: int = 256) -> dict:
    """Token perplexity over non-overlapping windows (each starting with bos, if the model has one)."""
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    bos = [tokenizer.bos_token_id] if tokenizer.bos_token_id is not None else []
    device = next(llm.parameters()).device
    total, count = 0.0, 0
    for start in range(0, len(ids), window):
        chunk = torch.tensor([bos + ids[start:start + window]], device=device)
        if chunk.shape[1] < 2:
            continue
        logits = lm_logits(llm, llm.get_decoder()(input_ids=chunk).last_hidden_state)[0, :-1].float()
        nll = torch.nn.functional.cross_entropy(logits, chunk[0, 1:], reduction="sum")
        total += float(nll)
        count += chunk.shape[1] - 1
    return {"perplexity": math.exp(total / count), "tokens": count}


def diffusion_rows(model, text: str) -> dict:
    """The diffusion checkpoint's LLM with its LoRA adapter active, then disabled. With
    adapter_scope "motion" plain text never passes the adapter, so the two rows agree by design."""
    with_adapter = perplexity(model.lm, model.tokenizer, text)
    with model.llm.disable_adapter():
        without = perplexity(model.lm, model.tokenizer, text)
    return {"base model": without, "with LoRA adapter": with_adapter}


def stream_rows(model, text: str) -> dict:
    """The streaming checkpoint's LLM with its motion weights loaded, against a separately loaded
    plain copy of the same base model."""
    from momug.model.base_llm import load_base_llm

    loaded = perplexity(model.mot.llm, model.tokenizer, text)
    plain, tokenizer = load_base_llm(model.config.base_model)
    without = perplexity(plain.to(model.device).eval(), tokenizer, text)
    return {"base model": without, "with motion weights": loaded}
