"""Train the matching evaluator contrastively (symmetric InfoNCE) on a HumanML3D-format folder.

Each step draws a batch of distinct clips, one random caption each (cut to the caption's time
span when it has one) and a random window of at most max_frames frames, rounded down to whole
4-frame steps. The frozen sentence encoder's vectors are computed once per distinct caption.
Pairs in a batch that share the exact same caption text are not used as negatives of each other.
"""

from __future__ import annotations

import math
import time
from pathlib import Path

import numpy as np
import torch
from torch.nn import functional as F

from momug.data.humanml3d import MotionTextFolder
from momug.errors import MomugError
from momug.eval.matching import MatchingConfig, MatchingEvaluator, MatchingModel, motion_batch


def sentence_table(folder: MotionTextFolder, encoder) -> tuple[dict[str, int], torch.Tensor]:
    """Every distinct caption of the split -> row of a (N, 384) tensor of sentence vectors."""
    texts = sorted({c.text for caps in folder.captions for c in caps})
    return {t: i for i, t in enumerate(texts)}, torch.from_numpy(encoder.embed(texts))


def _window(feats: np.ndarray, unit: int, rng: np.random.Generator) -> np.ndarray:
    n = (len(feats) // unit) * unit
    start = int(rng.integers(0, len(feats) - n + 1))
    return feats[start:start + n]


def contrastive_loss(text: torch.Tensor, motion: torch.Tensor, scale: torch.Tensor,
                     same_text: torch.Tensor) -> torch.Tensor:
    """Symmetric InfoNCE over a batch of matched rows; same_text (B, B) marks pairs not to use as negatives."""
    logits = scale * text @ motion.T
    off_diagonal = same_text & ~torch.eye(len(text), dtype=torch.bool, device=text.device)
    logits = logits.masked_fill(off_diagonal, float("-inf"))
    target = torch.arange(len(text), device=text.device)
    return 0.5 * (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target))


def train_matching(data: str | Path, out: str | Path | None = None, steps: int = 3000, batch_size: int = 64,
                   lr: float = 1e-3, seed: int = 0, config: MatchingConfig | None = None, device: str = "cpu",
                   encoder=None, log_every: int = 100, log=print, evaluate_split: str | None = "test",
                   evaluate_repeats: int = 20) -> MatchingEvaluator:
    """Train, save to `out` (when given) and return the evaluator. When evaluate_split names a split
    of the folder, its ground-truth retrieval numbers are measured and stored in config.info."""
    if steps < 1 or batch_size < 2:
        raise MomugError("train-evaluator needs --steps >= 1 and a batch of at least 2")
    if encoder is None:
        from momug.eval.sentence import shared_encoder

        encoder = shared_encoder(device)
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    folder = MotionTextFolder(data, "train")
    cfg = config or MatchingConfig()
    cfg.feature_dim = folder.feature_dim
    batch_size = min(batch_size, len(folder))
    started = time.perf_counter()
    index, table = sentence_table(folder, encoder)
    log(f"encoded {len(index)} distinct captions in {time.perf_counter() - started:.0f} s")
    model = MatchingModel(cfg, folder.mean, folder.std).to(device)
    table = table.to(device)
    optim = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
    warmup = max(1, min(200, steps // 10))
    sched = torch.optim.lr_scheduler.LambdaLR(
        optim, lambda s: min(1.0, (s + 1) / warmup) * 0.5 * (1 + math.cos(math.pi * min(s, steps) / steps)))
    model.train()
    running = []
    for step in range(1, steps + 1):
        clips = rng.choice(len(folder), size=batch_size, replace=False)
        feats, rows = [], []
        for i in clips:
            f, text = folder.sample(int(i), rng, cfg.max_frames)
            if len(f) < cfg.unit:  # a span too short to use: take the whole clip's start
                f = np.asarray(folder.features(int(i))[:cfg.max_frames], np.float32)
            feats.append(_window(f, cfg.unit, rng))
            rows.append(index[text])
        x, nsteps = motion_batch(feats, folder.mean, folder.std, cfg.unit, cfg.max_frames)
        rows_t = torch.tensor(rows, device=device)
        m = model.motion(x.to(device), nsteps)
        t = model.text(table[rows_t])
        same = rows_t[:, None] == rows_t[None, :]
        loss = contrastive_loss(t, m, model.log_scale.exp().clamp(max=100.0), same)
        optim.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optim.step()
        sched.step()
        running.append(loss.item())
        if log_every and (step % log_every == 0 or step == steps):
            log(f"step {step}/{steps}  loss {np.mean(running):.3f}  {time.perf_counter() - started:.0f} s")
            running = []
    model.eval()
    evaluator = MatchingEvaluator(model, device=device, encoder=encoder)
    evaluator.remember_sentences(list(index), table.cpu().numpy())
    cfg.info = {"data": str(Path(data).resolve()), "steps": steps, "batch_size": batch_size, "seed": seed,
                "train_clips": len(folder), "train_seconds": round(time.perf_counter() - started, 1)}
    if evaluate_split:
        from momug.eval.protocol import ground_truth_matching

        try:
            test = MotionTextFolder(data, evaluate_split)
        except MomugError:
            test = None
        if test is not None:
            scores = ground_truth_matching(evaluator, test, repeats=evaluate_repeats, seed=seed)
            cfg.info[f"{evaluate_split}_ground_truth"] = scores
            log(f"{evaluate_split} split, ground truth: " +
                "  ".join(f"{k} {v['mean']:.3f}" for k, v in scores.items()))
    if out is not None:
        evaluator.save(out)
        from momug.licences import corpus_licence, write_licence

        write_licence(out, corpus_licence(data))  # trained on CC BY-NC motion: opt-in, like the data
        log(f"saved the evaluator to {out}")
    return evaluator
