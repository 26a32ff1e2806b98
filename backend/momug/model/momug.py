"""MoMugModel: one pretrained causal LLM (LoRA-tuned) that denoises motion and writes captions.

Sequences (see momug.model.sequence):
    text-to-motion  <bos> prompt <som> <timestep:t> [motion tokens at noise level t]
    motion-to-text  <bos> <som> [clean motion tokens, t=0] <eom> <caption> words <eos>
    general text    <bos> words   (replayed so the LoRA adapter keeps the base model's language)
With config.adapter_scope "motion" the adapter acts only at motion and special-token positions
(momug.model.adapter_scope): text goes through the frozen base weights.
A motion token is `frames_per_token` normalised feature frames, projected into the LLM's
embedding space and tagged with the timestep embedding; the last hidden states at motion
positions go through an output head that predicts the diffusion target. Captions come out of the
LLM's own head by next-token prediction. Special tokens live in their own small embedding table
(the base vocabulary and its 168M-parameter embedding stay frozen and untouched).
"""

from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from momug.errors import Cancelled
from momug.model import sequence as seq
from momug.model.adapter_scope import AdapterScope
from momug.model.base_llm import lm_logits
from momug.model.config import SPECIAL_TOKENS, MoMugConfig
from momug.model.diffusion import NoiseSchedule, ddim_step, ddim_timesteps
from momug.model.prompt_reading import PromptReader


def check_stop(should_stop, what: str) -> None:
    """Raise Cancelled when the caller's should_stop() says so (checked between model calls)."""
    if should_stop is not None and should_stop():
        raise Cancelled(f"{what} cancelled")


# HumanML3D-format features start with the root: yaw velocity, x/z velocity, height. They are 4 of
# 263 numbers, so the plain loss barely notices a motion that stays in place when it should travel.
ROOT_FEATURES = 4


@dataclass
class LossSettings:
    """Weights of the training losses, and how the general-text loss is taken."""
    lm: float = 1.0         # caption next-token loss
    diffusion: float = 1.0
    text: float = 1.0       # general-text next-token loss (language kept)
    root: float = 1.0       # extra weight of the root features inside the diffusion loss
    # General text: "kl" matches the base model's next-token distribution (adapter disabled) at
    # every position, which a finite text cannot be memorised against; "ce" is plain next-token
    # cross-entropy on the text (what stage 3 of the default used; it overfits a small text).
    text_target: str = "kl"


def timestep_features(t: torch.Tensor, dim: int) -> torch.Tensor:
    """Sinusoidal features of integer timesteps, (N,) -> (N, dim)."""
    half = dim // 2
    freqs = torch.exp(-math.log(10000.0) * torch.arange(half, dtype=torch.float32) / half)
    angles = t.float()[:, None] * freqs[None, :]
    return torch.cat([torch.sin(angles), torch.cos(angles)], dim=-1)


