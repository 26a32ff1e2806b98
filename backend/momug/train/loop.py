"""The training loop: mixed text-to-motion / motion-to-text batches, Accelerate for devices and
processes, periodic validation, a metrics log, resumable checkpoints and a loss plot.

Output folder layout:
    OUT/config.json, OUT/momug.safetensors   the latest model (a loadable checkpoint)
    OUT/training_state.pt                     optimizer, scheduler, step, RNG and weight average (for resuming)
    OUT/ema/                                  with [train] ema_decay: the weights' moving average, a
                                              loadable checkpoint of its own (momug.train.ema)
    OUT/train_config.json                     the settings this run started with
    OUT/metrics.jsonl                         one JSON line per log/validation event
    OUT/loss.png                              loss curves, redrawn at every validation
"""

from __future__ import annotations

import json
import math
import os
import random
import time
from pathlib import Path

import numpy as np
import torch

from momug.data.general_text import GeneralTextWindows, read_general_text
from momug.data.humanml3d import MotionTextFolder
from momug.data.prompt_context import add_context
from momug.errors import MomugError
from momug.model import checkpoint as ckpt
from momug.model.momug import LossSettings
from momug.train.config import TrainConfig
from momug.train.ema import save_with_average, start_average, validate_with_average

STATE_NAME = "training_state.pt"


class ExampleSampler(torch.utils.data.Dataset):
    """Index -> (normalised features, caption) with a per-(epoch, index) random generator, so runs
    are reproducible whatever the number of workers."""

    def __init__(self, folder: MotionTextFolder, max_frames: int, seed: int):
        self.folder, self.max_frames, self.seed = folder, max_frames, seed
        self.epoch = 0

    def __len__(self):
        return len(self.folder)

    def __getitem__(self, index):
        rng = np.random.default_rng([self.seed, self.epoch, index])
        feats, text = self.folder.sample(index, rng, self.max_frames)
        feats = (feats - self.folder.mean) / self.folder.std
        return torch.from_numpy(np.ascontiguousarray(feats)), text


class Collator:
    """Turns (features, caption) pairs into model items: a fixed share become motion-to-text
    examples, the rest text-to-motion with the prompt dropped at the CFG dropout rate, or given a
    scene phrase at the context_fraction rate (momug.data.prompt_context; captions, the targets of
    motion-to-text, never); then `text_rows` windows of general text (language kept) when a
    GeneralTextWindows is given."""

    def __init__(self, model, caption_fraction: float, text_dropout: float, seed: int,
                 general=None, text_rows: int = 0, context_fraction: float = 0.0, reading_only_fraction: float = 0.0):
        self.model = model
        self.caption_fraction, self.text_dropout = caption_fraction, text_dropout
        self.context_fraction, self.reading_only_fraction = context_fraction, reading_only_fraction
        self.rng = random.Random(seed)
        # Their own generators, so the dropout draws (and a run without these) stay as they were.
        self.context_rng = random.Random(f"context-{seed}")
        self.reading_rng = random.Random(f"reading-{seed}")
        self.general, self.text_rows = general, text_rows if general is not None else 0

    def __call__(self, batch):
        n = len(batch)
        n_m2t = round(self.caption_fraction * n)
        if n >= 2 and self.caption_fraction > 0:
            n_m2t = min(max(n_m2t, 1), n - 1)  # both tasks in every batch (DDP needs every weight used)
        items = []
        for i, (feats, text) in enumerate(batch):
            task = "m2t" if i < n_m2t else "t2m"
            if task == "t2m" and self.context_fraction and self.context_rng.random() < self.context_fraction:
                text = add_context(text, self.context_rng)
            ids = self.model.text_ids(text)
            if task == "t2m" and self.rng.random() < self.text_dropout:
                ids = []
            tokens = self.model.to_tokens(feats)
            mask = self.model.to_tokens(torch.ones_like(feats)).bool()
            item = {"task": task, "text_ids": ids, "motion": tokens, "frame_mask": mask}
            if ids and task == "t2m" and self.reading_only_fraction and \
                    self.reading_rng.random() < self.reading_only_fraction:
                item.update(text_ids=[], reading_ids=ids)  # the answers about the words, not the words
            items.append(item)
        items += [{"task": "text", "text_ids": self.general.sample()} for _ in range(self.text_rows)]
        return items


