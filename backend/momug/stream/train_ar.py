"""Training the streaming model: text -> latents (flow matching + end flag) mixed with
latents -> caption, on the latents of a trained causal VAE (frozen), with the same run layout,
resume and Accelerate support as the diffusion trainer (momug.train.loop).

Config (TOML):
    data = "corpus"                 # HumanML3D-format folder
    output = "runs/stream_default"
    vae = "path"                    # optional: default the shipped VAE (with init_from: that checkpoint's)
    init_from = "DIR"               # optional: a stream checkpoint whose trained tensors seed a new run
    [model] StreamConfig fields     # base_model, mot_rank, flow_width, ..., guidance (the default scale)
    [train] StreamTrainSettings fields  # ..., text_dropout (classifier-free guidance), ema_decay
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

from momug.data.humanml3d import MotionTextFolder
from momug.data.mirror import MIRROR_PREFIX, mirror_text, names_one_side
from momug.data.steady import ONSET_PREFIX, STEADY_PREFIX
from momug.data.synth.writer import read_meta
from momug.errors import MomugError
from momug.model.checkpoint import describe_fresh
from momug.stream import checkpoint as sckpt
from momug.stream import vae as V
from momug.stream.ar_model import StreamConfig
from momug.stream.continuation import ContinuationClips
from momug.train.config import check_decay, read_run_config, settings_from_table
from momug.train.ema import save_with_average, start_average, validate_with_average
from momug.train.loop import (STATE_NAME, load_state, make_accelerator, make_optimizer, open_run_folder,
                              optimizer_step, save_state)
from momug.train.plot import plot_metrics

PANELS = (("loss", "total loss"), ("flow", "flow loss (text -> motion)"), ("end", "end-of-motion loss"),
          ("lm", "caption loss (motion -> text)"), ("side", "side contrast (train)"),
          ("prompt", "prompt contrast (train)"), ("guided", "guided onset error (train)"))


@dataclass
class StreamTrainSettings:
    split: str = "train"             # ids file in the data folder: "train", "train_mirrored" (momug data
                                     # mirror) or "train_mirrored_steady" (momug data steady)
    batch_size: int = 8
    learning_rate: float = 5e-4
    weight_decay: float = 0.0
    warmup_steps: int = 100
    max_steps: int = 2000
    grad_clip: float = 1.0
    caption_fraction: float = 0.25   # share of latents -> caption examples in each batch
    text_dropout: float = 0.0        # classifier-free guidance: share of text -> motion rows given the
                                     # empty prompt (StreamModel.empty_text_ids); caption rows never
    continuation_fraction: float = 0.0  # share of text -> motion rows that continue a clip of several
                                     # actions under its next step's prompt, loss on that step only
                                     # (momug.stream.continuation; needs the corpus's meta.jsonl)
    onset_latents: int = 0           # the first latents of each text row's flow loss (from its targets_from;
    onset_weight: float = 1.0        # a plan included) weigh onset_weight times the rest: there the motion
                                     # is decided from the prompt, later its own history gives it away
    side_contrast_weight: float = 0.0  # > 0: rows whose caption names one side are read again with the
    side_contrast_latents: int = 8   # sides swapped, and their first latents' flow error must come out
    side_contrast_margin: float = 0.1  # at least the margin above their own (StreamModel.contrast_gaps)
    prompt_contrast_weight: float = 0.0  # > 0: the other text rows are read again under the caption of a
    prompt_contrast_from: int = 2    # batch row that does none of their clip's actions (meta.jsonl), and
    prompt_contrast_to: int = 20     # their flow error on targets from..to-1 must come out at least the
    prompt_contrast_margin: float = 0.05  # margin above their own: the prompt must matter past the start
    guided_onset_weight: float = 0.0  # > 0: the flow error of the first guided_onset_latents targets under
    guided_onset_latents: int = 1    # the guided velocity at guided_onset_scale (what sampling integrates)
    guided_onset_scale: float = 5.0  # is added with this weight, for the text rows that name one side
    guided_onset_rows: str = "sided"  # ("sided") or every prompted text row ("all")
    lm_weight: float = 1.0
    max_frames: int = 200
    log_every: int = 10
    val_every: int = 200
    val_batches: int = 4
    save_every: int = 100
    ema_decay: float = 0.0           # > 0: a moving average of the weights in OUT/ema/ (momug.train.ema)
    seed: int = 0
    mixed_precision: str = "auto"


@dataclass
class StreamTrainConfig:
    data: str
    output: str
    vae: str | None = None
    init_from: str | None = None    # stream checkpoint whose trained tensors seed a new run (fine-tuning)
    model: StreamConfig = field(default_factory=StreamConfig)
    train: StreamTrainSettings = field(default_factory=StreamTrainSettings)

    def to_dict(self) -> dict:
        return {"data": self.data, "output": self.output, "vae": self.vae, "init_from": self.init_from,
                "model": asdict(self.model), "train": asdict(self.train)}


def load_stream_config(path: str | Path, overrides: dict | None = None) -> StreamTrainConfig:
    raw = read_run_config(path, overrides, ("vae", "init_from"))
    train = settings_from_table(StreamTrainSettings, raw.get("train", {}), "train")
    for name in ("text_dropout", "continuation_fraction"):
        if not 0.0 <= getattr(train, name) <= 1.0:
            raise MomugError(f"{name} must be between 0 and 1, got {getattr(train, name)}")
    if train.onset_latents < 0 or train.onset_weight <= 0:
        raise MomugError(f"onset_latents must be at least 0 and onset_weight above 0, got {train.onset_latents} "
                         f"and {train.onset_weight}")
    if not 0 <= train.prompt_contrast_from < train.prompt_contrast_to or min(train.prompt_contrast_weight,
                                                                             train.prompt_contrast_margin) < 0:
        raise MomugError("prompt_contrast_weight and prompt_contrast_margin must be at least 0 and "
                         "0 <= prompt_contrast_from < prompt_contrast_to, got "
                         f"{train.prompt_contrast_weight}, {train.prompt_contrast_margin}, "
                         f"{train.prompt_contrast_from} and {train.prompt_contrast_to}")
    if train.side_contrast_weight < 0 or train.side_contrast_latents < 1 or train.side_contrast_margin < 0:
        raise MomugError("side_contrast_weight and side_contrast_margin must be at least 0 and "
                         f"side_contrast_latents at least 1, got {train.side_contrast_weight}, "
                         f"{train.side_contrast_margin} and {train.side_contrast_latents}")
    if (train.guided_onset_weight < 0 or train.guided_onset_latents < 1 or train.guided_onset_scale < 1
            or train.guided_onset_rows not in ("sided", "all")):
        raise MomugError("guided_onset_weight must be at least 0, guided_onset_latents at least 1, "
                         "guided_onset_scale at least 1 and guided_onset_rows \"sided\" or \"all\", got "
                         f"{train.guided_onset_weight}, {train.guided_onset_latents}, {train.guided_onset_scale} "
                         f"and {train.guided_onset_rows!r}")
    check_decay(train.ema_decay)
    return StreamTrainConfig(data=raw["data"], output=raw["output"], vae=raw["vae"], init_from=raw["init_from"],
                             model=StreamConfig.from_dict(raw.get("model", {})), train=train)


class LatentBatches:
    """Random (caption ids, latents) examples: a random caption and window of a random clip,
    encoded to mean latents by the frozen VAE. Seeded per step, so a resumed run continues the
    same sequence. text_dropout: share of text -> motion rows whose prompt is replaced by the empty
    one; continuation_fraction: share of them made from ContinuationClips instead, their loss
    starting at the step's first latent (both drawn from generators of their own, so the plain
    rows' clips and windows do not depend on them). With the side contrast on, each text row also
    gets its caption with the sides swapped when the caption names one side (swapped_texts; None
    otherwise, and for every row when it is off); no random draw depends on it. With the prompt
    contrast on, each other text row gets the caption of another row whose clip does none of its
    clip's actions (mismatched_texts; drawn from a generator of its own, None where no row qualifies).
    With the guided onset on, guided_rows marks the prompted text rows it applies to (those whose
    caption names one side, or all); no random draw depends on it."""

    def __init__(self, folder: MotionTextFolder, vae: V.MotionVAE, model, settings: StreamTrainSettings,
                 seed: int, text_dropout: float = 0.0, continuation_fraction: float = 0.0):
        self.folder, self.vae, self.model, self.s, self.seed = folder, vae, model, settings, seed
        self.text_dropout = text_dropout
        self.continuation_fraction = continuation_fraction
        self.continuations = ContinuationClips(folder) if continuation_fraction > 0 else None
        self.actions = clip_actions(folder) if settings.prompt_contrast_weight > 0 else None

    @torch.no_grad()
    def encode(self, feats: np.ndarray) -> torch.Tensor:
        n = len(feats) - len(feats) % V.DOWNSAMPLE
        x = self.vae.normalise(torch.from_numpy(np.array(feats[:n], dtype=np.float32)).to(self.vae.mean))
        mu, _ = self.vae.encode(x[None])
        return mu[0]

    def batch(self, step: int) -> dict:
        rng = np.random.default_rng([self.seed, step])
        drop = np.random.default_rng([self.seed, step, 1]).random(self.s.batch_size) < self.text_dropout
        cont_rng = np.random.default_rng([self.seed, step, 2])
        cont = cont_rng.random(self.s.batch_size) < self.continuation_fraction
        picks = rng.integers(0, len(self.folder), self.s.batch_size)
        n_cap = int(round(self.s.caption_fraction * len(picks)))
        texts, latents, targets_from, captions, cap_latents, swapped, rows, guided = [], [], [], [], [], [], [], []
        eos = self.model.tokenizer.eos_token_id
        for i, index in enumerate(picks):
            feats, text = self.folder.sample(int(index), rng, self.s.max_frames)
            first = 0
            if i >= n_cap and cont[i]:
                continued = self.continuations.sample(cont_rng, self.s.max_frames)
                if continued is not None:
                    feats, text, step_frame = continued
                    first = step_frame // V.DOWNSAMPLE   # the latent the step begins in
            z = self.encode(feats)
            if i < n_cap:
                captions.append(self.model.text_ids(text)[len(self.model.bos):] + [eos])
                cap_latents.append(z)
            else:
                texts.append(self.model.empty_text_ids if drop[i] else self.model.text_ids(text))
                sided = not drop[i] and names_one_side(text)
                swapped.append(self.model.text_ids(mirror_text(text)) if sided and self.s.side_contrast_weight > 0
                               else None)
                guided.append(self.s.guided_onset_weight > 0 and not drop[i]
                              and (self.s.guided_onset_rows == "all" or sided))
                latents.append(z)
                targets_from.append(first)
                rows.append(int(index))
        mismatched = [None] * len(texts)
        if self.actions is not None:
            pick_rng = np.random.default_rng([self.seed, step, 3])
            prompted = [r for r in range(len(texts)) if texts[r] != self.model.empty_text_ids]
            for r in prompted:
                if swapped[r] is not None:
                    continue  # side-contrasted already
                others = [o for o in prompted if not self.actions[rows[r]] & self.actions[rows[o]]]
                if others:
                    mismatched[r] = texts[others[int(pick_rng.integers(len(others)))]]
        return {"texts": texts, "latents": latents, "targets_from": targets_from, "captions": captions,
                "caption_latents": cap_latents, "swapped_texts": swapped, "mismatched_texts": mismatched,
                "guided_rows": guided}


def clip_actions(folder: MotionTextFolder) -> list[frozenset[str]]:
    """Each clip's actions (meta.jsonl), found for mirrored and windowed copies under their source's id
    (their prefixes stripped: momug.data.mirror, momug.data.steady)."""
    if not (folder.root / "meta.jsonl").is_file():
        raise MomugError(f"the prompt contrast needs each clip's actions, and {folder.root} has no meta.jsonl "
                         "(corpora from momug data synth, or merges of them, have it)")
    known = {m["id"]: frozenset(a["action"] for a in m.get("actions") or []) for m in read_meta(folder.root)}
    out = []
    for motion_id in folder.ids:
        source = motion_id
        while source not in known and source[:1] in (MIRROR_PREFIX, STEADY_PREFIX, ONSET_PREFIX):
            source = source[1:]
        if source not in known:
            raise MomugError(f"clip {motion_id} of {folder.root} is not in its meta.jsonl")
        out.append(known[source])
    return out


def measure_latent_scale(batches: LatentBatches, n: int = 256) -> float:
    rng = np.random.default_rng(0)
    zs = [batches.encode(batches.folder.sample(int(i), rng, batches.s.max_frames)[0])
          for i in rng.integers(0, len(batches.folder), n)]
    return float(torch.cat(zs).std())


def train_stream(cfg: StreamTrainConfig, resume: bool = True, progress: bool = True,
                 stop_after: int | None = None) -> Path:
    """Train (or resume) to [train] max_steps, or stop and save at step stop_after (schedule kept)."""
    from tqdm.auto import tqdm

    s = cfg.train
    accelerator = make_accelerator(s.mixed_precision, s.seed)
    out = Path(cfg.output)
    state_path = out / STATE_NAME
    resuming = resume and state_path.is_file() and sckpt.is_stream_checkpoint(out)

    train_folder = MotionTextFolder(cfg.data, s.split)
    try:
        val_folder = MotionTextFolder(cfg.data, "val")
    except MomugError:
        val_folder = None
    if resuming:
        model, vae = sckpt.from_pretrained(out, check_licence=False)  # its own run
        accelerator.print(f"momug stream train: resuming from {out}")
    else:
        # A seeded run keeps generating its source's latents: that checkpoint's VAE unless one is named.
        vae = V.from_pretrained(cfg.vae if cfg.vae or not cfg.init_from else Path(cfg.init_from) / sckpt.VAE_FOLDER)
        if vae.config.feature_dim != train_folder.feature_dim:
            raise MomugError(f"the VAE reads {vae.config.feature_dim}-dim features, {cfg.data} has "
                             f"{train_folder.feature_dim}")
        cfg.model.latent_dim = vae.config.latent_dim
        model = sckpt.build_stream_model(cfg.model)
        if cfg.init_from:
            # Its latent scale too: the seeded heads and adapter read latents at that scale.
            fresh = sckpt.init_from(model, cfg.init_from)
            accelerator.print(f"momug stream train: starting from {cfg.init_from}"
                              + (f" (new: {describe_fresh(fresh)})" if fresh else ""))
        elif cfg.model.latent_scale == 1.0:
            model.config.latent_scale = measure_latent_scale(LatentBatches(train_folder, vae, model, s, s.seed))
    vae.requires_grad_(False)
    model.train()
    state = load_state(state_path) if resuming else None
    params, optimizer, scheduler, step, _ = make_optimizer(model, s, state)
    ema = start_average(params, s.ema_decay, state)
    batches = LatentBatches(train_folder, vae, model, s, s.seed + accelerator.process_index, s.text_dropout,
                            s.continuation_fraction)
    val = ([LatentBatches(val_folder, vae, model, s, s.seed + 10_000).batch(k) for k in range(s.val_batches)]
           if val_folder is not None else [])
    model, optimizer, scheduler = accelerator.prepare(model, optimizer, scheduler)
    core = accelerator.unwrap_model(model)
    log = open_run_folder(accelerator, out, cfg.to_dict())
    metrics_path = out / "metrics.jsonl"

    from momug.licences import run_licence

    # As the diffusion trainer: the corpus's terms and the init_from checkpoint's go with the weights.
    terms = run_licence(cfg.data, cfg.init_from)

    def save():
        accelerator.wait_for_everyone()
        if accelerator.is_main_process:
            save_with_average(lambda folder: sckpt.save_pretrained(core, vae, folder), out, terms, ema)
            save_state(state_path, optimizer, scheduler, step, 0, s.seed, ema)

    keys = (("loss", "flow", "end", "lm") + (("side",) if s.side_contrast_weight > 0 else ())
            + (("prompt",) if s.prompt_contrast_weight > 0 else ()) + (("guided",) if s.guided_onset_weight > 0 else ()))
    running, n_running = dict.fromkeys(keys, 0.0), 0
    end = s.max_steps if stop_after is None else min(s.max_steps, stop_after)
    bar = tqdm(total=end, initial=step, desc="stream train",
               disable=not (progress and accelerator.is_main_process), dynamic_ncols=True)
    start = time.time()
    while step < end:
        b = batches.batch(step)
        g = torch.Generator().manual_seed(s.seed * 1_000_003 + step)
        losses = model(b["texts"], b["latents"], generator=g, captions=b["captions"],
                       caption_latents=b["caption_latents"], lm_weight=s.lm_weight, targets_from=b["targets_from"],
                       onset=(s.onset_latents, s.onset_weight), swapped_texts=b["swapped_texts"],
                       side_contrast=(s.side_contrast_latents, s.side_contrast_weight, s.side_contrast_margin),
                       mismatched_texts=b["mismatched_texts"],
                       prompt_contrast=(s.prompt_contrast_from, s.prompt_contrast_to, s.prompt_contrast_weight,
                                        s.prompt_contrast_margin),
                       guided_rows=b["guided_rows"],
                       guided_onset=(s.guided_onset_latents, s.guided_onset_weight, s.guided_onset_scale))
        optimizer_step(accelerator, losses, params, optimizer, scheduler, s.grad_clip, step)
        if ema is not None:
            ema.update()
        step += 1
        bar.update(1)
        for k in keys:
            running[k] += float(losses[k].detach())
        n_running += 1
        if step % s.log_every == 0 or step == end:
            avg = {k: v / n_running for k, v in running.items()}
            bar.set_postfix(flow=f"{avg['flow']:.3f}", lm=f"{avg['lm']:.3f}")
            log({"split": "train", "step": step, "lr": scheduler.get_last_lr()[0],
                 "processes": accelerator.num_processes, "elapsed_s": round(time.time() - start, 1), **avg})
            running, n_running = dict.fromkeys(keys, 0.0), 0
        if val and accelerator.is_main_process and (step % s.val_every == 0 or step == end):
            for split, metrics in validate_with_average(lambda: validate(core, val, s), ema):
                log({"split": split, "step": step, **metrics})
            plot_metrics(metrics_path, out / "loss.png", PANELS)
        if step % s.save_every == 0 or step == end:
            save()
    bar.close()
    accelerator.wait_for_everyone()
    return out


@torch.no_grad()
def validate(model, batches: list[dict], s: StreamTrainSettings) -> dict[str, float]:
    was = model.training
    model.eval()
    totals = {}
    for k, b in enumerate(batches):
        g = torch.Generator().manual_seed(1234 + k)  # the same noise every time: curves comparable
        out = model.training_loss(b["texts"], b["latents"], generator=g, captions=b["captions"],
                                  caption_latents=b["caption_latents"], lm_weight=s.lm_weight,
                                  targets_from=b["targets_from"])
        for key, v in out.items():
            totals[key] = totals.get(key, 0.0) + float(v)
    model.train(was)
    return {k: v / len(batches) for k, v in totals.items()}


__all__ = ["StreamTrainConfig", "StreamTrainSettings", "load_stream_config", "train_stream"]
