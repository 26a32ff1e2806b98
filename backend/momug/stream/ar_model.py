"""The autoregressive streaming model: text, then a begin-of-motion embedding, then one position
per VAE latent, all in the base LLM's sequence. The hidden state at each motion position conditions
the flow head that samples the next latent and the end head that says whether motion stops there.

    text -> motion:  [bos prompt ...] [BOM] [z_1] ... [z_N]
                      text weights     motion weights (MoT)
    targets:                           z_1   z_2  ...  -       (flow head)
    end:                               0     0    ...  1       (end head)

    motion -> text:  [bos] [BOM] [z_1] ... [z_N] [EOM] [caption ... eos]
                            motion weights             text weights (frozen): the base LM head
                                                       reads the caption off the motion keys/values

With plan_latent, BOM first predicts a plan: the mean of the motion's latents, a summary of the
whole motion sampled from the prompt alone, which every later latent then reads as input:

    [bos prompt ...] [BOM] [P] [z_1] ... [z_N]    BOM -> P (the plan), P -> z_1, z_1 -> z_2, ...

Training uses teacher forcing with a little Gaussian noise on the input latents, so the model
tolerates its own slightly-off samples at inference. Inference feeds one latent at a time through
the KV cache, so each new latent costs one single-position step of the LLM.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

import torch
from torch import nn
from torch.nn import functional as F

from momug.errors import MomugError
from momug.model.base_llm import lm_logits
from momug.model.checkpoint import measure_embed_rms
from momug.model.config import config_guidance
from momug.model.momug import check_stop
from momug.stream.flow_head import EndHead, FlowHead
from momug.stream.mot import MixtureOfTransformers, decoder_of


def attention_positions(attn: torch.Tensor) -> torch.Tensor:
    """Position ids of left-padded rows (attention mask (rows, L)): counted from each row's first
    real token, as the row would have them alone (padding gets 0; it is masked out anyway)."""
    return (attn.cumsum(1) - 1).clamp(min=0)


@dataclass
class StreamConfig:
    base_model: str = "gemma3-270m"
    latent_dim: int = 32
    latent_scale: float = 1.0   # latents are divided by this before the LLM and heads see them
    mot_rank: int = 16          # motion copies of linear layers: text weight + rank-r update (0: full copies)
    flow_width: int = 256
    flow_depth: int = 3
    flow_steps: int = 8
    latent_noise: float = 0.05  # std of the teacher-forcing noise on input latents
    context_dropout: float = 0.0  # training only: chance that an input latent is blanked (zeros), so
                                  # the history cannot always tell what comes next and the prompt has to
    end_weight: float = 1.0
    max_text_tokens: int = 64
    guidance: float = 1.0       # default classifier-free guidance scale (1: none; >1 needs a model trained
                                # with text dropout, [train] text_dropout)
    onset_guidance: float | None = None  # the scale for a motion's first onset_guidance_latents latents (and
    onset_guidance_latents: int = 1      # each sequence step's), None: guidance. The first latent decides a
                                # streamed motion's side; unguided, it changes which side wins rather than
                                # following the prompt's (docs/training.md), so no shipped model sets it
    prompt_summary: bool = False  # the heads also read BOM's hidden state (it has read the whole prompt)
                                  # at every latent, not only through attention (see head_input)
    length_conditioning: int = 0  # > 0: BOM and every input latent also carry how many latents are still
                                  # to come (counts above this are read as this), so the model knows the
                                  # motion's length as the diffusion mode's canvas does (0: off)
    length_dropout: float = 0.0   # training only: share of rows whose length is "unknown", so a stream
                                  # with no set end still reads right
    plan_latent: bool = False     # BOM first predicts the mean of the motion's latents (a plan made from
                                  # the prompt alone), fed back before z_1 so every later latent reads it
    kind: str = "stream"        # tells a stream checkpoint from a diffusion one
    version: int = 1

    @classmethod
    def from_dict(cls, data: dict) -> "StreamConfig":
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise MomugError(f"stream config has unknown keys {unknown}; was it written by a newer momug?")
        cfg = cls(**data)
        if cfg.kind != "stream":
            raise MomugError(f"not a streaming-model config (kind {cfg.kind!r})")
        if cfg.latent_dim < 1 or cfg.latent_scale <= 0 or cfg.flow_steps < 1 or cfg.mot_rank < 0:
            raise MomugError("stream config: latent_dim, latent_scale and flow_steps must be positive")
        if not 0.0 <= cfg.context_dropout < 1.0:
            raise MomugError(f"stream config: context_dropout must be in [0, 1), got {cfg.context_dropout}")
        if cfg.length_conditioning < 0 or not 0.0 <= cfg.length_dropout <= 1.0:
            raise MomugError("stream config: length_conditioning must be at least 0 and length_dropout in [0, 1], "
                             f"got {cfg.length_conditioning} and {cfg.length_dropout}")
        cfg.guidance = config_guidance(cfg.guidance, "stream config")
        if cfg.onset_guidance is not None:
            cfg.onset_guidance = config_guidance(cfg.onset_guidance, "stream config onset_guidance")
        if cfg.onset_guidance_latents < 0:
            raise MomugError(f"stream config: onset_guidance_latents must be at least 0, got "
                             f"{cfg.onset_guidance_latents}")
        return cfg

    def to_dict(self) -> dict:
        return asdict(self)


class StreamModel(nn.Module):
    def __init__(self, config: StreamConfig, llm, tokenizer):
        super().__init__()
        self.config, self.tokenizer = config, tokenizer
        self.mot = MixtureOfTransformers(llm, rank=config.mot_rank)
        self.decoder = decoder_of(llm)
        hidden = llm.config.hidden_size
        rms = measure_embed_rms(llm)  # BOM/EOM start at the scale of the text embeddings
        self.adapter = nn.Sequential(nn.Linear(config.latent_dim, hidden), nn.SiLU(), nn.Linear(hidden, hidden))
        self.bom = nn.Parameter(torch.randn(hidden) * rms)
        self.eom = nn.Parameter(torch.randn(hidden) * rms)
        self.flow = FlowHead(config.latent_dim, hidden, config.flow_width, config.flow_depth)
        self.end = EndHead(hidden)
        if config.prompt_summary:
            self.prompt_proj = nn.Linear(hidden, hidden)
            nn.init.zeros_(self.prompt_proj.weight)  # starts as a no-op; training opens the path
            nn.init.zeros_(self.prompt_proj.bias)
        if config.length_conditioning:
            # One row per count of latents still to come, 0..length_conditioning, and a last one for
            # "unknown"; zeros, so a model seeded from one without it starts out unchanged.
            self.remaining = nn.Embedding(config.length_conditioning + 2, hidden)
            nn.init.zeros_(self.remaining.weight)
        if config.plan_latent:
            # The plan goes in through the latent adapter (it is a latent, averaged) plus this marker,
            # zero at first, so a model seeded from one without a plan reads it as a latent.
            self.plan_marker = nn.Parameter(torch.zeros(hidden))

    @property
    def plan_slots(self) -> int:
        """Positions between BOM and z_1: 1 with a plan latent, else 0."""
        return int(self.config.plan_latent)

    @property
    def device(self) -> torch.device:
        return self.bom.device

    # ----- sequence building -----
    def text_ids(self, text: str) -> list[int]:
        """bos + the prompt's tokens (at most max_text_tokens)."""
        ids = list(self.tokenizer(text, add_special_tokens=False)["input_ids"])[: self.config.max_text_tokens]
        return self.bos + ids

    @property
    def bos(self) -> list[int]:
        bos = self.tokenizer.bos_token_id
        return [] if bos is None else [bos]

    @property
    def empty_text_ids(self) -> list[int]:
        """The "no prompt" input: what text dropout trains on and guidance's unconditional row reads
        (text_ids("") = bos alone)."""
        return self.text_ids("")

    def _embed_text(self, ids: list[int]) -> torch.Tensor:
        table = self.mot.llm.get_input_embeddings()
        return table(torch.tensor(ids, dtype=torch.long, device=self.device)).to(self.bom.dtype)

    def _length_in(self, total: int | None, first: int, count: int) -> torch.Tensor | float:
        """What is added to `count` motion inputs from position `first` on (0: BOM, i: latent z_i) of a
        motion of `total` latents (None: length unknown): the embedding of how many latents are still
        to come after each. 0 when the model has no length conditioning."""
        if not self.config.length_conditioning:
            return 0.0
        most = self.config.length_conditioning
        if total is None:
            index = torch.full((count,), most + 1, dtype=torch.long, device=self.device)
        else:
            index = (int(total) - torch.arange(first, first + count, device=self.device)).clamp(0, most)
        return self.remaining(index)

    def plan_in(self, plan: torch.Tensor, total: int | None, noise: float = 0.0, generator=None) -> torch.Tensor:
        """The input embedding (1, H) of a plan (latent_dim,), as sampled or as plan_of gives it: read
        as a latent (with the same teacher-forcing noise), marked, and carrying BOM's length count."""
        return self._latents_in(plan[None], noise, generator) + self.plan_marker + self._length_in(total, 0, 1)

    @staticmethod
    def plan_of(z: torch.Tensor, first: int = 0) -> torch.Tensor:
        """The plan a row is trained on: the mean of the latents its flow loss counts (from `first`)."""
        return z[first:].mean(0)

    def _latents_in(self, z: torch.Tensor, noise: float, generator, dropout: float = 0.0) -> torch.Tensor:
        z = z.to(self.device, self.bom.dtype) / self.config.latent_scale
        if noise > 0:
            z = z + noise * torch.randn(z.shape, generator=generator, dtype=z.dtype).to(z.device)
        if dropout > 0:
            # Latents are unit-scale, so zeros read as "the average latent": no hint of the next one.
            keep = torch.rand(z.shape[:-1], generator=generator) >= dropout
            z = z * keep[..., None].to(z.device, z.dtype)
        return self.adapter(z)

    def _pad(self, rows: list[tuple[torch.Tensor, torch.Tensor]], left: bool = False):
        """[(embeds (L, H), motion flags (L,))] -> padded embeds, attention mask, motion mask: padded on
        the right for training, on the left for sampling (every row's last position lines up, so
        one step appends to all; positions then come from attention_positions)."""
        L = max(len(e) for e, _ in rows)
        B, H = len(rows), rows[0][0].shape[-1]
        embeds = torch.zeros(B, L, H, device=self.device, dtype=rows[0][0].dtype)
        attn = torch.zeros(B, L, dtype=torch.long, device=self.device)
        motion = torch.zeros(B, L, dtype=torch.bool, device=self.device)
        for b, (e, m) in enumerate(rows):
            at = slice(L - len(e), L) if left else slice(0, len(e))
            embeds[b, at] = e
            attn[b, at] = 1
            motion[b, at] = m
        return embeds, attn, motion

    def build(self, texts: list[list[int]], latents: list[torch.Tensor], noise: float = 0.0, generator=None,
              dropout: float = 0.0, length_dropout: float = 0.0, targets_from: list[int] | None = None,
              plans: list[torch.Tensor] | None = None):
        """Text-to-motion rows: inputs_embeds, attention_mask, motion_mask, the index of BOM per item.
        noise and dropout (training) blur and blank input latents; targets stay clean; length_dropout
        (training) hides the motion's length from that share of rows. With a plan latent, each row's
        plan sits between BOM and z_1: plan_of the latents from its targets_from, or plans[b] where
        given (a sampled plan, or another row's, as a diagnostic swaps them)."""
        rows, bom_at = [], []
        for b, (ids, z) in enumerate(zip(texts, latents)):
            # The last latent is only a target: nothing is predicted from it but the end flag, so it
            # is still fed (its hidden state carries the end logit).
            hide = length_dropout > 0 and float(torch.rand((), generator=generator)) < length_dropout
            total = None if hide else len(z)
            bom = self.bom[None] + self._length_in(total, 0, 1)
            latents_in = self._latents_in(z, noise, generator, dropout) + self._length_in(total, 1, len(z))
            if self.config.plan_latent:
                plan = (plans[b] if plans is not None
                        else self.plan_of(z.to(self.device, self.bom.dtype), targets_from[b] if targets_from else 0))
                bom = torch.cat([bom, self.plan_in(plan, total, noise, generator)])
            e = torch.cat([self._embed_text(ids), bom, latents_in])
            m = torch.zeros(len(e), dtype=torch.bool, device=self.device)
            m[len(ids):] = True
            rows.append((e, m))
            bom_at.append(len(ids))
        return (*self._pad(rows), bom_at)

    def _caption_row(self, z: torch.Tensor, caption_ids: list[int], noise: float = 0.0, generator=None):
        motion = torch.cat([self._embed_text(self.bos), self.bom[None], self._latents_in(z, noise, generator),
                            self.eom[None]])
        m = torch.zeros(len(motion), dtype=torch.bool, device=self.device)
        m[len(self.bos):] = True
        if caption_ids:
            motion = torch.cat([motion, self._embed_text(caption_ids)])
            m = torch.cat([m, torch.zeros(len(caption_ids), dtype=torch.bool, device=self.device)])
        return motion, m

    def hidden(self, embeds, attn, motion, past=None, use_cache=False, position_ids=None):
        extra = {} if position_ids is None else {"position_ids": position_ids}
        with self.mot.modality(motion):
            out = self.decoder(inputs_embeds=embeds, attention_mask=attn, past_key_values=past, use_cache=use_cache,
                               **extra)
        return out.last_hidden_state, out.past_key_values

    @property
    def _head_modules(self) -> tuple[str, ...]:
        return (("adapter", "flow", "end") + (("prompt_proj",) if self.config.prompt_summary else ())
                + (("remaining",) if self.config.length_conditioning else ()))

    def row_conditions(self, h: torch.Tensor, bom_at: int, z: torch.Tensor, first: int = 0):
        """One text row's flow-head conditions and targets from its hidden states h (L, H): the states
        before each latent from `first` on predict it (scaled as the heads see latents), and with a
        plan latent BOM's state predicts the plan first. Also the states the end head reads (BOM to
        z_N, the plan's included), all of them head_input's."""
        n, k = len(z), self.plan_slots
        heads = self.head_input(h[bom_at:bom_at + n + 1 + k], h[bom_at])
        z = z.to(h.device, h.dtype) / self.config.latent_scale
        conds, targets = heads[k + first:k + n], z[first:]
        if k:
            conds, targets = torch.cat([heads[:1], conds]), torch.cat([self.plan_of(z, first)[None], targets])
        return conds, targets, heads

    def head_input(self, h: torch.Tensor, bom_h: torch.Tensor) -> torch.Tensor:
        """What the flow and end heads read at motion positions h (..., N, H) or (..., H): the position's
        hidden state, plus (prompt_summary) a projection of the BOM position's, bom_h (..., H). Deep
        in a motion the positions' states are mostly about the motion so far, so an autoregressive
        model drifts into continuing what it does; BOM's state is about the prompt alone and
        reaches every latent unchanged, as the diffusion mode's <som> summary does."""
        if not self.config.prompt_summary:
            return h
        summary = self.prompt_proj(bom_h)
        return h + (summary[..., None, :] if h.dim() > bom_h.dim() else summary)

    # ----- training -----
    def forward(self, *args, **kwargs):
        # forward() is the training loss, so DDP wrappers see (and sync) the right call.
        return self.training_loss(*args, **kwargs)

    def training_loss(self, texts: list[list[int]], latents: list[torch.Tensor], generator=None,
                      captions: list[list[int]] | None = None, caption_latents: list[torch.Tensor] | None = None,
                      lm_weight: float = 1.0, targets_from: list[int] | None = None,
                      onset: tuple[int, float] = (0, 1.0), swapped_texts: list[list[int] | None] | None = None,
                      side_contrast: tuple[int, float, float] = (0, 0.0, 0.0),
                      mismatched_texts: list[list[int] | None] | None = None,
                      prompt_contrast: tuple[int, int, float, float] = (0, 0, 0.0, 0.0),
                      guided_rows: list[bool] | None = None,
                      guided_onset: tuple[int, float, float] = (0, 0.0, 1.0)) -> dict:
        """Flow-matching loss on every next latent + binary cross-entropy of the end flag, and, for
        (caption_latents, captions) pairs, the caption's next-token loss (captions end with eos).
        targets_from: per text row, the first latent the flow loss counts (the ones before it are
        history only: a continuation row's earlier action); default 0. onset (k, w): the first k
        targets the flow loss counts in each row (a plan included) weigh w times the others, the
        flow loss being their weighted mean.
        swapped_texts, side_contrast (k, w, m): for each row with a swapped prompt (its caption with
        the sides swapped, None for the others), the same latents are read again under it, and the
        loss adds w times the mean over those rows of max(0, m - (swapped error - own error)), the
        errors being the flow errors of the row's first k targets at the same flow times and noise:
        under teacher forcing the history soon shows which side is moving, so the flow loss alone
        never needs the side word; this term does (see contrast_gaps).
        mismatched_texts, prompt_contrast (lo, hi, w, m): the same for rows given another clip's
        caption (None for the others), over their targets lo..hi-1 ("prompt"): past its first latents
        the history alone predicts the next one, so the flow loss stops reading the prompt there, and a
        streamed gait or a sequence's next step drifts into whatever its own history suggests.
        guided_rows, guided_onset (k, w, s): for each row marked True, the flow error of its first k
        targets under the guided velocity v_u + s * (v_c - v_u) that sampling at guidance s
        integrates (v_u read under the empty prompt in a second pass), w times its mean added
        ("guided"): the flow loss trains v_c alone, and a streamed motion's side, decided by its
        first latent, is lost when that latent is sampled guided (docs/training.md)."""
        zero = self.bom.new_zeros(())
        out = ({"flow": zero, "end": zero, "lm": zero} | ({"side": zero} if side_contrast[1] > 0 else {})
               | ({"prompt": zero} if prompt_contrast[2] > 0 else {}) | ({"guided": zero} if guided_onset[1] > 0 else {}))
        if texts:
            embeds, attn, motion, bom_at = self.build(texts, latents, self.config.latent_noise, generator,
                                                      self.config.context_dropout, self.config.length_dropout,
                                                      targets_from)
            h, _ = self.hidden(embeds, attn, motion)
            weighted = onset[0] > 0 and onset[1] != 1.0
            conds, targets, weights, end_h, end_y = [], [], [], [], []
            for b, z in enumerate(latents):
                cond, target, heads = self.row_conditions(h[b], bom_at[b], z, targets_from[b] if targets_from else 0)
                conds.append(cond)                       # BOM .. z_{N-1} predict (the plan,) z_1 .. z_N
                targets.append(target)
                if weighted:
                    w = torch.ones(len(target), device=h.device, dtype=torch.float32)
                    w[:onset[0]] = onset[1]
                    weights.append(w)
                end_h.append(heads)                      # BOM .. z_N
                y = torch.zeros(len(heads), device=h.device, dtype=h.dtype)
                y[-1] = 1.0
                end_y.append(y)
            out["flow"] = self.flow.loss(torch.cat(targets), torch.cat(conds),
                                         mask=torch.cat(weights) if weighted else None, generator=generator)
            out["end"] = F.binary_cross_entropy_with_logits(self.end(torch.cat(end_h)), torch.cat(end_y))
            # One second pass reads every contrasted row under its other prompt: (row, prompt, window, term).
            k, w, margin = side_contrast
            lo, hi, prompt_w, prompt_margin = prompt_contrast
            jobs = [(b, ids, (0, k), "side") for b, ids in enumerate(swapped_texts or [])
                    if w > 0 and k > 0 and ids is not None]
            jobs += [(b, ids, (lo, hi), "prompt") for b, ids in enumerate(mismatched_texts or [])
                     if prompt_w > 0 and hi > lo and ids is not None and len(targets[b]) > lo]
            if jobs:
                rows, others, windows, _ = zip(*jobs)
                gaps = self.contrast_gaps(list(others), [latents[b] for b in rows], [conds[b] for b in rows],
                                          [targets[b] for b in rows],
                                          [targets_from[b] if targets_from else 0 for b in rows], list(windows),
                                          generator)
                for term, m in (("side", margin), ("prompt", prompt_margin)):
                    picked = [gap for gap, job in zip(gaps, jobs) if job[3] == term]
                    if picked:
                        out[term] = F.relu(m - torch.stack(picked)).mean()
            gk, gw, scale = guided_onset
            guided = [b for b, on in enumerate(guided_rows or []) if on] if gw > 0 and gk > 0 else []
            if guided:
                out["guided"] = self.guided_onset_error(
                    [latents[b] for b in guided], [conds[b] for b in guided], [targets[b] for b in guided],
                    [targets_from[b] if targets_from else 0 for b in guided], gk, scale, generator)
        if captions:
            rows = [self._caption_row(z, ids, self.config.latent_noise, generator)
                    for z, ids in zip(caption_latents, captions)]
            embeds, attn, motion = self._pad(rows)
            h, _ = self.hidden(embeds, attn, motion)
            picked, target = [], []
            for b, ids in enumerate(captions):
                start = len(rows[b][0]) - len(ids) - 1   # EOM predicts the first word, ...
                picked.append(h[b, start:start + len(ids)])
                target.extend(ids)
            logits = lm_logits(self.mot.llm, torch.cat(picked))
            out["lm"] = F.cross_entropy(logits.float(), torch.tensor(target, device=logits.device))
        out["loss"] = (out["flow"] + self.config.end_weight * out["end"] + lm_weight * out["lm"]
                       + side_contrast[1] * out.get("side", zero) + prompt_contrast[2] * out.get("prompt", zero)
                       + guided_onset[1] * out.get("guided", zero))
        return {k: (v if k == "loss" else v.detach()) for k, v in out.items()}

    def contrast_gaps(self, other_texts: list[list[int]], latents: list[torch.Tensor], own_conds: list[torch.Tensor],
                      targets: list[torch.Tensor], targets_from: list[int], windows: list[tuple[int, int]],
                      generator=None) -> list[torch.Tensor]:
        """Per row: the mean flow error of its targets[lo:hi] (windows) read under other_texts (a second
        pass over the same latents) minus the same under its own prompt (own_conds, from the main
        pass), at the same flow times and noise for both (the second pass: _conds_under)."""
        other_conds = self._conds_under(other_texts, latents, targets_from, [hi for _, hi in windows], generator)
        spans = [slice(min(lo, len(t)), min(hi, len(t))) for t, (lo, hi) in zip(targets, windows)]
        sizes = [span.stop - span.start for span in spans]
        x0 = torch.cat([t[span] for t, span in zip(targets, spans)])
        seed = int(torch.randint(0, 2**62, (1,), generator=generator))
        own = self.flow.errors(x0, torch.cat([c[span] for c, span in zip(own_conds, spans)]),
                               torch.Generator(x0.device).manual_seed(seed))
        other = self.flow.errors(x0, torch.cat([c[span] for c, span in zip(other_conds, spans)]),
                                 torch.Generator(x0.device).manual_seed(seed))
        return [(o - s).mean() for o, s in zip(other.split(sizes), own.split(sizes))]

    def guided_onset_error(self, latents: list[torch.Tensor], own_conds: list[torch.Tensor],
                           targets: list[torch.Tensor], targets_from: list[int], k: int, scale: float,
                           generator=None) -> torch.Tensor:
        """The mean flow error of each row's first k targets under the guided velocity at `scale`:
        v_c from own_conds (the main pass), v_u from a second pass under the empty prompt."""
        uncond = self._conds_under([self.empty_text_ids] * len(latents), latents, targets_from, [k] * len(latents),
                                   generator)
        x0 = torch.cat([t[:k] for t in targets])
        return self.flow.guided_errors(x0, torch.cat([c[:k] for c in own_conds]), torch.cat([u[:k] for u in uncond]),
                                       scale, generator).mean()

    def _conds_under(self, texts: list[list[int]], latents: list[torch.Tensor], targets_from: list[int],
                     ends: list[int], generator=None) -> list[torch.Tensor]:
        """Each row's flow conditions with its latents read under another prompt (a second pass), up
        to target ends[b] (the model is causal: later latents change nothing before them) unless the
        inputs depend on the whole row (length conditioning, a plan latent)."""
        whole = self.config.length_conditioning or self.config.plan_latent
        short = [z if whole else z[:first + hi] for z, first, hi in zip(latents, targets_from, ends)]
        embeds, attn, motion, bom_at = self.build(texts, short, self.config.latent_noise, generator,
                                                  self.config.context_dropout, 0.0, targets_from)
        h, _ = self.hidden(embeds, attn, motion)
        return [self.row_conditions(h[b], bom_at[b], z, targets_from[b])[0] for b, z in enumerate(short)]

    def trainable_state_dict(self) -> dict[str, torch.Tensor]:
        state = self.mot.motion_state_dict()
        for name in self._head_modules:
            state.update({f"{name}.{k}": v for k, v in getattr(self, name).state_dict().items()})
        state["bom"] = self.bom.detach()
        state["eom"] = self.eom.detach()
        if self.config.plan_latent:
            state["plan_marker"] = self.plan_marker.detach()
        return {k: v.detach().contiguous() for k, v in state.items()}

    def load_trainable_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        expected = self.trainable_state_dict()
        missing, unknown = sorted(set(expected) - set(state)), sorted(set(state) - set(expected))
        if missing or unknown:
            raise KeyError(f"missing tensors {missing[:5]}, unexpected tensors {unknown[:5]}")
        for name, tensor in state.items():
            if expected[name].shape != tensor.shape:
                raise KeyError(f"tensor {name} has shape {tuple(tensor.shape)}, the model expects "
                               f"{tuple(expected[name].shape)}")
        self.mot.load_motion_state_dict(state)
        for name in self._head_modules:
            getattr(self, name).load_state_dict({k[len(name) + 1:]: v for k, v in state.items()
                                                 if k.startswith(name + ".")})
        with torch.no_grad():
            self.bom.copy_(state["bom"])
            self.eom.copy_(state["eom"])
            if self.config.plan_latent:
                self.plan_marker.copy_(state["plan_marker"])

    # ----- streaming inference -----
    @torch.no_grad()
    def stream_latents(self, text: str, max_latents: int = 50, min_latents: int = 1, steps: int | None = None,
                       generator=None, temperature: float = 1.0, should_stop=None, use_cache: bool = True,
                       guidance: float = 1.0, total: int | None = None, history: torch.Tensor | None = None,
                       onset_guidance: float | None = None):
        """Yield latents (latent_dim,) one at a time; stops at the end head's call or max_latents.
        One full pass over the prompt, then one cached single-position step per latent
        (use_cache=False reruns the whole sequence for every latent: the benchmark's baseline).
        guidance != 1: classifier-free guidance against the empty prompt (see _guided_latents);
        guidance == 1 is the plain conditional sampler. onset_guidance: the scale for the motion's first
        config.onset_guidance_latents latents (None: guidance). total: the motion's length in latents where it is
        known (a model with length_conditioning reads it; None: unknown). history: latents (k, latent_dim)
        already made, as yielded: the new ones continue them under this prompt (what continuation
        rows train; the pipeline's sequences start each step afresh instead, see
        StreamPipeline._latents); they are read in the first pass and not yielded again. A model
        with a plan latent samples its plan from the prompt first (under this prompt, after a
        history too) and reads it before the history; the plan is not yielded."""
        steps = steps or self.config.flow_steps
        scales = self._guidance_scales(guidance, onset_guidance)
        if scales is not None:
            yield from self._guided_latents(text, max_latents, min_latents, steps, generator, temperature,
                                            should_stop, use_cache, scales, total, history)
            return
        device = self.device
        ids = self.text_ids(text)
        start, past_in = self._motion_start(total, history)
        embeds = torch.cat([self._embed_text(ids), start])[None]
        motion = torch.zeros(1, embeds.shape[1], dtype=torch.bool, device=device)
        motion[0, len(ids):] = True
        attn = torch.ones(1, embeds.shape[1], dtype=torch.long, device=device)
        h, past = self.hidden(embeds, attn, motion, use_cache=use_cache)
        bom_h = h[:, len(ids)]

        def feed(x):
            """x (1, k, H) appended to the sequence; the hidden states of its positions."""
            nonlocal attn, past, embeds, motion
            attn = torch.cat([attn, attn.new_ones(1, x.shape[1])], dim=1)
            flags = torch.ones(1, x.shape[1], dtype=torch.bool, device=device)
            if use_cache:
                h, past = self.hidden(x, attn, flags, past, use_cache=True)
                return h
            embeds, motion = torch.cat([embeds, x], dim=1), torch.cat([motion, flags], dim=1)
            return self.hidden(embeds, attn, motion)[0]

        def sample(cond, position):
            return self.flow.sample(cond, steps=steps, generator=generator, temperature=temperature)

        for z in self._latent_loop(h, bom_h, feed, sample, past_in, total, max_latents, min_latents, should_stop):
            yield z[0]

    def _motion_start(self, total: int | None, history: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        """What follows the prompt: (the inputs the first pass reads, the history's inputs (k, H)). The first
        pass reads BOM and the history, or, for a model with a plan latent, BOM alone (the plan is
        sampled from it and read before the history)."""
        bom = self.bom[None] + self._length_in(total, 0, 1)
        past_in = bom[:0]
        if history is not None and len(history):
            past_in = (self.adapter(history.to(self.device, self.bom.dtype) / self.config.latent_scale)
                       + self._length_in(total, 1, len(history)))
        return (bom, past_in) if self.config.plan_latent else (torch.cat([bom, past_in]), past_in)

    def _guidance_scales(self, guidance: float, onset_guidance: float | None):
        """scale(position) for a guided sampler, or None where every latent is sampled unguided."""
        guidance = float(guidance)
        onset = guidance if onset_guidance is None else float(onset_guidance)
        if guidance == 1.0 and onset == 1.0:
            return None
        n = self.config.onset_guidance_latents
        return lambda position: onset if position < n else guidance

    def _guided_latents(self, text, max_latents, min_latents, steps, generator, temperature, should_stop,
                        use_cache, scales, total, history):
        """Classifier-free guidance: the prompt's sequence and the empty prompt's (empty_text_ids, what
        text dropout trains on) run as a batch of 2 (_padded_rows). The flow head's velocity is mixed
        at every Euler step, v = v_u + s * (v_c - v_u), s = scales(the latent's position in the
        motion, history included); the end head reads the conditional row only; both rows get the same
        sampled latent (and plan) as their next input."""
        start, past_in = self._motion_start(total, history)
        h, bom_h, feed = self._padded_rows([self.text_ids(text), self.empty_text_ids], start, use_cache)

        def sample(cond, position):
            return self.flow.sample_guided(cond[:1], cond[1:], scales(position), steps=steps, generator=generator,
                                           temperature=temperature)

        for z in self._latent_loop(h, bom_h, feed, sample, past_in, total, max_latents, min_latents, should_stop):
            yield z[0]

    @torch.no_grad()
    def sample_latents(self, texts: list[str], n_latents: int, generators: list, steps: int | None = None,
                       guidance: float = 1.0, temperature: float = 1.0, total: int | None = None,
                       should_stop=None, onset_guidance: float | None = None) -> torch.Tensor:
        """n_latents latents for each of several prompts at once: (len(texts), n_latents, latent_dim),
        as yielded by stream_latents. Row b draws its noise from generators[b] alone, so each row is
        the motion stream_latents(texts[b], n_latents, n_latents, generator=that generator) makes, up
        to float rounding: on a CPU one step for many rows costs little more than for one (reading
        the weights dominates), which is what evaluations over hundreds of prompts need. Fixed length
        (the end head is not consulted); no history; not for plan-latent models."""
        if self.config.plan_latent:
            raise ValueError("sample_latents: plan-latent models sample one prompt at a time (stream_latents)")
        if len(generators) != len(texts) or not texts:
            raise ValueError(f"sample_latents: {len(texts)} prompts need as many generators, got {len(generators)}")
        steps = steps or self.config.flow_steps
        start, past_in = self._motion_start(total, None)
        ids = [self.text_ids(t) for t in texts]
        scales = self._guidance_scales(guidance, onset_guidance)
        guided = scales is not None
        h, bom_h, feed = self._padded_rows(ids + [self.empty_text_ids] * len(ids) if guided else ids, start)
        n = len(texts)

        def sample(cond, position):
            if guided:
                return self.flow.sample_guided(cond[:n], cond[n:], scales(position), steps=steps,
                                               generator=generators, temperature=temperature)
            return self.flow.sample(cond, steps=steps, generator=generators, temperature=temperature)

        loop = self._latent_loop(h, bom_h, feed, sample, past_in, total, n_latents, n_latents, should_stop)
        return torch.stack(list(loop), dim=1)

    def _padded_rows(self, rows_ids: list[list[int]], start: torch.Tensor, use_cache: bool = True):
        """The first pass over several rows, each a prompt's ids then `start` (BOM and any history),
        left-padded to one length with positions counted from each row's first real token, so each
        row sees what it would alone; each row keeps its own KV cache. Returns the hidden states
        (rows, L, H), each row's BOM state, and feed(x): inputs x (1 or k rows, n, H) appended to
        every row (repeated down the rows: a guided batch's conditional rows, then its unconditional
        ones, read the same latents), returning their hidden states at those positions."""
        device = self.device
        flags = torch.ones(len(start), dtype=torch.bool, device=device)
        rows = [(torch.cat([self._embed_text(ids), start]),
                 torch.cat([torch.zeros(len(ids), dtype=torch.bool, device=device), flags])) for ids in rows_ids]
        embeds, attn, motion = self._pad(rows, left=True)
        R, L = attn.shape
        pos = attention_positions(attn)
        h, past = self.hidden(embeds, attn, motion, use_cache=use_cache, position_ids=pos)

        def feed(x):
            nonlocal attn, past, embeds, motion, pos
            k = x.shape[1]
            x = x.repeat(R // x.shape[0], 1, 1)
            attn = torch.cat([attn, attn.new_ones(R, k)], dim=1)
            step_pos = pos[:, -1:] + torch.arange(1, k + 1, device=device)
            pos = torch.cat([pos, step_pos], dim=1)
            flags = torch.ones(R, k, dtype=torch.bool, device=device)
            if use_cache:
                h, past = self.hidden(x, attn, flags, past, use_cache=True, position_ids=step_pos)
                return h
            embeds, motion = torch.cat([embeds, x], dim=1), torch.cat([motion, flags], dim=1)
            return self.hidden(embeds, attn, motion, position_ids=pos)[0]

        return h, h[:, L - len(start)], feed

    def _latent_loop(self, h, bom_h, feed, sample, past_in, total, max_latents, min_latents, should_stop):
        """What the samplers do once the first pass is read: (with a plan latent, sample the plan and
        read it and the history,) then sample latents, yield them (rows, latent_dim) and feed them
        back until the end head calls it or max_latents. h, bom_h: the first pass's hidden states
        (rows: the conditional ones, then for guidance the unconditional ones); feed(x) appends
        inputs x (rows or 1, k, H) to every row and returns their states; sample(cond, position) turns the
        rows' head inputs into one latent per conditional row. The end head reads the first row only
        (one prompt at a time; sample_latents never consults it)."""
        if self.config.plan_latent:
            plan = sample(self.head_input(h[:, -1], bom_h), 0)
            h = feed(torch.cat([self.plan_in(plan[0] * self.config.latent_scale, total), past_in])[None])
        done = len(past_in)   # latents already made
        for i in range(max_latents):
            check_stop(should_stop, "generation")
            cond = self.head_input(h[:, -1], bom_h)
            if i >= min_latents and torch.sigmoid(self.end(cond[:1])).item() > 0.5:
                return
            z = sample(cond, done + i)
            yield z * self.config.latent_scale
            h = feed((self.adapter(z) + self._length_in(total, done + i + 1, 1))[:, None])

    def describe(self, latents: torch.Tensor, max_new_tokens: int = 48, should_stop=None) -> str:
        """Greedy caption of one motion given as latents (N, latent_dim), with the KV cache."""
        return self.describe_batch([latents], max_new_tokens, should_stop)[0]

    @torch.no_grad()
    def describe_batch(self, latents: list[torch.Tensor], max_new_tokens: int = 48, should_stop=None) -> list[str]:
        """Greedy captions of several motions read together: left-padded rows with positions counted
        from each row's first token, so each row's caption is the one it gets alone; a row that has
        ended keeps being fed (its tokens are ignored) until every row has."""
        if not latents:
            return []
        embeds, attn, motion = self._pad([self._caption_row(z, []) for z in latents], left=True)
        pos = attention_positions(attn)
        h, past = self.hidden(embeds, attn, motion, use_cache=True, position_ids=pos)
        rows, eos = len(latents), self.tokenizer.eos_token_id
        words, open_rows = [[] for _ in range(rows)], set(range(rows))
        no_motion = torch.zeros(rows, 1, dtype=torch.bool, device=self.device)
        for _ in range(max_new_tokens):
            check_stop(should_stop, "captioning")
            tokens = lm_logits(self.mot.llm, h[:, -1]).argmax(-1).tolist()
            for b in list(open_rows):
                if tokens[b] == eos:
                    open_rows.discard(b)
                else:
                    words[b].append(tokens[b])
            if not open_rows:
                break
            attn = torch.cat([attn, attn.new_ones(rows, 1)], dim=1)
            pos = pos[:, -1:] + 1
            h, past = self.hidden(self._embed_text(tokens)[:, None], attn, no_motion, past, use_cache=True,
                                  position_ids=pos)
        return [self.tokenizer.decode(w, skip_special_tokens=True).strip() for w in words]
