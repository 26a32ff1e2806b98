"""MoMugConfig: everything needed to rebuild a MoMug model around its base LLM (saved as config.json)."""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

from momug.errors import MomugError

SPECIAL_TOKENS = ("som", "eom", "timestep", "caption")  # start/end of motion, noise level, "describe"


def config_guidance(value, where: str = "config") -> float:
    """A checkpoint's default guidance scale as a float, or a MomugError: a finite number >= 0
    (not a bool). Shared by the diffusion and the streaming configs."""
    if not (isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) and value >= 0):
        raise MomugError(f"{where}: guidance must be a finite number >= 0, got {value!r}")
    return float(value)


PROMPT_PLACEHOLDER = "{prompt}"  # where a prompt question's template takes the prompt


def check_questions(questions) -> list[str]:
    """Prompt question templates (MoMugConfig.prompt_questions) as a list, or a MomugError: strings
    with exactly one "{prompt}"."""
    if not isinstance(questions, (list, tuple)) or not all(isinstance(q, str) for q in questions):
        raise MomugError(f"prompt_questions must be a list of strings, got {questions!r}")
    for q in questions:
        if q.count(PROMPT_PLACEHOLDER) != 1:
            raise MomugError(f"each prompt question needs exactly one {PROMPT_PLACEHOLDER}: {q[:60]!r}...")
    return list(questions)


def check_answers(answers, questions) -> list[str]:
    """Prompt answer words (MoMugConfig.prompt_answers) as a list, or a MomugError: distinct
    single words, and questions to answer them with."""
    if not isinstance(answers, (list, tuple)) or not all(isinstance(a, str) for a in answers):
        raise MomugError(f"prompt_answers must be a list of words, got {answers!r}")
    if answers and not questions:
        raise MomugError("prompt_answers needs prompt_questions to answer")
    for a in answers:
        if not a or a != a.strip() or len(a.split()) != 1:
            raise MomugError(f"each prompt answer must be one word without spaces, got {a!r}")
    if len(set(answers)) != len(answers):
        raise MomugError(f"prompt_answers has repeated words: {answers!r}")
    return list(answers)


@dataclass
class MoMugConfig:
    base_model: str = "gemma3-270m"     # see momug.model.base_llm.load_base_llm
    feature_dim: int = 263              # 263 HumanML3D, 251 KIT-ML
    fps: float = 20.0
    frames_per_token: int = 8           # motion frames folded into one LLM position
    max_frames: int = 200               # longest motion the model was trained for (joint frames)
    min_frames: int = 20
    max_text_tokens: int = 64
    motion_attention: str = "bidirectional"   # or "causal": inside the motion block
    # LoRA (peft)
    lora_rank: int = 16
    lora_alpha: int = 32
    lora_dropout: float = 0.0
    lora_targets: list[str] = field(default_factory=lambda: ["q_proj", "k_proj", "v_proj", "o_proj"])
    # Where the adapter acts: "all" positions, or "motion" only (motion tokens and the special
    # tokens; text goes through the frozen base weights, so language is kept by construction).
    adapter_scope: str = "all"
    # Diffusion
    noise_schedule: str = "cosine"
    num_train_timesteps: int = 1000
    prediction_type: str = "sample"
    noise_shift: float = 4.0            # SNR divided by noise_shift**2 (see diffusion.alpha_bars)
    timestep_dim: int = 256
    # Motion outputs also read the hidden state at <som>, which has read the whole prompt: a
    # direct path for the prompt that plain attention from noisy motion positions is slow to learn.
    prompt_summary: bool = True
    # Few-shot questions the frozen base model answers about each prompt (templates with one
    # "{prompt}"; momug.model.prompt_reading); the answer states reach the motion positions
    # through a learned projection. Empty: no reading (every checkpoint before part 20).
    prompt_questions: list[str] = field(default_factory=list)
    # When given, each question's reading is the base model's answer distribution over these words
    # (the softmax of its logits for them, a few numbers) instead of its answer state: what the
    # frozen model means, without the wording-specific rest of the state. Each word must be one
    # token after a space. Empty: answer states.
    prompt_answers: list[str] = field(default_factory=list)
    # Scale of the base model's input embeddings (RMS), measured when the model is first built, so
    # motion and special embeddings enter the LLM at the same magnitude as text.
    embed_rms: float = 1.0
    # The classifier-free guidance scale generation uses when a request gives none: chosen per
    # model on its validation split (scripts/sweep_guidance.sh), since the best scale depends on
    # the data the model was trained on.
    guidance: float = 2.5
    version: int = 1

    @property
    def token_dim(self) -> int:
        return self.feature_dim * self.frames_per_token

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True)

    @classmethod
    def from_dict(cls, data: dict) -> "MoMugConfig":
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise MomugError(f"config has unknown keys {unknown}; was it written by a newer momug?")
        data = dict(data)
        # Checkpoints written before these options existed.
        data.setdefault("prompt_summary", False)
        data.setdefault("noise_shift", 1.0)
        cfg = cls(**data)
        cfg.validate()
        return cfg

    @classmethod
    def load(cls, path: str | Path) -> "MoMugConfig":
        try:
            return cls.from_dict(json.loads(Path(path).read_text()))
        except (OSError, json.JSONDecodeError, TypeError) as exc:
            raise MomugError(f"cannot read model config {path}: {exc}") from None

    def validate(self) -> None:
        if self.frames_per_token < 1 or self.feature_dim < 1:
            raise MomugError("frames_per_token and feature_dim must be positive")
        if self.motion_attention not in ("bidirectional", "causal"):
            raise MomugError("motion_attention must be 'bidirectional' or 'causal'")
        if self.adapter_scope not in ("all", "motion"):
            raise MomugError(f"adapter_scope must be 'all' or 'motion', got {self.adapter_scope!r}")
        self.guidance = config_guidance(self.guidance)
        self.prompt_questions = check_questions(self.prompt_questions)
        self.prompt_answers = check_answers(self.prompt_answers, self.prompt_questions)
        if not 1 <= self.min_frames <= self.max_frames:
            raise MomugError("need 1 <= min_frames <= max_frames")
