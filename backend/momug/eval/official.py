"""Guo et al.'s released text/motion matching evaluator (the one published numbers use), when the
user supplies it. Nothing of it ships with momug.

    momug eval t2m ... --official-evaluator DIR --glove GLOVE_DIR

DIR is the released `checkpoints/t2m` (HumanML3D) or `checkpoints/kit` (KIT-ML) folder, or any
folder holding, anywhere below it:
    finest.safetensors  or  finest.tar   weights with the groups text_encoder / movement_encoder /
                                         motion_encoder (the .tar is read with
                                         torch.load(weights_only=True), never a full unpickle;
                                         in a .safetensors file, keys are `<group>.<parameter>`)
    meta/mean.npy, meta/std.npy          feature statistics the evaluator was trained with
                                         (optional: else the data folder's Mean.npy/Std.npy)
GLOVE_DIR holds our_vab_data.npy (word vectors) and our_vab_words.pkl (the word list; read by an
unpickler that refuses every class, since it is a plain list of strings) or our_vab_words.txt
(one word a line).

Captions go in as HumanML3D word/POS token strings (texts/*.txt carry them; generated captions are
tagged by momug.data.synth.tagging). Layer sizes are read from the weights.
"""

from __future__ import annotations

import io
import pickle
from pathlib import Path

import numpy as np
import torch
from torch import nn

from momug.errors import MomugError

UNIT = 4
MAX_WORDS = 20
# Part-of-speech slots of the one-hot vector, with the evaluator's five "very important" word groups.
POS_SLOTS = ["VERB", "NOUN", "DET", "ADP", "NUM", "AUX", "PRON", "ADJ", "ADV",
             "Loc_VIP", "Body_VIP", "Obj_VIP", "Act_VIP", "Desc_VIP", "OTHER"]
VIP_WORDS = {
    "Loc_VIP": "left right clockwise counterclockwise anticlockwise forward back backward up down straight curve",
    "Body_VIP": "arm chin foot feet face hand mouth leg waist eye knee shoulder thigh",
    "Obj_VIP": "stair dumbbell chair window floor car ball handrail baseball basketball",
    "Act_VIP": "walk run swing pick bring kick put squat throw hop dance jump turn stumble stop sit lift lower "
               "raise wash stand kneel stroll rub bend balance flap jog shuffle lean rotate spin spread climb",
    "Desc_VIP": "slowly carefully fast careful slow quickly happy angry sad happily angrily sadly",
}
VIP_OF = {w: group for group, ws in VIP_WORDS.items() for w in ws.split()}


class _MovementEncoder(nn.Module):
    def __init__(self, d_in: int, hidden: int, d_out: int):
        super().__init__()
        self.main = nn.Sequential(nn.Conv1d(d_in, hidden, 4, 2, 1), nn.Dropout(0.2), nn.LeakyReLU(0.2),
                                  nn.Conv1d(hidden, d_out, 4, 2, 1), nn.Dropout(0.2), nn.LeakyReLU(0.2))
        self.out_net = nn.Linear(d_out, d_out)

    def forward(self, x):
        return self.out_net(self.main(x.transpose(1, 2)).transpose(1, 2))


class _BiGRUEncoder(nn.Module):
    """Bidirectional GRU over a sequence; the two final states -> MLP. pos_dim adds the text side's
    part-of-speech projection."""

    def __init__(self, d_in: int, hidden: int, d_out: int, pos_dim: int | None = None):
        super().__init__()
        if pos_dim is not None:
            self.pos_emb = nn.Linear(pos_dim, d_in)
        self.input_emb = nn.Linear(d_in, hidden)
        self.gru = nn.GRU(hidden, hidden, batch_first=True, bidirectional=True)
        self.output_net = nn.Sequential(nn.Linear(hidden * 2, hidden), nn.LayerNorm(hidden), nn.LeakyReLU(0.2),
                                        nn.Linear(hidden, d_out))
        self.hidden = nn.Parameter(torch.zeros(2, 1, hidden))

    def forward(self, x, lengths, pos=None):
        if pos is not None:
            x = x + self.pos_emb(pos)
        packed = nn.utils.rnn.pack_padded_sequence(self.input_emb(x), lengths.cpu(), batch_first=True,
                                                   enforce_sorted=False)
        _, last = self.gru(packed, self.hidden.repeat(1, x.shape[0], 1))
        return self.output_net(torch.cat([last[0], last[1]], dim=-1))


