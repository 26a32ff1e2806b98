"""Lay out mixed text/special/motion sequences in a batch and build their attention mask.

An example is a list of segments:
    Text(ids)              text tokens, causal
    Special(name, t)       one special token (t: diffusion timestep for the "timestep" token)
    Motion(frames, t)      motion tokens (N, token_dim) at noise level t; one block
Segments are packed left to right and the batch is right-padded. A position attends to every
earlier valid position (causal) and, when the motion block is bidirectional, to every position of
its own motion block. Padding is never attended to.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

KIND_PAD, KIND_TEXT, KIND_SPECIAL, KIND_MOTION = 0, 1, 2, 3


@dataclass
class Text:
    ids: list[int]


@dataclass
class Special:
    name: str
    t: int = 0


@dataclass
class Motion:
    frames: torch.Tensor  # (N, token_dim)
    t: int = 0


@dataclass
class Layout:
    kind: torch.Tensor        # (B, L) KIND_*
    token: torch.Tensor       # (B, L) text id, or special index; 0 elsewhere
    timestep: torch.Tensor    # (B, L) diffusion timestep of motion/timestep-token positions
    block: torch.Tensor       # (B, L) motion block id (>= 0) or -1
    position: torch.Tensor    # (B, L) position ids, each example counting from its own start
    motion: list = field(default_factory=list)   # (b, start, frames tensor) per Motion segment

    @property
    def valid(self) -> torch.Tensor:
        return self.kind != KIND_PAD

    @property
    def lengths(self) -> torch.Tensor:
        return self.valid.sum(1)


def pack(examples: list[list], special_index: dict[str, int], start_positions=None,
         first_block: int = 0) -> Layout:
    """Pack examples (lists of segments) into one right-padded Layout.

    start_positions: per-example position id of the first segment (to continue a cached prefix).
    """
    lengths = []
    for segs in examples:
        n = 0
        for s in segs:
            n += len(s.ids) if isinstance(s, Text) else (s.frames.shape[0] if isinstance(s, Motion) else 1)
        lengths.append(n)
    B, L = len(examples), max(lengths) if lengths else 0
    kind = torch.zeros(B, L, dtype=torch.long)
    token = torch.zeros(B, L, dtype=torch.long)
    timestep = torch.zeros(B, L, dtype=torch.long)
    block = torch.full((B, L), -1, dtype=torch.long)
    motion = []
    next_block = first_block
    for b, segs in enumerate(examples):
        i = 0
        for s in segs:
            if isinstance(s, Text):
                n = len(s.ids)
                kind[b, i:i + n] = KIND_TEXT
                token[b, i:i + n] = torch.as_tensor(s.ids, dtype=torch.long)
            elif isinstance(s, Special):
                n = 1
                kind[b, i] = KIND_SPECIAL
                token[b, i] = special_index[s.name]
                timestep[b, i] = s.t
            elif isinstance(s, Motion):
                n = s.frames.shape[0]
                kind[b, i:i + n] = KIND_MOTION
                timestep[b, i:i + n] = s.t
                block[b, i:i + n] = next_block
                next_block += 1
                motion.append((b, i, s.frames))
            else:
                raise TypeError(f"unknown segment {s!r}")
            i += n
    start = torch.zeros(B, dtype=torch.long) if start_positions is None else torch.as_tensor(start_positions)
    position = start[:, None] + torch.arange(L)[None, :]
    return Layout(kind, token, timestep, block, position, motion)


def concat(a: Layout, b: Layout) -> Layout:
    """Layout b placed after layout a along the sequence (b's motion offsets shifted)."""
    shift = a.kind.shape[1]
    return Layout(
        torch.cat([a.kind, b.kind], 1), torch.cat([a.token, b.token], 1),
        torch.cat([a.timestep, b.timestep], 1), torch.cat([a.block, b.block], 1),
        torch.cat([a.position, b.position], 1),
        a.motion + [(i, s + shift, f) for i, s, f in b.motion],
    )


def allowed(layout: Layout, bidirectional: bool = True) -> torch.Tensor:
    """(B, L, L) boolean: may query i attend to key j."""
    L = layout.kind.shape[1]
    idx = torch.arange(L)
    ok = (idx[None, :] <= idx[:, None])[None].expand(layout.kind.shape[0], L, L)
    if bidirectional:
        same = (layout.block[:, :, None] == layout.block[:, None, :]) & (layout.block[:, :, None] >= 0)
        ok = ok | same
    ok = ok & layout.valid[:, None, :]
    # A padded query attends to itself only, so no softmax row is empty.
    return ok | torch.eye(L, dtype=torch.bool)[None]


def motion_side(kind: torch.Tensor) -> torch.Tensor:
    """(B, L) bool: positions of the motion modality, the motion tokens and the special tokens
    that frame them (<som>, <timestep>, <eom>, <caption>); text and padding are not."""
    return (kind == KIND_MOTION) | (kind == KIND_SPECIAL)


def additive_mask(ok: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """Boolean (B, Lq, Lk) -> additive float mask (B, 1, Lq, Lk): 0 allowed, dtype min elsewhere."""
    mask = torch.zeros(ok.shape, dtype=dtype)
    mask.masked_fill_(~ok, torch.finfo(dtype).min)
    return mask[:, None]
