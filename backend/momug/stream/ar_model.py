"""The autoregressive streaming model: text, then a begin-of-motion embedding, then one position
per VAE latent, all in the base LLM's sequence. The hidden state at each motion position conditions
the flow head that samples the next latent and the end head that says whether motion stops there.

    [text ids ...] [BOM] [z_1] ... [z_N]
     text weights   motion weights (MoT)
    targets:        z_1   z_2  ...  -       (flow head)
    end:            0     0    ...  1       (end head)

Training uses teacher forcing with a little Gaussian noise on the input latents, so the model
tolerates its own slightly-off samples at inference. Inference feeds one latent at a time through
the KV cache, so each new latent costs one single-position step of the LLM.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from momug.stream.flow_head import EndHead, FlowHead
from momug.stream.mot import MixtureOfTransformers, decoder_of


@dataclass
class StreamConfig:
    base_model: str = "gemma3-270m"
    latent_dim: int = 32
    latent_scale: float = 1.0   # latents are divided by this before the LLM and heads see them
    flow_width: int = 256
    flow_depth: int = 3
    flow_steps: int = 8
    latent_noise: float = 0.05  # std of the teacher-forcing noise on input latents
    end_weight: float = 1.0


class StreamModel(nn.Module):
    def __init__(self, config: StreamConfig, llm, tokenizer):
        super().__init__()
        self.config, self.tokenizer = config, tokenizer
        self.mot = MixtureOfTransformers(llm)
        self.decoder = decoder_of(llm)
        hidden = llm.config.hidden_size
        with torch.no_grad():  # match the scale of the text embeddings the layers were trained on
            emb = llm.get_input_embeddings()
            rms = float(emb(torch.arange(min(emb.num_embeddings, 4096))).pow(2).mean().sqrt())
        self.adapter = nn.Sequential(nn.Linear(config.latent_dim, hidden), nn.SiLU(), nn.Linear(hidden, hidden))
        self.bom = nn.Parameter(torch.randn(hidden) * rms)
        self.flow = FlowHead(config.latent_dim, hidden, config.flow_width, config.flow_depth)
        self.end = EndHead(hidden)

    # ----- sequence building -----
    def text_ids(self, text: str) -> list[int]:
        ids = list(self.tokenizer(text, add_special_tokens=True)["input_ids"])
        bos = self.tokenizer.bos_token_id
        if bos is not None and (not ids or ids[0] != bos):
            ids = [bos] + ids
        return ids

    def _embed_text(self, ids: list[int], device) -> torch.Tensor:
        return self.mot.llm.get_input_embeddings()(torch.tensor(ids, dtype=torch.long, device=device))

    def build(self, texts: list[list[int]], latents: list[torch.Tensor], noise: float = 0.0, generator=None):
        """Right-padded batch: inputs_embeds, attention_mask, motion_mask, the index of BOM per item."""
        device = self.bom.device
        rows, bom_at = [], []
        for ids, z in zip(texts, latents):
            z = z.to(device) / self.config.latent_scale
            if noise > 0:
                z = z + noise * torch.randn(z.shape, generator=generator, dtype=z.dtype, device=device)
            # The last latent is only a target: nothing is predicted from it but the end flag, so it
            # is still fed (its hidden state carries the end logit).
            rows.append(torch.cat([self._embed_text(ids, device), self.bom[None], self.adapter(z)]))
            bom_at.append(len(ids))
        L = max(len(r) for r in rows)
        B, H = len(rows), rows[0].shape[-1]
        embeds = torch.zeros(B, L, H, device=device, dtype=rows[0].dtype)
        attn = torch.zeros(B, L, dtype=torch.long, device=device)
        motion = torch.zeros(B, L, dtype=torch.bool, device=device)
        for b, r in enumerate(rows):
            embeds[b, :len(r)] = r
            attn[b, :len(r)] = 1
            motion[b, bom_at[b]:len(r)] = True
        return embeds, attn, motion, bom_at

    def hidden(self, embeds, attn, motion, past=None, use_cache=False):
        with self.mot.modality(motion):
            out = self.decoder(inputs_embeds=embeds, attention_mask=attn, past_key_values=past, use_cache=use_cache)
        return out.last_hidden_state, out.past_key_values

    # ----- training -----
    def training_loss(self, texts: list[list[int]], latents: list[torch.Tensor], generator=None) -> dict:
        """Flow-matching loss on every next latent + binary cross-entropy of the end flag."""
        embeds, attn, motion, bom_at = self.build(texts, latents, self.config.latent_noise, generator)
        h, _ = self.hidden(embeds, attn, motion)
        conds, targets, end_h, end_y = [], [], [], []
        for b, z in enumerate(latents):
            n, s = len(z), bom_at[b]
            conds.append(h[b, s:s + n])             # BOM .. z_{N-1} predict z_1 .. z_N
            targets.append(z.to(h.device) / self.config.latent_scale)
            end_h.append(h[b, s:s + n + 1])          # BOM .. z_N
            y = torch.zeros(n + 1, device=h.device)
            y[-1] = 1.0
            end_y.append(y)
        flow = self.flow.loss(torch.cat(targets), torch.cat(conds), generator=generator)
        end = F.binary_cross_entropy_with_logits(self.end(torch.cat(end_h)), torch.cat(end_y))
        return {"loss": flow + self.config.end_weight * end, "flow": flow.detach(), "end": end.detach()}

    def trainable_state_dict(self) -> dict[str, torch.Tensor]:
        state = self.mot.motion_state_dict()
        for name in ("adapter", "flow", "end"):
            state.update({f"{name}.{k}": v for k, v in getattr(self, name).state_dict().items()})
        state["bom"] = self.bom.detach()
        return state

    # ----- streaming inference -----
    @torch.no_grad()
    def stream_latents(self, text: str, max_latents: int = 50, min_latents: int = 1, steps: int | None = None,
                       generator=None, temperature: float = 1.0):
        """Yield latents (latent_dim,) one at a time; stops at the end head's call or max_latents.
        One full pass over the prompt, then one cached single-position step per latent."""
        steps = steps or self.config.flow_steps
        device = self.bom.device
        ids = self.text_ids(text)
        embeds = torch.cat([self._embed_text(ids, device), self.bom[None]])[None]
        motion = torch.zeros(1, embeds.shape[1], dtype=torch.bool, device=device)
        motion[0, -1] = True
        attn = torch.ones(1, embeds.shape[1], dtype=torch.long, device=device)
        h, past = self.hidden(embeds, attn, motion, use_cache=True)
        for i in range(max_latents):
            cond = h[:, -1]
            if i >= min_latents and torch.sigmoid(self.end(cond)).item() > 0.5:
                return
            z = self.flow.sample(cond, steps=steps, generator=generator, temperature=temperature)
            yield z[0] * self.config.latent_scale
            attn = torch.cat([attn, attn.new_ones(1, 1)], dim=1)
            h, past = self.hidden(self.adapter(z)[:, None], attn, torch.ones(1, 1, dtype=torch.bool,
                                                                             device=device), past, use_cache=True)
