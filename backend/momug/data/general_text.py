"""General text for keeping the base LLM's language while LoRA learns motion.

Training on captions alone pulls the adapter towards caption language everywhere (the adapted
model's perplexity on ordinary English rose ~1000x). The cure used here is replay: the base model
writes samples of its own ordinary text from varied openings, and training adds a loss on them:
by default the KL divergence from the base model's own next-token distribution at every position
(text_target = "kl"), or plain next-token cross-entropy ("ce"). The text is the base model's, so
no outside corpus (and no licence question) is needed. The file is JSON lines {"text": ...}; any
such file of the user's own text works too.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import torch

from momug.errors import MomugError

# Varied openings (written for this project) so the samples cover many registers of English.
OPENINGS = [
    "The recipe calls for", "When the train finally arrived,", "Our quarterly report shows",
    "Dear Maria, thank you for", "The museum's new wing", "Scientists studying the ocean floor",
    "In the first chapter of the novel,", "To install the software, first", "The history of the bicycle",
    "My grandmother always said", "The city council voted on Tuesday", "Photosynthesis is the process",
    "After the storm had passed,", "The best way to learn a language", "Customer reviews of the blender",
    "The mountain path was steep", "Here are three tips for", "The orchestra began to play",
    "Volcanoes form when", "The detective looked at the letter", "On a quiet Sunday morning,",
    "The company announced that", "Learning to cook rice properly", "The old lighthouse keeper",
    "Many people believe that sleep", "The football match ended", "In mathematics, a prime number",
    "The children built a treehouse", "According to the weather forecast,", "The library will be closed",
    "She opened the envelope and", "Electric cars are becoming", "The ancient Romans built",
    "A good night's sleep helps", "The garden was full of", "He had never seen the sea before",
    "The instructions for assembling the desk", "Coffee was first grown", "The teacher asked the class",
    "Birds migrate south because",
]


def write_general_text(out: str | Path, base_model: str, per_opening: int = 8, max_new_tokens: int = 112,
                       seed: int = 0, progress: bool = True) -> dict:
    """Sample `per_opening` continuations of every opening from the base model (temperature 1,
    top-50 tokens) and write them as JSON lines. Returns a summary."""
    from tqdm.auto import tqdm

    from momug.model.base_llm import load_base_llm

    if per_opening < 1 or max_new_tokens < 8:
        raise MomugError("need at least 1 sample per opening and 8 new tokens")
    out = Path(out)
    llm, tokenizer = load_base_llm(base_model)
    llm.eval()
    torch.manual_seed(seed)
    texts = []
    for opening in tqdm(OPENINGS, desc="general text", disable=not progress):
        rows = sample_continuations(llm, tokenizer, opening, per_opening, max_new_tokens)
        texts += [t for t in (tokenizer.decode(r, skip_special_tokens=True).strip() for r in rows) if t]
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        for text in texts:
            f.write(json.dumps({"text": text}) + "\n")
    tmp.replace(out)
    return {"out": str(out), "count": len(texts), "base_model": base_model}


@torch.no_grad()
def sample_continuations(llm, tokenizer, opening: str, n: int, max_new_tokens: int, top_k: int = 50) -> list[list[int]]:
    """n samples of `opening` + up to max_new_tokens tokens (temperature 1, top-k), with a KV cache
    and the output layer applied to the last position only (the 262k-word head dominates)."""
    from momug.model.base_llm import lm_logits

    ids = tokenizer(opening)["input_ids"]
    rows = torch.tensor([ids] * n)
    out = llm.get_decoder()(input_ids=rows, use_cache=True)
    cache, last = out.past_key_values, out.last_hidden_state[:, -1]
    done = torch.zeros(n, dtype=torch.bool)
    for step in range(max_new_tokens):
        logits = lm_logits(llm, last).float()
        top = logits.topk(top_k, dim=-1)
        pick = torch.multinomial(torch.softmax(top.values, -1), 1)
        nxt = top.indices.gather(1, pick)
        nxt[done] = tokenizer.pad_token_id
        rows = torch.cat([rows, nxt], 1)
        done |= nxt[:, 0] == tokenizer.eos_token_id
        if bool(done.all()):
            break
        out = llm.get_decoder()(input_ids=nxt, past_key_values=cache, use_cache=True)
        cache, last = out.past_key_values, out.last_hidden_state[:, -1]
    eos = tokenizer.eos_token_id
    return [row[:row.index(eos)] if eos in row else row for row in rows.tolist()]


def read_general_text(path: str | Path) -> list[str]:
    """The texts of a JSON-lines file ({"text": ...} per line), with a clear error if unusable."""
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise MomugError(f"cannot read general text {path}: {exc.strerror}") from None
    texts = []
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            text = json.loads(line)["text"]
        except (json.JSONDecodeError, KeyError, TypeError):
            raise MomugError(f"{path}:{n}: expected a JSON line with a \"text\" field") from None
        if isinstance(text, str) and text.strip():
            texts.append(text)
    if not texts:
        raise MomugError(f"{path} has no texts")
    return texts


class GeneralTextWindows:
    """Token windows of general text: tokenised once, then random crops of `tokens` ids."""

    def __init__(self, texts: list[str], tokenizer, tokens: int, seed: int):
        if tokens < 2:
            raise MomugError(f"text_tokens must be at least 2, got {tokens}")
        self.rows = [ids for ids in (tokenizer(t, add_special_tokens=False)["input_ids"] for t in texts)
                     if len(ids) >= 2]
        if not self.rows:
            raise MomugError("the general text has no usable rows")
        self.tokens = tokens
        self.rng = random.Random(seed)

    def sample(self) -> list[int]:
        ids = self.rng.choice(self.rows)
        start = self.rng.randrange(max(len(ids) - self.tokens, 0) + 1)
        return ids[start:start + self.tokens]