def save_state(path: Path, optimizer, scheduler, step: int, epoch: int, rng_seed: int, ema=None) -> None:
    tmp = path.with_suffix(".tmp")
    state = {"optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
             "step": step, "epoch": epoch, "torch_rng": torch.get_rng_state(), "seed": rng_seed}
    if ema is not None:
        state["ema"] = ema.state_dict()
    torch.save(state, tmp)
    os.replace(tmp, path)


def load_state(path: Path) -> dict:
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any failure here means an unusable file
        raise MomugError(f"cannot resume from {path}: {exc}") from None


def lr_lambda(warmup: int, total: int):
    def f(step):
        if step < warmup:
            return (step + 1) / max(warmup, 1)
        progress = (step - warmup) / max(total - warmup, 1)
        return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(progress, 1.0)))
    return f


def make_accelerator(mixed_precision: str, seed: int):
    """An Accelerator for this machine ("auto" precision: bf16 on CUDA, none on CPU), seeded."""
    from accelerate import Accelerator
    from accelerate.utils import set_seed

    if mixed_precision == "auto":
        mixed_precision = "bf16" if torch.cuda.is_available() else "no"
    # cpu=True on GPU-less machines: otherwise Accelerate ignores a torchrun world and each process
    # trains alone; with it, `accelerate launch --multi_gpu` runs DDP over gloo.
    accelerator = Accelerator(mixed_precision=mixed_precision, cpu=not torch.cuda.is_available())
    set_seed(seed)
    return accelerator


def make_optimizer(model, settings, state: dict | None, train_only: list[str] | tuple = ()):
    """AdamW over the trainable parameters with the warm-up + cosine schedule, restored from a
    training state (load_state) when one is given. Returns (params, optimizer, scheduler, step, epoch).
    train_only: name prefixes of the only parameters to train (TrainSettings.train_only); the rest
    stays as it was loaded."""
    if train_only:
        names = [n for n, p in model.named_parameters() if p.requires_grad]
        unknown = [prefix for prefix in train_only if not any(n.startswith(prefix) for n in names)]
        if unknown:
            raise MomugError(f"train_only: no trainable parameter is named {unknown}")
        for name, p in model.named_parameters():
            p.requires_grad_(p.requires_grad and name.startswith(tuple(train_only)))
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=settings.learning_rate, weight_decay=settings.weight_decay)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_lambda(settings.warmup_steps, settings.max_steps))
    step, epoch = 0, 0
    if state is not None:
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        step, epoch = int(state["step"]), int(state["epoch"])
        torch.set_rng_state(state["torch_rng"])
    return params, optimizer, scheduler, step, epoch


def optimizer_step(accelerator, losses: dict, params, optimizer, scheduler, grad_clip: float, step: int) -> None:
    """Backward, clip, step: one update from a loss dict (a non-finite loss stops the run)."""
    if not torch.isfinite(losses["loss"]):
        raise MomugError(f"loss became {float(losses['loss'])} at step {step}; lower the learning rate")
    accelerator.backward(losses["loss"])
    if grad_clip:
        accelerator.clip_grad_norm_(params, grad_clip)
    optimizer.step()
    scheduler.step()
    optimizer.zero_grad(set_to_none=True)


def open_run_folder(accelerator, out: Path, config: dict):
    """Create the output folder, record the run's settings, and return the metrics logger
    (one JSON line per record, main process only)."""
    metrics_path = out / "metrics.jsonl"
    if accelerator.is_main_process:
        out.mkdir(parents=True, exist_ok=True)
        (out / "train_config.json").write_text(json.dumps(config, indent=2))

    def log(record: dict) -> None:
        if accelerator.is_main_process:
            with open(metrics_path, "a") as f:
                f.write(json.dumps(record) + "\n")

    return log


