"""Training configuration, read from a TOML file: paths, a [model] table (MoMugConfig fields) and
a [train] table (TrainSettings fields).
Relative paths are taken from the current directory, like every other momug argument."""

from __future__ import annotations

import tomllib
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

from momug.errors import MomugError
from momug.model.config import MoMugConfig
from momug.model.prompt_reading import MOTION_ANSWERS, MOTION_QUESTIONS


@dataclass
class TrainSettings:
    batch_size: int = 8             # per process
    learning_rate: float = 5e-4
    weight_decay: float = 0.0
    warmup_steps: int = 100
    max_steps: int = 2000
    grad_clip: float = 1.0
    caption_fraction: float = 0.3   # share of motion-to-text examples in each batch
    text_dropout: float = 0.1       # classifier-free guidance: prompt dropped from t2m examples
    context_fraction: float = 0.0   # share of t2m prompts given a scene phrase ("... in the kitchen",
                                    # momug.data.prompt_context) that must not change the motion
    reading_only_fraction: float = 0.0  # share of t2m rows whose words are withheld and only the
                                    # answers to the model's prompt_questions kept (the reading
                                    # path must then carry the prompt; momug.model.prompt_reading)
    train_only: list[str] = field(default_factory=list)  # names (prefixes) of the only parameters to train,
                                    # e.g. ["reading_proj"]; empty: every trainable one
    lm_weight: float = 1.0
    diffusion_weight: float = 1.0
    text_rows: int = 0              # general-text rows added to every batch (needs general_text)
    text_tokens: int = 48           # tokens per general-text row (a random window of one text)
    text_weight: float = 1.0
    text_target: str = "kl"         # "kl": match the base model (adapter off); "ce": the text's own tokens
    root_loss_weight: float = 1.0   # weight of the root features (travel, turning) in the diffusion loss
    log_every: int = 10
    val_every: int = 200
    val_batches: int = 4
    save_every: int = 100
    ema_decay: float = 0.0          # > 0: keep a moving average of the weights, saved in OUT/ema/
                                    # (0.99 averages about the last 100 steps; momug.train.ema)
    seed: int = 0
    split: str = "train"            # ids file in the data folder: "train", or "train_mirrored" (momug data mirror)
    num_workers: int = 0
    mixed_precision: str = "auto"   # auto: bf16 on CUDA, none on CPU


@dataclass
class TrainConfig:
    data: str
    output: str
    init_from: str | None = None    # checkpoint whose trained tensors seed a new run (fine-tuning)
    general_text: str | None = None  # JSON lines of ordinary text (momug data general-text)
    model: MoMugConfig = field(default_factory=MoMugConfig)
    train: TrainSettings = field(default_factory=TrainSettings)

    def to_dict(self) -> dict:
        return {"data": self.data, "output": self.output, "init_from": self.init_from,
                "general_text": self.general_text, "model": asdict(self.model), "train": asdict(self.train)}


def check_decay(decay: float) -> None:
    """A config's ema_decay: 0 (off) or a fraction below 1 (momug.train.ema)."""
    if not 0.0 <= decay < 1.0:
        raise MomugError(f"ema_decay must be at least 0 (off) and below 1, got {decay}")


def settings_from_table(cls, table: dict, where: str):
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(table) - known)
    if unknown:
        raise MomugError(f"unknown setting(s) in [{where}]: {', '.join(unknown)}")
    return cls(**table)


def read_run_config(path: str | Path, overrides: dict | None, path_keys: tuple[str, ...]) -> dict:
    """A run's TOML as a dict: overrides applied, top-level keys checked, data/output required, and
    the path settings (data, output and path_keys) made absolute from the current directory.
    Shared by the diffusion and the streaming trainers."""
    path = Path(path)
    try:
        raw = tomllib.loads(path.read_text())
    except OSError as exc:
        raise MomugError(f"cannot read config {path}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise MomugError(f"config {path} is not valid TOML: {exc}") from None
    for key, value in (overrides or {}).items():
        if value is not None:
            raw[key] = value
    top = sorted(set(raw) - {"data", "output", *path_keys, "model", "train"})
    if top:
        raise MomugError(f"unknown top-level setting(s) in {path}: {', '.join(top)}")
    for key in ("data", "output"):
        if not raw.get(key):
            raise MomugError(f"config {path} needs '{key}'")
    for key in ("data", "output", *path_keys):
        raw[key] = str(Path(raw[key]).resolve()) if raw.get(key) else None
    return raw


def load_train_config(path: str | Path, overrides: dict | None = None) -> TrainConfig:
    raw = read_run_config(path, overrides, ("init_from", "general_text"))
    table = dict(raw.get("model", {}))
    if table.get("prompt_questions") == "motion":  # the shipped questions, by name
        table["prompt_questions"] = list(MOTION_QUESTIONS)
    if table.get("prompt_answers") == "motion":  # the shipped answer words, by name
        table["prompt_answers"] = list(MOTION_ANSWERS)
    model = settings_from_table(MoMugConfig, table, "model")
    model.validate()
    train = settings_from_table(TrainSettings, raw.get("train", {}), "train")
    if train.text_target not in ("kl", "ce"):
        raise MomugError(f"text_target must be 'kl' or 'ce', got {train.text_target!r}")
    for name in ("context_fraction", "reading_only_fraction"):
        if not 0.0 <= getattr(train, name) <= 1.0:
            raise MomugError(f"{name} must be between 0 and 1, got {getattr(train, name)}")
    if train.reading_only_fraction and not model.prompt_questions:
        raise MomugError(f"config {path}: reading_only_fraction needs [model] prompt_questions")
    check_decay(train.ema_decay)
    if train.text_rows < 0:
        raise MomugError(f"text_rows must be 0 or more, got {train.text_rows}")
    if train.text_rows and not raw["general_text"]:
        raise MomugError(f"config {path}: text_rows = {train.text_rows} needs general_text = FILE "
                         "(make one with: momug data general-text --out FILE)")
    return TrainConfig(data=raw["data"], output=raw["output"], init_from=raw["init_from"],
                       general_text=raw["general_text"], model=model, train=train)