class MoMugModel(nn.Module):
    def __init__(self, config: MoMugConfig, llm, tokenizer, mean=None, std=None):
        super().__init__()
        from peft import LoraConfig, get_peft_model

        config.validate()
        self.config = config
        self.tokenizer = tokenizer
        llm.requires_grad_(False)
        lora = LoraConfig(r=config.lora_rank, lora_alpha=config.lora_alpha,
                          lora_dropout=config.lora_dropout, target_modules=list(config.lora_targets),
                          bias="none")
        self.llm = get_peft_model(llm, lora)
        self.scope_hooks = AdapterScope(self.llm) if config.adapter_scope == "motion" else None
        hidden = llm.config.hidden_size
        self.special_index = {name: i for i, name in enumerate(SPECIAL_TOKENS)}
        self.special = nn.Parameter(torch.randn(len(SPECIAL_TOKENS), hidden) / math.sqrt(2))
        self.motion_in = nn.Linear(config.token_dim, hidden)
        self.timestep_mlp = nn.Sequential(nn.Linear(config.timestep_dim, hidden), nn.SiLU(),
                                          nn.Linear(hidden, hidden))
        self.motion_out = nn.Sequential(nn.LayerNorm(hidden), nn.Linear(hidden, hidden), nn.SiLU(),
                                        nn.Linear(hidden, config.token_dim))
        if config.prompt_summary:
            self.prompt_proj = nn.Linear(hidden, hidden)
            nn.init.zeros_(self.prompt_proj.weight)  # starts as a no-op; training opens the path
            nn.init.zeros_(self.prompt_proj.bias)
        self.reader = None
        if config.prompt_questions:
            self.reader = PromptReader(config.prompt_questions, tokenizer, self.bos, answers=config.prompt_answers)
            self.reading_proj = nn.Linear(self.reader.width(hidden), hidden)
            nn.init.zeros_(self.reading_proj.weight)  # starts as a no-op, like prompt_proj
            nn.init.zeros_(self.reading_proj.bias)
        D = config.feature_dim
        self.register_buffer("mean", torch.zeros(D) if mean is None else torch.as_tensor(mean, dtype=torch.float32))
        self.register_buffer("std", torch.ones(D) if std is None else torch.as_tensor(std, dtype=torch.float32))
        # Token ids captions may use (empty: the whole vocabulary); see set_caption_vocabulary.
        self.register_buffer("caption_vocab", torch.zeros(0, dtype=torch.long))
        self.schedule = NoiseSchedule(config.noise_schedule, config.num_train_timesteps, config.prediction_type,
                                      config.noise_shift)

    # ----------------------------------------------------------------- plumbing
    @property
    def lm(self):
        """The base causal LM (with LoRA layers injected)."""
        return self.llm.get_base_model()

    @property
    def backbone(self):
        lm = self.lm
        return getattr(lm, lm.base_model_prefix)

    @property
    def device(self) -> torch.device:
        return self.special.device

    def trainable_state_dict(self) -> dict[str, torch.Tensor]:
        """The parameters MoMug adds or changes (what a checkpoint stores)."""
        from peft import get_peft_model_state_dict

        state = {f"lora.{k}": v for k, v in get_peft_model_state_dict(self.llm).items()}
        for name, tensor in self.state_dict().items():
            if not name.startswith("llm."):
                state[name] = tensor
        return {k: v.detach().contiguous() for k, v in state.items()}

    def load_trainable_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        from peft import set_peft_model_state_dict

        lora = {k[len("lora."):]: v for k, v in state.items() if k.startswith("lora.")}
        own = {k: v for k, v in state.items() if not k.startswith("lora.")}
        # Optional and of any length (checkpoints written before it have none: full vocabulary).
        self.caption_vocab = own.pop("caption_vocab", self.caption_vocab.new_zeros(0)).long().to(self.caption_vocab.device)
        missing = set(self.trainable_state_dict()) - set(state) - {"caption_vocab"}
        if missing:
            raise KeyError(f"missing tensors: {sorted(missing)[:5]}")
        result = self.load_state_dict(own, strict=False)
        unexpected = [k for k in result.unexpected_keys]
        if unexpected:
            raise KeyError(f"unexpected tensors: {unexpected[:5]}")
        set_peft_model_state_dict(self.llm, lora)

    def normalize(self, features: torch.Tensor) -> torch.Tensor:
        return (features - self.mean) / self.std

    def denormalize(self, features: torch.Tensor) -> torch.Tensor:
        return features * self.std + self.mean

    def to_tokens(self, frames: torch.Tensor) -> torch.Tensor:
        """(N_frames, D) -> (ceil(N/fpt), fpt*D), zero-padding the last token."""
        fpt = self.config.frames_per_token
        n_tok = -(-frames.shape[0] // fpt)
        padded = frames.new_zeros(n_tok * fpt, frames.shape[1])
        padded[: frames.shape[0]] = frames
        return padded.reshape(n_tok, fpt * frames.shape[1])

    def from_tokens(self, tokens: torch.Tensor, n_frames: int) -> torch.Tensor:
        return tokens.reshape(-1, self.config.feature_dim)[:n_frames]

    def text_ids(self, text: str) -> list[int]:
        ids = self.tokenizer(text, add_special_tokens=False)["input_ids"]
        return list(ids[: self.config.max_text_tokens])

    @property
    def bos(self) -> list[int]:
        bos = self.tokenizer.bos_token_id
        return [] if bos is None else [bos]

    def readings(self, prompts: list[list[int] | None]) -> torch.Tensor | None:
        """(B, H) what each row's motion positions add for its prompt's answers
        (momug.model.prompt_reading): prompts[b] is row b's prompt as token ids ([] for the empty
        prompt of guidance and prompt dropout: no answers, the projection's bias alone) or None
        (a row without motion to condition: nothing). None when the model asks no questions."""
        if self.reader is None:
            return None
        proj = self.reading_proj
        answers = torch.zeros(len(prompts), proj.in_features, device=self.device)
        asked = [b for b, p in enumerate(prompts) if p]
        if asked:
            with self.llm.disable_adapter():  # the words alone decide the answers
                answers[asked] = self.reader.read(self.backbone, [prompts[b] for b in asked], self.device,
                                                  self.lm.get_output_embeddings().weight)
        out = proj(answers.to(proj.weight.dtype))
        none = torch.tensor([p is None for p in prompts], device=self.device)
        return out.masked_fill(none[:, None], 0.0)

    def embed(self, layout: seq.Layout, readings: torch.Tensor | None = None) -> torch.Tensor:
        """Input embeddings for a layout: text from the frozen table, the rest from MoMug's own.
        readings (B, H), when given, are added at each row's <timestep> and motion positions."""
        dev = self.device
        kind = layout.kind.to(dev)
        token = layout.token.to(dev)
        table = self.lm.get_input_embeddings()
        emb = table(torch.where(kind == seq.KIND_TEXT, token, torch.zeros_like(token)))
        rms = self.config.embed_rms
        t_emb = self.timestep_mlp(timestep_features(layout.timestep.reshape(-1).to(dev), self.config.timestep_dim))
        t_emb = t_emb.view(*kind.shape, -1)
        special = self.special[token.clamp(max=len(SPECIAL_TOKENS) - 1)]
        is_timestep = (kind == seq.KIND_SPECIAL) & (token == self.special_index["timestep"])
        if readings is not None:
            t_emb = t_emb + readings[:, None, :].to(t_emb.dtype)  # t_emb reaches exactly those positions
        special = special + t_emb * is_timestep[..., None]
        emb = torch.where((kind == seq.KIND_SPECIAL)[..., None], rms * special, emb)
        if layout.motion:
            frames = torch.cat([f for _, _, f in layout.motion]).to(dev, emb.dtype)
            projected = self.motion_in(frames)
            rows, cols = self._motion_index(layout)
            motion_emb = torch.zeros_like(emb)
            motion_emb[rows, cols] = projected.to(emb.dtype)
            is_motion = (kind == seq.KIND_MOTION)[..., None]
            emb = torch.where(is_motion, rms * (motion_emb + t_emb), emb)
        return emb

    @staticmethod
    def _motion_index(layout: seq.Layout):
        rows, cols = [], []
        for b, start, frames in layout.motion:
            n = frames.shape[0]
            rows.append(torch.full((n,), b, dtype=torch.long))
            cols.append(torch.arange(start, start + n))
        return torch.cat(rows), torch.cat(cols)

    def _scoped(self, kind: torch.Tensor):
        """Context for one LLM call feeding tokens of these kinds (B, L): with the "motion" adapter
        scope, the adapter acts only where they are motion-side (the cached prefix keeps the keys
        and values its own call made)."""
        if self.scope_hooks is None:
            return contextlib.nullcontext()
        return self.scope_hooks.positions(seq.motion_side(kind).to(self.device))

    def run(self, layout: seq.Layout, context: seq.Layout | None = None, cache=None, use_cache=False,
            readings: torch.Tensor | None = None):
        """Run the LLM body over `layout`, optionally after a cached `context` layout (readings:
        see embed)."""
        full = layout if context is None else seq.concat(context, layout)
        ok = seq.allowed(full, self.config.motion_attention == "bidirectional")
        ok = ok[:, -layout.kind.shape[1]:, :]
        emb = self.embed(layout, readings)
        mask = seq.additive_mask(ok, emb.dtype).to(self.device)
        with self._scoped(layout.kind):
            out = self.backbone(inputs_embeds=emb, attention_mask=mask,
                                position_ids=layout.position.to(self.device),
                                past_key_values=cache, use_cache=use_cache)
        return out.last_hidden_state, out.past_key_values

    def motion_prediction(self, hidden: torch.Tensor, som_hidden: torch.Tensor) -> torch.Tensor:
        """Diffusion output for motion positions (N, H) given the <som> position's state (H,)."""
        if self.config.prompt_summary:
            hidden = hidden + self.prompt_proj(som_hidden)
        return self.motion_out(hidden)

    def logits(self, hidden: torch.Tensor) -> torch.Tensor:
        return lm_logits(self.lm, hidden)

    def set_caption_vocabulary(self, captions: list[str]) -> None:
        """Limit captioning to the tokens of these (training) captions plus end-of-text. The output
        layer then scores ~1k rows instead of the base model's whole vocabulary (262k for Gemma),
        which is most of the cost of each caption word on a CPU."""
        ids = {self.tokenizer.eos_token_id}
        for text in captions:
            ids.update(self.text_ids(text))
        self.caption_vocab = torch.tensor(sorted(ids), dtype=torch.long, device=self.caption_vocab.device)

    def caption_logits(self, hidden: torch.Tensor, full_vocabulary: bool = False):
        """(logits, ids): next-token logits over the caption vocabulary and the token id of each
        column (ids None: columns are token ids, the whole vocabulary)."""
        if full_vocabulary or self.caption_vocab.numel() == 0:
            return self.logits(hidden), None
        vocab = self.caption_vocab.to(hidden.device)
        return lm_logits(self.lm, hidden, rows=vocab), vocab.cpu()

    # ----------------------------------------------------------------- training
    def forward(self, items: list[dict], weights: LossSettings | None = None):
        # forward() is the training loss, so DDP/FSDP wrappers see (and sync) the right call.
        return self.training_loss(items, weights)

    def training_loss(self, items: list[dict], weights: LossSettings | None = None,
                      generator: torch.Generator | None = None,
                      cache_prompt: bool = True) -> dict[str, torch.Tensor]:
        """items: dicts with task "t2m" or "m2t", text_ids (list[int]; [] = unconditional; a t2m
        item's optional reading_ids: the prompt its question answers are about, when not text_ids),
        motion (N_tok, token_dim) normalised and frame_mask (N_tok, token_dim) bool; or task "text"
        with text_ids only: plain language modelling on general text (keeps the base's language).
        Losses: "lm" (captions), "diffusion", "text" (general text) and their weighted sum "loss".

        With adapter_scope "motion" a text-to-motion row's prompt (everything before <som>) gets
        exactly the frozen base model's keys and values, so by default (cache_prompt) it is run
        once without autograd or adapter and only the motion side runs with grad, reading the
        prompt from that cache (_prompt_cached_states): the same loss and gradients as running the
        whole rows in one graph (cache_prompt=False, the reference; "all" always does that)."""
        w = weights or LossSettings()
        prompts, rests, diff_items, lm_targets, text_targets = [], [], [], [], []
        for b, item in enumerate(items):
            prompt: list[int] | None = None  # the t2m prompt prefix (bos + words); None: no prefix
            if item["task"] == "text":
                ids = self.bos + item["text_ids"]
                rest = [seq.Text(ids)]
                text_targets.append((b, 0, ids[1:]))  # each token predicts the next
            elif item["task"] == "t2m":
                x0 = item["motion"]
                t = int(torch.randint(0, self.config.num_train_timesteps, (1,), generator=generator))
                noise = torch.randn(x0.shape, generator=generator)
                x_t = self.schedule.add_noise(x0[None], noise[None], torch.tensor([t]))[0]
                prompt = self.bos + item["text_ids"]
                rest = [seq.Special("som"), seq.Special("timestep", t), seq.Motion(x_t, t)]
                diff_items.append((b, x0, noise, t, item["frame_mask"]))
            else:
                x0 = item["motion"]
                ids = item["text_ids"] + [self.tokenizer.eos_token_id]
                prefix = len(self.bos) + 1 + x0.shape[0] + 1  # bos, som, motion, eom
                rest = [seq.Text(self.bos), seq.Special("som"), seq.Motion(x0, 0),
                        seq.Special("eom"), seq.Special("caption"), seq.Text(ids)]
                # <caption> predicts the first word, each word the next, the last word <eos>.
                lm_targets.append((b, prefix, ids))
            prompts.append(prompt)
            rests.append(rest)
        # A reading-only row (momug.train.loop.Collator) has no words in its prompt, only their answers.
        readings = self.readings([items[b].get("reading_ids", p[len(self.bos):]) if p is not None else None
                                  for b, p in enumerate(prompts)])
        states = None
        if cache_prompt and self.scope_hooks is not None:
            states = self._prompt_cached_states(prompts, rests, readings)
        if states is None:  # every row whole, in one graph
            layout = seq.pack([([seq.Text(p)] if p is not None else []) + r for p, r in zip(prompts, rests)],
                              self.special_index)
            hidden, _ = self.run(layout, readings=readings)
            motion_pos = {b: start for b, start, _ in layout.motion}
        else:  # t2m rows' hidden states start at <som>; the other rows' are whole
            hidden, motion_pos = states
        zero = hidden.new_zeros(())
        losses = {"lm": zero, "diffusion": zero, "text": zero}
        if diff_items:
            outs, targets, masks = [], [], []
            for b, x0, noise, t, fmask in diff_items:
                start = motion_pos[b]
                h = hidden[b, start:start + x0.shape[0]]
                outs.append(self.motion_prediction(h, hidden[b, start - 2]))  # <som>, <timestep>, motion
                targets.append(self.schedule.target(x0[None], noise[None], torch.tensor([t]))[0])
                masks.append(fmask)
            out = torch.cat(outs)
            target = torch.cat(targets).to(out)
            mask = torch.cat(masks).to(out) * self._feature_weights(w.root).to(out)
            losses["diffusion"] = ((out - target) ** 2 * mask).sum() / mask.sum().clamp(min=1e-6)
        if lm_targets:
            losses["lm"] = self._next_token_loss(hidden, lm_targets)
        if text_targets and w.text_target == "kl":
            texts = [rests[b][0].ids for b, _, _ in text_targets]
            losses["text"] = self._base_model_divergence(hidden, texts, text_targets)
        elif text_targets:
            losses["text"] = self._next_token_loss(hidden, text_targets)
        losses["loss"] = w.lm * losses["lm"] + w.diffusion * losses["diffusion"] + w.text * losses["text"]
        return losses

    def _prompt_cached_states(self, prompts: list[list[int] | None], rests: list[list],
                              readings: torch.Tensor | None = None):
        """The training forward with the t2m prompts cached (adapter_scope "motion" only).

        prompts[b]: row b's prompt token ids, before its first adapted position (<som>), or None;
        rests[b]: the segments after it. Each distinct prompt runs once, under no_grad with the
        adapter off (what the scope gives a text position: the base weights exactly), into a
        right-padded key/value cache; the t2m rows' motion sides then run with grad after it,
        row b's positions continuing from its own prompt length, its padded cache entries masked
        out (run(): the same causal/bidirectional mask as the whole row). The other rows (no
        prefix: captions, general text) run whole in a second call, which also keeps the narrow
        motion-side batch free of their longer padding.
        Returns (hidden (B, L, H), {t2m row: first motion column in hidden}), or None when there
        is nothing to cache (then the caller runs every row whole)."""
        cached = [b for b, p in enumerate(prompts) if p is not None]
        if not cached or not any(prompts[b] for b in cached):
            return None
        whole = [b for b, p in enumerate(prompts) if p is None]
        keys = [tuple(prompts[b]) for b in cached]
        distinct = list(dict.fromkeys(keys))  # prompt-dropout rows share <bos>; repeats share their prompt
        context = seq.pack([[seq.Text(list(k))] for k in distinct], self.special_index)
        with torch.no_grad(), self.llm.disable_adapter():
            _, cache = self.run(context, use_cache=True)
        width = context.kind.shape[1]
        if any(layer.keys.shape[-2] != width for layer in cache.layers):
            return None  # a sliding-window layer kept less than the prompt: no cache to continue from
        if len(distinct) < len(keys):
            pick = torch.tensor([distinct.index(k) for k in keys])
            cache.reorder_cache(pick.to(self.device))
            context = seq.Layout(context.kind[pick], context.token[pick], context.timestep[pick],
                                 context.block[pick], context.position[pick])
        suffix = seq.pack([rests[b] for b in cached], self.special_index, start_positions=context.lengths)

        def rows(which):
            return None if readings is None else readings[torch.tensor(which, device=readings.device)]

        parts = [self.run(suffix, context=context, cache=cache, readings=rows(cached))[0]]
        if whole:
            parts.append(self.run(seq.pack([rests[b] for b in whole], self.special_index), readings=rows(whole))[0])
        length = max(h.shape[1] for h in parts)
        hidden = torch.cat([F.pad(h, (0, 0, 0, length - h.shape[1])) for h in parts])
        order = torch.empty(len(prompts), dtype=torch.long)
        order[torch.tensor(cached + whole)] = torch.arange(len(prompts))
        hidden = hidden[order.to(hidden.device)]  # back to the batch's row order
        return hidden, {cached[i]: start for i, start, _ in suffix.motion}

    def _feature_weights(self, root: float) -> torch.Tensor:
        """Per-number weights of a motion token: `root` on each frame's first ROOT_FEATURES numbers."""
        frame = torch.ones(self.config.feature_dim)
        frame[:ROOT_FEATURES] = root
        return frame.repeat(self.config.frames_per_token)

    def _base_model_divergence(self, hidden: torch.Tensor, texts: list[list[int]],
                               targets: list[tuple[int, int, list[int]]]) -> torch.Tensor:
        """Mean KL(base || adapted) of the next-token distributions at the general-text positions;
        the base model is this model with the LoRA adapter disabled, on the text rows (texts: each
        row's token ids) alone."""
        text_layout = seq.pack([[seq.Text(list(ids))] for ids in texts], self.special_index)
        with torch.no_grad(), self.llm.disable_adapter():
            base_hidden, _ = self.run(text_layout)
        base_pos = [(i, p, ids) for i, (_, p, ids) in enumerate(targets)]
        student = self._logits_at(hidden, targets)
        teacher = self._logits_at(base_hidden, base_pos)
        return F.kl_div(F.log_softmax(student.float(), -1), F.log_softmax(teacher.float(), -1),
                        log_target=True, reduction="batchmean")

    def _logits_at(self, hidden: torch.Tensor, targets: list[tuple[int, int, list[int]]]) -> torch.Tensor:
        rows = torch.cat([torch.full((len(ids),), b) for b, _, ids in targets])
        cols = torch.cat([torch.arange(p, p + len(ids)) for _, p, ids in targets])
        return self.logits(hidden[rows.to(self.device), cols.to(self.device)])

    def _next_token_loss(self, hidden: torch.Tensor, targets: list[tuple[int, int, list[int]]]) -> torch.Tensor:
        """Cross-entropy of the LM head where row b's positions p, p+1, ... predict `ids`."""
        target = torch.tensor([i for _, _, ids in targets for i in ids], device=self.device)
        return F.cross_entropy(self._logits_at(hidden, targets).float(), target)

    # ----------------------------------------------------------------- text -> motion
    @torch.no_grad()
    def sample(self, prompts: list[str], n_frames: list[int], seeds: list[int], guidance: float | None = None,
               steps: int = 20, eta: float = 0.0, use_cache: bool = True, progress=None,
               should_stop=None, guides=None) -> list[torch.Tensor]:
        """Generate normalised feature frames (n_frames[i], D) for each prompt by DDIM with
        classifier-free guidance. The text prefix's keys/values are computed once and reused at
        every step (use_cache=False recomputes them, for benchmarks). guides[i], when given, maps
        the predicted clean frames (n_frames[i], D) to the frames to continue from at every step
        (training-free conditioning, momug.constraints); the noise estimate follows it."""
        B = len(prompts)
        guidance = self.config.guidance if guidance is None else float(guidance)   # None: the model's own
        guided = guidance != 1.0
        prompt_ids = [self.text_ids(p) for p in prompts] + ([[] for _ in prompts] if guided else [])
        prefixes = [[seq.Text(self.bos + ids), seq.Special("som")] for ids in prompt_ids]
        readings = self.readings(prompt_ids)
        context = seq.pack(prefixes, self.special_index)
        cache = None
        # Each prefix ends with <som>; its state feeds the prompt path at every step.
        som = (torch.arange(context.kind.shape[0], device=self.device), (context.lengths - 1).to(self.device))
        cache = som_hidden = None
        if use_cache:
            context_hidden, cache = self.run(context, use_cache=True)
            som_hidden = context_hidden[som]
        n_tok = [-(-n // self.config.frames_per_token) for n in n_frames]
        x, generators = [], []
        for i in range(B):
            g = torch.Generator().manual_seed(int(seeds[i]))
            x.append(torch.randn(n_tok[i], self.config.token_dim, generator=g))
            generators.append(g)  # eta > 0 draws each step's noise from it: a seed repeats its motion
        times = ddim_timesteps(self.config.num_train_timesteps, steps)
        starts = context.lengths
        prefix_len = context.kind.shape[1]
        for k, t in enumerate(times):
            check_stop(should_stop, "generation")
            rows = x + x if guided else x
            suffix = seq.pack([[seq.Special("timestep", t), seq.Motion(r.to(self.device), t)] for r in rows],
                              self.special_index, start_positions=starts)
            if use_cache:
                hidden, cache = self.run(suffix, context=context, cache=cache, use_cache=True, readings=readings)
                cache.crop(-suffix.kind.shape[1])  # drop this step's keys, keep the prefix
                hidden_suffix = hidden
            else:
                hidden, _ = self.run(seq.concat(context, suffix), readings=readings)
                hidden_suffix, som_hidden = hidden[:, prefix_len:], hidden[som]
            outs = [self.motion_prediction(hidden_suffix[b, 1:1 + rows[b].shape[0]], som_hidden[b]).float().cpu()
                    for b in range(len(rows))]
            t_prev = times[k + 1] if k + 1 < len(times) else None
            for i in range(B):
                out = outs[i]
                if guided:
                    out = outs[B + i] + guidance * (outs[i] - outs[B + i])
                x0, eps = self.schedule.split(out[None], x[i][None], torch.tensor([t]))
                if guides is not None and guides[i] is not None:
                    x0 = self._guided_x0(guides[i], x0[0], n_frames[i])[None]
                    # The noise the step keeps is the one that explains x_t with the guided x0.
                    ab = float(self.schedule.alpha_bar[t])
                    eps = (x[i][None] - math.sqrt(ab) * x0) / max(math.sqrt(1 - ab), 1e-8)
                x[i] = ddim_step(self.schedule, x0[0], eps[0], t, t_prev, eta, generators[i])
            if progress is not None:
                progress((k + 1) / len(times))
        return [self.from_tokens(x[i], n_frames[i]) for i in range(B)]

    def _guided_x0(self, guide, tokens: torch.Tensor, n_frames: int) -> torch.Tensor:
        """Apply a guide to one sample's predicted tokens (the padding frames stay as they are)."""
        frames = tokens.reshape(-1, self.config.feature_dim).clone()
        frames[:n_frames] = guide(frames[:n_frames]).to(frames)
        return frames.reshape(tokens.shape)

    # ----------------------------------------------------------------- motion -> text
    def _caption_prefix(self, motion: torch.Tensor) -> list:
        return [seq.Text(self.bos), seq.Special("som"), seq.Motion(self.to_tokens(motion).to(self.device), 0),
                seq.Special("eom"), seq.Special("caption")]

    def _step(self, tokens: torch.Tensor, positions: torch.Tensor, key_valid: torch.Tensor, cache):
        """Feed one new token per row; it sees every valid earlier key and itself."""
        mask = seq.additive_mask(key_valid[:, None, :], self.special.dtype).to(self.device)
        emb = self.lm.get_input_embeddings()(tokens[:, None].to(self.device))
        with self._scoped(torch.full((tokens.shape[0], 1), seq.KIND_TEXT)):  # caption words are text
            out = self.backbone(inputs_embeds=emb, attention_mask=mask,
                                position_ids=positions[:, None].to(self.device),
                                past_key_values=cache, use_cache=True)
        return out.last_hidden_state[:, -1], out.past_key_values

    @torch.no_grad()
    def describe(self, motions: list[torch.Tensor], max_new_tokens: int = 48, do_sample: bool = False,
                 temperature: float = 1.0, top_p: float = 0.9, seed: int = 0, num_beams: int = 1,
                 should_stop=None, use_cache: bool = True, full_vocabulary: bool = False) -> list[str]:
        """Caption normalised feature frames (N_i, D): greedy, beam search or nucleus sampling,
        over the caption vocabulary when the checkpoint has one (full_vocabulary=True: every token).
        use_cache=False recomputes the whole sequence for every word (a baseline for benchmarks)."""
        if num_beams > 1:
            return [self._beam_caption(m, num_beams, max_new_tokens, should_stop, full_vocabulary) for m in motions]
        B = len(motions)
        context = seq.pack([self._caption_prefix(m) for m in motions], self.special_index)
        hidden, cache = self.run(context, use_cache=True)
        lengths = context.lengths.to(self.device)
        last = hidden[torch.arange(B, device=self.device), lengths - 1]
        key_valid = context.valid.clone()
        eos = self.tokenizer.eos_token_id
        g = torch.Generator().manual_seed(seed)
        out_ids = [[] for _ in range(B)]
        generated: list[torch.Tensor] = []  # fed tokens, for the no-cache baseline
        done = torch.zeros(B, dtype=torch.bool)
        for step in range(max_new_tokens):
            check_stop(should_stop, "captioning")
            logits, vocab = self.caption_logits(last, full_vocabulary)
            logits = logits.float().cpu()
            if do_sample:
                probs = torch.softmax(logits / max(temperature, 1e-4), -1)
                sorted_p, order = probs.sort(-1, descending=True)
                keep = sorted_p.cumsum(-1) - sorted_p < top_p
                sorted_p = sorted_p * keep
                choice = torch.multinomial(sorted_p / sorted_p.sum(-1, keepdim=True), 1, generator=g)[:, 0]
                nxt = order.gather(1, choice[:, None])[:, 0]
            else:
                nxt = logits.argmax(-1)
            if vocab is not None:
                nxt = vocab[nxt]
            for b in range(B):
                if not done[b]:
                    if int(nxt[b]) == eos:
                        done[b] = True
                    else:
                        out_ids[b].append(int(nxt[b]))
            if bool(done.all()):
                break
            key_valid = torch.cat([key_valid, torch.ones(B, 1, dtype=torch.bool)], 1)
            if use_cache:
                last, cache = self._step(nxt, context.lengths + step, key_valid, cache)
            else:
                generated.append(nxt)
                last = self._recompute_last(context, torch.stack(generated, 1))
        return [self.tokenizer.decode(ids, skip_special_tokens=True).strip() for ids in out_ids]

    def _recompute_last(self, context: seq.Layout, words: torch.Tensor) -> torch.Tensor:
        """Hidden state of the last fed word, computed from scratch (no cache)."""
        B, n = words.shape
        tail = seq.pack([[seq.Text(words[b].tolist())] for b in range(B)], self.special_index,
                        start_positions=context.lengths)
        hidden, _ = self.run(seq.concat(context, tail))
        return hidden[:, -1]

    def _beam_caption(self, motion: torch.Tensor, k: int, max_new_tokens: int, should_stop,
                      full_vocabulary: bool = False) -> str:
        """Beam search for one motion, scores normalised by length."""
        context = seq.pack([self._caption_prefix(motion)], self.special_index)
        hidden, cache = self.run(context, use_cache=True)
        length = int(context.lengths[0])
        eos = self.tokenizer.eos_token_id
        def log_probs(h):
            logits, vocab = self.caption_logits(h, full_vocabulary)
            return torch.log_softmax(logits.float().cpu(), -1), vocab

        logp, vocab = log_probs(hidden[:, length - 1])  # (1, V)
        beams, scores = [[]], torch.zeros(1)
        finished: list[tuple[float, list[int]]] = []
        for step in range(max_new_tokens):
            check_stop(should_stop, "captioning")
            total = (scores[:, None] + logp).reshape(-1)
            best = total.topk(min(2 * k, total.numel()))
            keep_rows, keep_tokens, new_scores, new_beams = [], [], [], []
            for score, flat in zip(best.values.tolist(), best.indices.tolist()):
                row, tok = divmod(flat, logp.shape[-1])
                if vocab is not None:
                    tok = int(vocab[tok])
                if tok == eos:
                    finished.append((score / (len(beams[row]) + 1), beams[row]))
                else:
                    keep_rows.append(row)
                    keep_tokens.append(tok)
                    new_scores.append(score)
                    new_beams.append(beams[row] + [tok])
                if len(new_beams) == k:
                    break
            if len(finished) >= k or not new_beams:
                break
            if step == 0:
                cache.batch_repeat_interleave(len(new_beams))
            else:
                cache.reorder_cache(torch.tensor(keep_rows, device=self.device))
            beams, scores = new_beams, torch.tensor(new_scores)
            n = len(beams)
            key_valid = torch.cat([context.valid.expand(n, -1), torch.ones(n, step + 1, dtype=torch.bool)], 1)
            last, cache = self._step(torch.tensor(keep_tokens), torch.full((n,), length + step), key_valid, cache)
            logp, vocab = log_probs(last)
        finished += [(float(s) / max(len(b), 1), b) for s, b in zip(scores, beams)] if not finished else []
        ids = max(finished, key=lambda x: x[0])[1]
        return self.tokenizer.decode(ids, skip_special_tokens=True).strip()