# ----------------------------------------------------------------------------- files
def _find_one(root: Path, names: list[str]) -> Path | None:
    for name in names:
        hits = sorted(root.rglob(name)) if root.is_dir() else []
        if len(hits) > 1:
            raise MomugError(f"{root} holds several {name} files ({', '.join(str(h) for h in hits[:3])}); "
                             "point --official-evaluator at one dataset's folder (e.g. checkpoints/t2m)")
        if hits:
            return hits[0]
    return None


def read_weights(path: Path) -> dict[str, dict[str, torch.Tensor]]:
    """{group: state_dict} for text_encoder, movement_encoder, motion_encoder."""
    groups = ("text_encoder", "movement_encoder", "motion_encoder")
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        flat = load_file(str(path))
        state = {g: {k[len(g) + 1:]: v for k, v in flat.items() if k.startswith(g + ".")} for g in groups}
    else:
        try:
            state = torch.load(str(path), map_location="cpu", weights_only=True)
        except Exception as exc:  # noqa: BLE001 - any failure means we will not unpickle it
            raise MomugError(
                f"could not read {path} with torch.load(weights_only=True) ({type(exc).__name__}: {exc}). "
                "momug does not fully unpickle downloaded files. Convert it once, in an environment you "
                "trust, to finest.safetensors with keys '<group>.<parameter>' for the groups "
                f"{', '.join(groups)}, and put it beside the .tar") from None
    missing = [g for g in groups if not state.get(g)]
    if missing:
        raise MomugError(f"{path} lacks the evaluator weights {', '.join(missing)}")
    return {g: state[g] for g in groups}


class _NoClasses(pickle.Unpickler):
    def find_class(self, module, name):
        raise pickle.UnpicklingError(f"refusing to load {module}.{name}: only plain lists/strings are expected")


def read_word_list(glove: Path) -> list[str]:
    txt, pkl = glove / "our_vab_words.txt", glove / "our_vab_words.pkl"
    if txt.is_file():
        return [w for w in txt.read_text(encoding="utf-8").splitlines() if w]
    if not pkl.is_file():
        raise MomugError(f"GloVe folder {glove} has neither our_vab_words.pkl nor our_vab_words.txt")
    try:
        words = _NoClasses(io.BytesIO(pkl.read_bytes())).load()
    except Exception as exc:  # noqa: BLE001
        raise MomugError(f"could not read {pkl} as a plain list of words: {exc}") from None
    if not (isinstance(words, (list, tuple)) and all(isinstance(w, str) for w in words)):
        raise MomugError(f"{pkl} is not a list of words")
    return list(words)


class WordVectors:
    """GloVe vectors + part-of-speech one-hots for HumanML3D `word/POS` tokens."""

    def __init__(self, glove: str | Path):
        glove = Path(glove)
        data = glove / "our_vab_data.npy"
        if not data.is_file():
            raise MomugError(f"GloVe folder {glove} lacks our_vab_data.npy (pass --glove DIR of the released "
                             "GloVe files: our_vab_data.npy, our_vab_words.pkl)")
        vectors = np.load(data, allow_pickle=False).astype(np.float32)
        words = read_word_list(glove)
        if len(words) != len(vectors):
            raise MomugError(f"{glove}: {len(words)} words but {len(vectors)} vectors")
        self.index = {w: i for i, w in enumerate(words)}
        self.vectors = vectors
        if "unk" not in self.index:
            raise MomugError(f"{glove}: the word list has no 'unk' entry")

    def __call__(self, token: str) -> tuple[np.ndarray, np.ndarray]:
        word, _, pos = token.partition("/")
        one_hot = np.zeros(len(POS_SLOTS), np.float32)
        if word in self.index:
            slot = VIP_OF.get(word, pos if pos in POS_SLOTS else "OTHER")
            one_hot[POS_SLOTS.index(slot)] = 1.0
            return self.vectors[self.index[word]], one_hot
        one_hot[POS_SLOTS.index("OTHER")] = 1.0
        return self.vectors[self.index["unk"]], one_hot

    def sentence(self, tokens: str) -> tuple[np.ndarray, np.ndarray, int]:
        toks = ["sos/OTHER"] + tokens.split()[:MAX_WORDS] + ["eos/OTHER"]
        n = len(toks)
        toks += ["unk/OTHER"] * (MAX_WORDS + 2 - n)
        words, pos = zip(*(self(t) for t in toks))
        return np.stack(words), np.stack(pos), n