def general_text_windows(cfg: TrainConfig, tokenizer, step: int):
    """(training windows, validation windows) of the run's general text: every 20th text is held
    out for validation (none when there are fewer than 20; validation then reuses training's)."""
    s = cfg.train
    texts = read_general_text(cfg.general_text)
    if len(texts) < 20:
        return GeneralTextWindows(texts, tokenizer, s.text_tokens, s.seed + step), None
    train = GeneralTextWindows([t for i, t in enumerate(texts) if i % 20], tokenizer, s.text_tokens, s.seed + step)
    return train, GeneralTextWindows(texts[::20], tokenizer, s.text_tokens, s.seed + 1)


def logged_losses(settings) -> list[str]:
    """The loss terms a run logs: the general-text one only when it has text rows."""
    return ["loss", "lm", "diffusion"] + (["text"] if settings.text_rows else [])


def loss_settings(settings) -> LossSettings:
    return LossSettings(lm=settings.lm_weight, diffusion=settings.diffusion_weight, text=settings.text_weight,
                        root=settings.root_loss_weight, text_target=settings.text_target)


@torch.no_grad()
def validate(model, batches, settings) -> dict[str, float]:
    was_training = model.training
    model.eval()
    totals = dict.fromkeys(logged_losses(settings), 0.0)
    g = torch.Generator().manual_seed(1234)  # the same noise every validation: curves comparable
    for items in batches:
        out = model.training_loss(items, loss_settings(settings), generator=g)
        for k in totals:
            totals[k] += float(out[k])
    model.train(was_training)
    return {k: v / max(len(batches), 1) for k, v in totals.items()}


