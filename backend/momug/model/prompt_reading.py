"""Questions the frozen base model answers about a prompt, as a condition for the motion.

A prompt's own hidden states are a poor guide to what it asks for: the mean states of Gemma 3
270M put "someone applauds" or "someone runs flat out" nearest corpus captions of other actions
and speeds (docs/training.md, "Two quick checks"). Asked a question in a few-shot template,
the same frozen model answers many of them: "someone applauds" -> " clap", "someone makes an
enormous leap upward" -> " jump", "a tired man plods ahead" -> " slow" (docs/training.md, "The
prompt read through questions", where parts 20 and 21 also found that the motions did not follow).
So the model can read each prompt through a handful of such templates (MoMugConfig.prompt_questions,
each with one "{prompt}"), takes the final hidden state at the answer position of each (what the
output layer turns into the answer's distribution), and the motion positions receive those states
through one learned projection (MoMugModel.reading_proj). The base model runs with its adapter
off, so a reading depends on the words alone and is computed once per distinct prompt.

Prompts are spliced in as token ids (the template's text before and after "{prompt}" tokenised
on their own), so training rows, which carry token ids, and typed prompts read the same way.
"""

from __future__ import annotations

import copy

import torch

from momug.errors import MomugError
from momug.model.config import PROMPT_PLACEHOLDER, check_questions

# The questions the recipe runs ask (configs/motion_scope_stage20.toml). Their examples use none
# of the held-out probe phrases (momug.eval.probes.HELD_OUT_PHRASES; a test holds that): the
# probes measure whether the base model's own knowledge carries over, not a taught paraphrase.
MOTION_QUESTIONS = (
    "Sentence: the boy bounces up and down on the trampoline. Action: jump\n"
    "Sentence: she pats her palms together. Action: clap\n"
    "Sentence: the man strides down the hallway. Action: walk\n"
    "Sentence: he punts the football. Action: kick\n"
    "Sentence: {prompt} Action:",
    "Sentence: she saunters to the mailbox. Pace: slow\n"
    "Sentence: the racer dashes for the finish line. Pace: fast\n"
    "Sentence: he walks to the store. Pace: normal\n"
    "Sentence: the girl creeps along the wall. Pace: slow\n"
    "Sentence: {prompt} Pace:",
)

# Answer words for MoMugConfig.prompt_answers = "motion": one-token words for the corpus' kinds of
# action (momug.data.synth.actions) and the three paces the questions' examples use.
MOTION_ANSWERS = ("walk", "jog", "run", "jump", "hop", "kick", "clap", "wave", "raise", "turn", "spin", "squat",
                  "sit", "stand", "punch", "throw", "stretch", "bow", "balance", "point", "march", "skip",
                  "sneak", "limp", "step", "slow", "normal", "fast")


class PromptReader:
    """The frozen base model's answer states (or, given answer words, its answer distributions over
    them) for prompts given as token ids, cached per prompt.

    Cached on the CPU in float16 (a few kB per prompt); the cache is cleared when full, which a
    training corpus of tens of thousands of distinct captions stays under."""

    def __init__(self, questions: list[str], tokenizer, bos: list[int], max_cached: int = 200_000,
                 answers: list[str] = ()):
        self.questions = check_questions(questions)
        self.bos = list(bos)
        # Each answer word's token (with its leading space): a reading is then the distribution over them.
        self.answer_ids = []
        for word in answers:
            ids = tokenizer(" " + word, add_special_tokens=False)["input_ids"]
            if len(ids) != 1:
                raise MomugError(f"prompt answer {word!r} is {len(ids)} tokens for this model; use one-token words")
            self.answer_ids.append(ids[0])
        self.parts = []
        for q in self.questions:
            before, after = q.split(PROMPT_PLACEHOLDER)
            self.parts.append((tokenizer(before, add_special_tokens=False)["input_ids"],
                               tokenizer(after, add_special_tokens=False)["input_ids"]))
        self.max_cached = max_cached
        self._cache: dict[tuple[int, ...], torch.Tensor] = {}
        self._heads: dict = {}  # (template head ids, device) -> its key/value cache

    def clear(self) -> None:
        self._cache.clear()
        self._heads.clear()

    def width(self, hidden: int) -> int:
        """Numbers per prompt: each question's answer state, or its distribution over the answers."""
        return len(self.questions) * (len(self.answer_ids) or hidden)

    @torch.no_grad()
    def read(self, backbone, prompts: list[list[int]], device, output_embeddings=None) -> torch.Tensor:
        """(B, width) float32 readings of each prompt (token ids, no bos), computed by `backbone`
        (the base model's body, adapter off: the caller's job): each question's answer state, or,
        with answer words, the softmax of the output layer's logits (output_embeddings, the
        tied (vocab, H) table) over them."""
        keys = [tuple(p) for p in prompts]
        missing = list(dict.fromkeys(k for k in keys if k not in self._cache))
        if missing:
            if len(self._cache) + len(missing) > self.max_cached:
                self._cache.clear()
            states = [self._answer_states(backbone, [list(k) for k in missing], before, after, device)
                      for before, after in self.parts]
            if self.answer_ids:
                rows = output_embeddings[torch.tensor(self.answer_ids, device=device)].float()
                states = [(s @ rows.T).softmax(dim=-1) for s in states]
            for k, row in zip(missing, torch.cat(states, dim=1)):
                self._cache[k] = row.to("cpu", torch.float16)
        return torch.stack([self._cache[k] for k in keys]).float().to(device)

    def _answer_states(self, backbone, prompts: list[list[int]], before: list[int], after: list[int],
                       device) -> torch.Tensor:
        """The template's few-shot text before the prompt is the same for every prompt (most of its
        tokens): its keys and values are computed once and each batch continues from a copy."""
        head = self.bos + before
        key = (tuple(head), str(device))
        if key not in self._heads:
            self._heads[key] = backbone(input_ids=torch.tensor([head], device=device), use_cache=True).past_key_values
        cache = copy.deepcopy(self._heads[key])
        cache.batch_repeat_interleave(len(prompts))
        rows = [p + after for p in prompts]
        width = max(len(r) for r in rows)
        ids = torch.zeros(len(rows), width, dtype=torch.long)
        mask = torch.ones(len(rows), len(head) + width, dtype=torch.long)
        for b, r in enumerate(rows):  # right-padded; the answer position is each row's last token
            ids[b, :len(r)] = torch.tensor(r)
            mask[b, len(head) + len(r):] = 0
        positions = torch.arange(len(head), len(head) + width).expand(len(rows), -1)
        out = backbone(input_ids=ids.to(device), attention_mask=mask.to(device), position_ids=positions.to(device),
                       past_key_values=cache)
        last = torch.tensor([len(r) - 1 for r in rows], device=device)
        return out.last_hidden_state[torch.arange(len(rows), device=device), last].float()