# ----------------------------------------------------------------------------- evaluator
class OfficialEvaluator:
    comparable_with_literature = True
    needs_tokens = True

    def __init__(self, weights: dict, words: WordVectors, mean: np.ndarray, std: np.ndarray, device: str = "cpu",
                 name: str = "guo-et-al-official"):
        mv, mo, tx = weights["movement_encoder"], weights["motion_encoder"], weights["text_encoder"]
        conv_hidden, d_in = mv["main.0.weight"].shape[:2]
        d_move = mv["out_net.weight"].shape[0]
        self.movement = _MovementEncoder(d_in, conv_hidden, d_move)
        self.motion = _BiGRUEncoder(d_move, mo["input_emb.weight"].shape[0], mo["output_net.3.weight"].shape[0])
        word_dim, pos_dim = tx["pos_emb.weight"].shape
        self.text = _BiGRUEncoder(word_dim, tx["input_emb.weight"].shape[0], tx["output_net.3.weight"].shape[0],
                                  pos_dim=pos_dim)
        for module, state in ((self.movement, mv), (self.motion, mo), (self.text, tx)):
            module.load_state_dict(state)
            module.to(device).eval()
        self.feature_dim = d_in + 4  # the evaluator drops the 4 foot-contact channels
        if len(mean) != self.feature_dim:
            raise MomugError(f"the evaluator reads {self.feature_dim}-dim features but the statistics have "
                             f"{len(mean)}")
        self.words, self.mean, self.std = words, mean.astype(np.float32), std.astype(np.float32)
        self.device, self.name = device, name

    @classmethod
    def load(cls, folder: str | Path, glove: str | Path, data: str | Path | None = None, device: str = "cpu"):
        folder, glove = Path(folder), Path(glove)
        if not folder.is_dir():
            raise MomugError(f"official evaluator folder {folder} does not exist")
        if not glove.is_dir():
            raise MomugError(f"GloVe folder {glove} does not exist")
        path = _find_one(folder, ["finest.safetensors", "finest.tar"])
        if path is None:
            raise MomugError(f"no finest.tar or finest.safetensors under {folder} (expected the released "
                             "checkpoints/t2m or checkpoints/kit folder, with text_mot_match/model/finest.tar)")
        words = WordVectors(glove)
        mean_path = _find_one(folder, ["mean.npy"])
        std_path = mean_path.with_name("std.npy") if mean_path else None
        if mean_path is not None and std_path.is_file():
            mean, std = np.load(mean_path), np.load(std_path)
        elif data is not None and (Path(data) / "Mean.npy").is_file():
            mean, std = np.load(Path(data) / "Mean.npy"), np.load(Path(data) / "Std.npy")
        else:
            raise MomugError(f"no meta/mean.npy and meta/std.npy under {folder}, and no data folder to read "
                             "Mean.npy/Std.npy from")
        return cls(read_weights(path), words, mean, std, device=device)

    @torch.no_grad()
    def embed_texts(self, texts: list[str], tokens: list[str] | None = None, batch_size: int = 256) -> np.ndarray:
        if tokens is None or any(not t for t in tokens):
            from momug.data.synth.tagging import tokens as tag

            tokens = [t or tag(c) for c, t in zip(texts, tokens or [""] * len(texts))]
        out = []
        for i in range(0, len(tokens), batch_size):
            w, p, n = zip(*(self.words.sentence(t) for t in tokens[i:i + batch_size]))
            out.append(self.text(torch.from_numpy(np.stack(w)).to(self.device), torch.tensor(n),
                                 pos=torch.from_numpy(np.stack(p)).to(self.device)).cpu().numpy())
        return np.concatenate(out) if out else np.zeros((0, 512), np.float32)

    @torch.no_grad()
    def embed_motions(self, features: list[np.ndarray], batch_size: int = 64, max_frames: int = 196) -> np.ndarray:
        from momug.eval.matching import motion_batch

        out = []
        for i in range(0, len(features), batch_size):
            x, steps = motion_batch(features[i:i + batch_size], self.mean, self.std, UNIT, max_frames)
            moves = self.movement(x[..., :-4].to(self.device))
            out.append(self.motion(moves, steps).cpu().numpy())
        return np.concatenate(out) if out else np.zeros((0, 512), np.float32)