def train(cfg: TrainConfig, resume: bool = True, progress: bool = True, stop_after: int | None = None) -> Path:
    """Train (or resume) to [train] max_steps, or stop and save at step stop_after with the
    learning-rate schedule still that of max_steps (to end a run where an earlier one ended)."""
    from tqdm.auto import tqdm

    from momug.train.plot import plot_metrics

    s = cfg.train
    accelerator = make_accelerator(s.mixed_precision, s.seed)
    out = Path(cfg.output)
    state_path = out / STATE_NAME
    resuming = resume and state_path.is_file() and (out / ckpt.CONFIG_NAME).is_file()

    train_folder = MotionTextFolder(cfg.data, s.split, fps=cfg.model.fps, min_frames=cfg.model.min_frames)
    if train_folder.feature_dim != cfg.model.feature_dim:
        raise MomugError(f"{cfg.data} has {train_folder.feature_dim}-dim features but the model is set to "
                         f"{cfg.model.feature_dim} (set feature_dim in [model])")
    try:
        val_folder = MotionTextFolder(cfg.data, "val", fps=cfg.model.fps, min_frames=cfg.model.min_frames)
    except MomugError:
        val_folder = None

    if resuming:
        model = ckpt.from_pretrained(out, check_licence=False)  # the user's own run, on their data
        model.train()
        accelerator.print(f"momug train: resuming from {out}")
    else:
        model = ckpt.build_model(cfg.model, train_folder.mean, train_folder.std)
        if cfg.init_from:
            fresh = ckpt.init_from(model, cfg.init_from)
            # The data's statistics, not the source run's: features are normalised with them.
            model.mean.copy_(torch.as_tensor(train_folder.mean))
            model.std.copy_(torch.as_tensor(train_folder.std))
            accelerator.print(f"momug train: starting from {cfg.init_from}"
                              + (f" (new: {ckpt.describe_fresh(fresh)})" if fresh else ""))
        model.set_caption_vocabulary([c.text for caps in train_folder.captions for c in caps])
    model.train()
    state = load_state(state_path) if resuming else None
    params, optimizer, scheduler, step, epoch = make_optimizer(model, s, state, s.train_only)
    ema = start_average(params, s.ema_decay, state)

    dataset = ExampleSampler(train_folder, cfg.model.max_frames, s.seed)
    general, val_general = general_text_windows(cfg, model.tokenizer, step) if s.text_rows else (None, None)
    collate = Collator(model, s.caption_fraction, s.text_dropout, s.seed + step, general, s.text_rows,
                       s.context_fraction, s.reading_only_fraction)
    loader = torch.utils.data.DataLoader(dataset, batch_size=s.batch_size, shuffle=True, drop_last=True,
                                         collate_fn=collate, num_workers=s.num_workers,
                                         generator=torch.Generator().manual_seed(s.seed + epoch))
    if len(loader) == 0:
        raise MomugError(f"batch_size {s.batch_size} is larger than the training split ({len(dataset)} clips)")
    val_batches = []
    if val_folder is not None:
        val_set = ExampleSampler(val_folder, cfg.model.max_frames, s.seed + 1)
        val_collate = Collator(model, s.caption_fraction, 0.0, s.seed + 1, val_general or general, s.text_rows)
        idx = list(range(min(len(val_set), s.batch_size * s.val_batches)))
        val_batches = [val_collate([val_set[i] for i in idx[k:k + s.batch_size]])
                       for k in range(0, len(idx), s.batch_size)]

    model, optimizer, loader, scheduler = accelerator.prepare(model, optimizer, loader, scheduler)
    core = accelerator.unwrap_model(model)
    log = open_run_folder(accelerator, out, cfg.to_dict())
    metrics_path = out / "metrics.jsonl"

    from momug.licences import run_licence

    # A model trained on CC BY-NC motion, or fine-tuned from weights that were, carries the terms.
    terms = run_licence(cfg.data, cfg.init_from)

    def save():
        accelerator.wait_for_everyone()
        if accelerator.is_main_process:
            save_with_average(lambda folder: ckpt.save_pretrained(core, folder), out, terms, ema)
            save_state(state_path, optimizer, scheduler, step, epoch, s.seed, ema)

    end = s.max_steps if stop_after is None else min(s.max_steps, stop_after)
    bar = tqdm(total=end, initial=step, desc="train", disable=not (progress and accelerator.is_main_process),
               dynamic_ncols=True)
    start = time.time()
    running = dict.fromkeys(logged_losses(s), 0.0)
    weights = loss_settings(s)
    n_running = 0
    while step < end:
        dataset.epoch = epoch
        if hasattr(loader, "set_epoch"):
            loader.set_epoch(epoch)
        for items in loader:
            losses = model(items, weights)
            optimizer_step(accelerator, losses, params, optimizer, scheduler, s.grad_clip, step)
            if ema is not None:
                ema.update()
            step += 1
            for k in running:
                running[k] += float(losses[k].detach())
            n_running += 1
            bar.update(1)
            if step % s.log_every == 0 or step == end:
                avg = {k: v / n_running for k, v in running.items()}
                bar.set_postfix({k: f"{v:.3f}" for k, v in avg.items()})
                log({"split": "train", "step": step, "epoch": epoch, "lr": scheduler.get_last_lr()[0],
                     "processes": accelerator.num_processes,
                     "elapsed_s": round(time.time() - start, 1), **avg})
                running = {k: 0.0 for k in running}
                n_running = 0
            if val_batches and (step % s.val_every == 0 or step == end):
                if accelerator.is_main_process:
                    for split, val in validate_with_average(lambda: validate(core, val_batches, s), ema):
                        log({"split": split, "step": step, "epoch": epoch, **val})
                    plot_metrics(metrics_path, out / "loss.png")
            if step % s.save_every == 0 or step == end:
                save()
            if step >= end:
                break
        epoch += 1
    bar.close()
    if accelerator.is_main_process and metrics_path.is_file():
        plot_metrics(metrics_path, out / "loss.png")
    accelerator.wait_for_everyone()
    return out
