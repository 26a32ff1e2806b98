"""Train and evaluate the causal motion VAE on a HumanML3D-format folder.

Output folder:
    OUT/config.json, OUT/vae.safetensors   the latest VAE (loadable with stream.vae.from_pretrained)
    OUT/training_state.pt                   optimizer, step, RNG: a rerun resumes from here
    OUT/metrics.jsonl                       one JSON line per log / validation event
"""

from __future__ import annotations

import json
import math
import os
import time
from pathlib import Path

import numpy as np
import torch

from momug.data.humanml3d import MotionTextFolder
from momug.errors import MomugError
from momug.stream import vae as V

STATE_NAME = "training_state.pt"


def sample_batch(folder: MotionTextFolder, rng: np.random.Generator, batch: int, window: int):
    """(B, window, D) normalised random windows and a (B, window) mask; short clips are zero-padded
    at the end (the mask hides the padding from the loss)."""
    x = np.zeros((batch, window, folder.feature_dim), dtype=np.float32)
    mask = np.zeros((batch, window), dtype=bool)
    for b in range(batch):
        feats = folder.features(int(rng.integers(len(folder))))
        start = int(rng.integers(0, max(len(feats) - window, 0) + 1))
        clip = np.asarray(feats[start:start + window], dtype=np.float32)
        x[b, :len(clip)] = (clip - folder.mean) / folder.std
        mask[b, :len(clip)] = True
    return torch.from_numpy(x), torch.from_numpy(mask)


@torch.no_grad()
def evaluate_mpjpe(vae: V.MotionVAE, folder: MotionTextFolder, limit: int | None = None) -> dict[str, float]:
    """Reconstruction error of whole clips through the mean latents, in millimetres: MPJPE of the
    decoded global joints, and root-relative MPJPE (pose only, without trajectory drift)."""
    from momug.motion.features import features_to_joints

    was_training = vae.training
    vae.eval()
    total = rel_total = 0.0
    frames = 0
    n = len(folder) if limit is None else min(limit, len(folder))
    for i in range(n):
        raw = np.asarray(folder.features(i), dtype=np.float32)
        rec = vae.reconstruct(raw)
        a, b = features_to_joints(raw), features_to_joints(rec)
        err = np.linalg.norm(a - b, axis=-1)  # (T, J)
        rel = np.linalg.norm((a - a[:, :1]) - (b - b[:, :1]), axis=-1)
        total += float(err.mean(1).sum())
        rel_total += float(rel.mean(1).sum())
        frames += len(raw)
    vae.train(was_training)
    return {"mpjpe_mm": 1000.0 * total / max(frames, 1), "mpjpe_rel_mm": 1000.0 * rel_total / max(frames, 1),
            "clips": n}


def _lr(step: int, total: int, base: float) -> float:
    warmup = min(100, total // 10)  # linear warm-up, then cosine down to a tenth
    if step < warmup:
        return base * (step + 1) / warmup
    return base * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min((step - warmup) / max(total - warmup, 1), 1.0))))


def train_vae(data: str | Path, output: str | Path, steps: int = 3000, batch_size: int = 32, window: int = 64,
              lr: float = 1e-3, seed: int = 0, config: V.VAEConfig | None = None, val_every: int = 500,
              val_clips: int = 100, resume: bool = True, progress: bool = True) -> Path:
    """Train (or resume training) a VAE into output; returns the output folder."""
    from tqdm.auto import tqdm

    if window % V.DOWNSAMPLE:
        raise MomugError(f"--window must be a multiple of {V.DOWNSAMPLE}")
    out = Path(output)
    train_set = MotionTextFolder(data, "train")
    val_split = "val" if (Path(data) / "val.txt").is_file() else "test"
    val_set = MotionTextFolder(data, val_split)
    state_path = out / STATE_NAME
    step = 0
    if resume and state_path.is_file() and (out / V.CONFIG_NAME).is_file():
        vae = V.from_pretrained(out)
        try:
            state = torch.load(state_path, map_location="cpu", weights_only=True)
        except Exception as exc:  # noqa: BLE001 - any failure means an unusable state file
            raise MomugError(f"cannot resume from {state_path}: {exc}") from None
        step = int(state["step"])
    else:
        torch.manual_seed(seed)
        config = config or V.VAEConfig()
        config.feature_dim = train_set.feature_dim
        vae = V.MotionVAE(config, train_set.mean, train_set.std)
        state = None
    vae.train()
    opt = torch.optim.AdamW(vae.parameters(), lr=lr, weight_decay=0.0)
    if state is not None:
        opt.load_state_dict(state["optimizer"])
    # One generator per step index: a resumed run draws the same batches the original would have.
    out.mkdir(parents=True, exist_ok=True)
    # A fresh run starts a fresh log; a resumed one appends to it.
    metrics = open(out / "metrics.jsonl", "a" if state is not None else "w", encoding="utf-8")
    bar = tqdm(total=steps, initial=step, desc="train-vae", disable=not progress)
    t0 = time.time()
    running = None
    try:
        while step < steps:
            rng = np.random.default_rng([seed, step])
            x, mask = sample_batch(train_set, rng, batch_size, window)
            for group in opt.param_groups:
                group["lr"] = _lr(step, steps, lr)
            losses = vae.loss(x, mask, generator=torch.Generator().manual_seed(seed * 1_000_003 + step))
            opt.zero_grad(set_to_none=True)
            losses["loss"].backward()
            torch.nn.utils.clip_grad_norm_(vae.parameters(), 1.0)
            opt.step()
            step += 1
            vals = {k: float(v.detach()) for k, v in losses.items()}
            running = vals if running is None else {k: 0.95 * running[k] + 0.05 * vals[k] for k in vals}
            bar.update(1)
            bar.set_postfix(recon=f"{running['recon']:.4f}", kl=f"{running['kl']:.1f}")
            if step % 50 == 0:
                metrics.write(json.dumps({"step": step, "event": "train", **vals, "lr": opt.param_groups[0]["lr"],
                                          "elapsed_s": round(time.time() - t0, 1)}) + "\n")
                metrics.flush()
            if step % val_every == 0 or step == steps:
                res = evaluate_mpjpe(vae, val_set, val_clips)
                metrics.write(json.dumps({"step": step, "event": "val", "split": val_split, **res}) + "\n")
                metrics.flush()
                _save(vae, opt, out, step)
    finally:
        bar.close()
        metrics.close()
    if not (out / V.WEIGHTS_NAME).is_file():
        _save(vae, opt, out, step)
    return out


def _save(vae, opt, out: Path, step: int) -> None:
    V.save_pretrained(vae, out)
    tmp = out / (STATE_NAME + ".tmp")
    torch.save({"optimizer": opt.state_dict(), "step": step}, tmp)
    os.replace(tmp, out / STATE_NAME)
