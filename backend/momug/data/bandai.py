"""The Bandai-Namco Research Motion Dataset (github.com/BandaiNamcoResearchInc/
Bandai-Namco-Research-Motiondataset, arXiv 2306.08861; CC BY-NC 4.0) as a captioned corpus.

Each clip is labelled with a content (walk, wave-left-hand, ...) and a style (elderly, tired, ...),
in its file name `dataset-N_CONTENT_STYLE_NNN.bvh` and in a JSON file beside it
({"content": i, "style": j}, names in the data set's cfg/content_label.txt and style_label.txt).
Captions are written from the two labels in many wordings: a subject ("a person", "an old man"),
the content as a verb phrase ("walks forward", "waves the left hand") and the style as people
say it ("slowly, like an old person", "cheerfully"). The side and the turning direction always
come from the label. Some wordings are held out: they never reach texts/, and are kept in
meta.jsonl (heldout_captions) for evaluating wordings the model never saw.

The data set's files are never copied into this repository: the importer reads them from the
user's copy and writes the corpus wherever the user says.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import numpy as np

from momug.errors import MomugError

LICENCE = "CC BY-NC 4.0"
ATTRIBUTION = ("Bandai-Namco-Research-Motiondataset (c) 2022 Bandai Namco Research Inc., CC BY-NC 4.0, "
               "https://github.com/BandaiNamcoResearchInc/Bandai-Namco-Research-Motiondataset")
FILE_PATTERN = re.compile(r"^dataset-(\d+)_([a-z\-]+)_([a-z\-]+)_(\d+)$")

# content -> (kind, side, direction, train verb phrases, held-out verb phrases).
# kind is what caption checks look for; side is the hand or None; direction the travel or turn.
CONTENTS: dict[str, tuple] = {
    "walk": ("walk", None, "forward", ("walks forward", "walks ahead", "walks straight ahead", "takes a walk forward"),
             ("strolls ahead",)),
    "run": ("run", None, "forward", ("runs forward", "runs ahead", "jogs forward", "runs straight ahead"),
            ("goes for a run",)),
    "dash": ("run", None, "forward", ("dashes forward", "runs forward at full speed", "runs fast straight ahead"),
             ("races ahead",)),
    "walk-back": ("walk", None, "backward", ("walks backward", "walks backwards", "steps backward"),
                  ("retreats walking in reverse",)),
    "walk-left": ("walk", None, "left", ("walks to the left", "walks sideways to the left", "moves to the left"),
                  ("heads off to the left",)),
    "walk-right": ("walk", None, "right", ("walks to the right", "walks sideways to the right", "moves to the right"),
                   ("heads off to the right",)),
    "walk-turn-left": ("turn", None, "left", ("walks and turns left", "walks forward and turns to the left",
                                              "turns left while walking", "walks in a curve to the left"),
                       ("veers to the left on foot",)),
    "walk-turn-right": ("turn", None, "right", ("walks and turns right", "walks forward and turns to the right",
                                                "turns right while walking", "walks in a curve to the right"),
                        ("veers to the right on foot",)),
    "bow": ("bow", None, None, ("bows", "takes a bow", "bows politely", "bends forward in a bow"),
            ("greets with a deep bow",)),
    "bye": ("wave", None, None, ("waves goodbye", "waves a hand goodbye", "says goodbye with a wave"),
            ("bids farewell with a hand",)),
    "byebye": ("wave", None, None, ("waves goodbye eagerly", "waves bye bye", "keeps waving goodbye"),
               ("bids a long farewell",)),
    "guide": ("gesture", None, None, ("shows the way with a hand", "points the way", "guides someone with a gesture"),
              ("directs a visitor onward",)),
    "call": ("gesture", None, None, ("calls someone over", "beckons someone to come", "calls out and waves someone over"),
             ("summons somebody nearby",)),
    "respond": ("gesture", None, None, ("answers a call", "responds to someone", "replies with a gesture"),
                ("acknowledges a greeting",)),
    "punch": ("punch", None, None, ("throws a punch", "punches", "punches forward"), ("lands a jab",)),
    "kick": ("kick", None, None, ("kicks", "does a kick", "kicks forward"), ("delivers a kick",)),
    "slash": ("slash", None, None, ("slashes with a sword", "swings a sword", "cuts with a blade"),
              ("strikes with a katana",)),
    "dance-short": ("dance", None, None, ("dances", "does a short dance", "dances to music"), ("grooves briefly",)),
    "dance-long": ("dance", None, None, ("dances", "does a long dance", "dances to music"), ("grooves for a while",)),
    "wave-both-hands": ("wave", "both", None, ("waves both hands", "waves with both hands", "waves both arms"),
                        ("greets with both palms",)),
    "wave-left-hand": ("wave", "left", None, ("waves the left hand", "waves with the left hand",
                                              "waves their left hand"), ("greets with the left palm",)),
    "wave-right-hand": ("wave", "right", None, ("waves the right hand", "waves with the right hand",
                                                "waves their right hand"), ("greets with the right palm",)),
    "raise-up-both-hands": ("raise", "both", None, ("raises both hands", "lifts both arms up", "puts both hands up"),
                            ("reaches both palms skyward",)),
    "raise-up-left-hand": ("raise", "left", None, ("raises the left hand", "lifts the left arm up",
                                                   "puts the left hand up"), ("reaches the left palm skyward",)),
    "raise-up-right-hand": ("raise", "right", None, ("raises the right hand", "lifts the right arm up",
                                                     "puts the right hand up"), ("reaches the right palm skyward",)),
}

# style -> (style family for checks, subjects, adverbial phrases, held-out subject, held-out phrase).
# Families merge the two data sets' names for one style (old/elderly, tired/exhausted, ...).
STYLES: dict[str, tuple] = {
    "normal": ("normal", ("a person", "someone", "a man", "a woman"), ("", "normally", "in an ordinary way"),
               "somebody", "in a plain manner"),
    "happy": ("happy", ("a happy person", "a cheerful person"), ("happily", "cheerfully", "joyfully"),
              "a delighted individual", "with glee"),
    "sad": ("sad", ("a sad person", "a sad man"), ("sadly", "gloomily", "with a sad air"),
            "a sorrowful individual", "in sorrow"),
    "angry": ("angry", ("an angry person", "an angry man"), ("angrily", "furiously", "in anger"),
              "an irritated individual", "in a rage"),
    "proud": ("proud", ("a proud person", "a confident person"), ("proudly", "confidently", "with pride"),
              "a self-assured individual", "with a haughty air"),
    "not-confident": ("timid", ("a timid person", "a shy person", "an unsure person"), ("timidly", "shyly", "nervously"),
                      "a hesitant individual", "without any confidence"),
    "masculinity": ("masculine", ("a macho man", "a manly person"), ("in a masculine way", "in a macho way", "manfully"),
                    "a burly individual", "like a tough guy"),
    "masculine": ("masculine", ("a macho man", "a manly person"), ("in a masculine way", "in a macho way", "manfully"),
                  "a burly individual", "like a tough guy"),
    "feminine": ("feminine", ("a graceful woman", "a ladylike person"), ("in a feminine way", "gracefully", "daintily"),
                 "an elegant individual", "like a lady"),
    "childish": ("child", ("a child", "a little kid", "a small child"), ("like a child", "childishly", "playfully"),
                 "a small individual", "like a toddler"),
    "old": ("old", ("an old man", "an elderly person", "an old person"), ("like an old person", "slowly, like the elderly",
                                                                          "stiffly with age"),
            "an aged individual", "like a grandparent"),
    "elderly": ("old", ("an old man", "an elderly person", "an old person"), ("like an old person",
                                                                              "slowly, like the elderly",
                                                                              "stiffly with age"),
                "an aged individual", "like a grandparent"),
    "tired": ("tired", ("a tired person", "an exhausted person", "a weary man"), ("tiredly", "wearily", "with exhaustion"),
              "a worn-out individual", "dragging with fatigue"),
    "exhausted": ("tired", ("a tired person", "an exhausted person", "a weary man"), ("tiredly", "wearily",
                                                                                      "with exhaustion"),
                  "a worn-out individual", "dragging with fatigue"),
    "active": ("active", ("an energetic person", "a lively person"), ("energetically", "briskly", "with lots of energy"),
               "a vigorous individual", "full of pep"),
    "youthful": ("young", ("a young person", "a youthful person", "a young man"), ("youthfully", "like a teenager",
                                                                                "with the bounce of youth"),
                 "a teenaged individual", "with a spring in the step"),
    "musical": ("musical", ("a performer", "a musical actor"), ("theatrically", "like in a musical", "rhythmically"),
                "a showman", "as if on stage"),
    "giant": ("giant", ("a giant", "a huge person"), ("like a giant", "heavily, like a giant", "with huge heavy steps"),
              "a colossal individual", "with titanic weight"),
    "chimpira": ("thug", ("a thug", "a street punk"), ("with a thug's swagger", "like a street thug", "with a swagger"),
                 "a hoodlum", "like a gangster"),
}
# The check vocabulary of each style family: a caption names the style if it says one of these.
STYLE_WORDS: dict[str, set[str]] = {
    "happy": {"happy", "happily", "cheerful", "cheerfully", "joyfully", "joyful", "delighted", "glee"},
    "sad": {"sad", "sadly", "gloomily", "gloomy", "sorrowful", "sorrow"},
    "angry": {"angry", "angrily", "furiously", "furious", "anger", "irritated", "rage"},
    "proud": {"assured", "proud", "proudly", "confident", "confidently", "pride", "haughty"},
    "timid": {"confidence", "timid", "timidly", "shy", "shyly", "unsure", "nervously", "nervous", "hesitant"},
    "masculine": {"macho", "manly", "masculine", "manfully", "burly", "tough"},
    "feminine": {"feminine", "graceful", "gracefully", "ladylike", "daintily", "elegant", "lady"},
    "child": {"small", "child", "kid", "childishly", "playfully", "toddler"},
    "old": {"old", "elderly", "aged", "age", "grandparent"},
    "tired": {"worn", "tired", "tiredly", "exhausted", "weary", "wearily", "exhaustion", "fatigue"},
    "active": {"energetic", "energetically", "lively", "briskly", "energy", "vigorous", "pep"},
    "young": {"young", "youth", "bounce", "youthful", "youthfully", "teenager", "teenaged", "spring"},
    "musical": {"showman", "performer", "musical", "theatrically", "rhythmically", "stage"},
    "giant": {"giant", "huge", "colossal", "titanic"},
    "thug": {"thug", "punk", "swagger", "hoodlum", "gangster"},
}
TRAIN_CAPTIONS = 6
HELDOUT_CAPTIONS = 2


def labels_from_name(path: Path) -> dict | None:
    """{'dataset', 'content', 'style', 'take'} from a Bandai file name, or None."""
    m = FILE_PATTERN.match(path.stem)
    if not m:
        return None
    return {"dataset": int(m.group(1)), "content": m.group(2), "style": m.group(3), "take": int(m.group(4))}


def labels_for(path: Path) -> dict:
    """The clip's labels: the JSON label file beside it (by the cfg/ lists) checked against the
    file name; a clash or an unknown label is an error."""
    named = labels_from_name(path)
    if named is None:
        raise MomugError(f"{path.name} is not named like a Bandai-Namco clip (dataset-N_CONTENT_STYLE_NNN)")
    label_file = path.with_suffix(".json")
    cfg = path.parent.parent / "cfg"
    if label_file.is_file() and (cfg / "content_label.txt").is_file() and (cfg / "style_label.txt").is_file():
        try:
            raw = json.loads(label_file.read_text(encoding="utf-8"))
            contents = _label_list(cfg / "content_label.txt")
            styles = _label_list(cfg / "style_label.txt")
            content, style = contents[int(raw["content"])], styles[int(raw["style"])]
        except (json.JSONDecodeError, KeyError, IndexError, ValueError, TypeError) as exc:
            raise MomugError(f"{label_file.name}: unreadable label ({exc})") from None
        if (content, style) != (named["content"], named["style"]):
            raise MomugError(f"{path.name}: its label file says {content}/{style}, its name "
                             f"{named['content']}/{named['style']}")
    if named["content"] not in CONTENTS:
        raise MomugError(f"{path.name}: unknown content '{named['content']}'")
    if named["style"] not in STYLES:
        raise MomugError(f"{path.name}: unknown style '{named['style']}'")
    return named


def _label_list(path: Path) -> list[str]:
    """cfg/*.txt lines 'dataset-1_walk' -> 'walk' (the lists are in label-index order)."""
    return [line.strip().split("_", 1)[-1] for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _rng(clip_name: str) -> np.random.Generator:
    return np.random.default_rng(int.from_bytes(hashlib.sha256(clip_name.encode()).digest()[:8], "big"))


def _sentence(subject: str, verb: str, manner: str) -> str:
    text = f"{subject} {verb}" + (f" {manner}" if manner else "")
    return text[0].upper() + text[1:] + "."


def captions_for(content: str, style: str, clip_name: str) -> tuple[list[str], list[str]]:
    """(training captions, held-out captions) for one clip, the same for the same clip name."""
    _, _, _, verbs, heldout_verbs = CONTENTS[content]
    _, subjects, manners, heldout_subject, heldout_manner = STYLES[style]
    rng = _rng(clip_name)
    neutral = STYLES["normal"][1]
    options = set()
    for verb in verbs:
        for subject in subjects:  # the style in the subject: "an old man walks forward"
            options.add(_sentence(subject, verb, ""))
        for manner in manners:  # the style as an adverb: "a person walks forward wearily"
            for subject in neutral:
                options.add(_sentence(subject, verb, manner))
    options = sorted(options)
    picked = [options[i] for i in rng.choice(len(options), size=min(TRAIN_CAPTIONS, len(options)), replace=False)]
    heldout = [
        _sentence(heldout_subject, verbs[int(rng.integers(len(verbs)))], ""),
        _sentence(neutral[int(rng.integers(len(neutral)))], heldout_verbs[0], heldout_manner),
    ][:HELDOUT_CAPTIONS]
    return picked, heldout


def heldout_vocabulary() -> set[str]:
    """Words only the held-out wordings use (a test keeps them out of every training caption)."""
    train, held = set(), set()
    for _, _, _, verbs, hv in CONTENTS.values():
        train.update(w for v in verbs for w in _words(v))
        held.update(w for v in hv for w in _words(v))
    for _, subjects, manners, hs, hm in STYLES.values():
        train.update(w for s in (*subjects, *manners) for w in _words(s))
        held.update(_words(hs) | _words(hm))
    return held - train


def _words(text: str) -> set[str]:
    return set(re.findall(r"[a-z]+", text.lower()))


# SMPL-22 joint indices used to check a label against the motion.
_HIPS, _SHOULDERS, _WRISTS = (1, 2), (16, 17), (20, 21)


def turned_way(joints: np.ndarray) -> tuple[str, float]:
    """('left' or 'right', degrees): which way the body turned over the clip, from the hips'
    facing summed frame by frame (so a turn past 180 degrees keeps its sign). Y up, left = +X
    when facing +Z, so a left turn is counterclockwise seen from above."""
    across = joints[:, _HIPS[1]] - joints[:, _HIPS[0]]
    facing = np.cross(np.array([0.0, 1.0, 0.0]), across)[:, [0, 2]]
    angle = np.unwrap(np.arctan2(facing[:, 0], facing[:, 1]))
    total = float(np.degrees(angle[-1] - angle[0]))
    return ("left" if total > 0 else "right"), total


def raised_hand(joints: np.ndarray) -> str:
    """'left' or 'right': the hand that rises higher above its shoulder during the clip."""
    lift = [float((joints[:, w, 1] - joints[:, s, 1]).max()) for w, s in zip(_WRISTS, _SHOULDERS)]
    return "left" if lift[0] > lift[1] else "right"


# A content whose side word follows the motion when its label says the other side.
_MIRROR_CONTENT = {"walk-turn-left": "walk-turn-right", "walk-turn-right": "walk-turn-left",
                   "wave-left-hand": "wave-right-hand", "wave-right-hand": "wave-left-hand",
                   "raise-up-left-hand": "raise-up-right-hand", "raise-up-right-hand": "raise-up-left-hand"}


class BandaiCaptioner:
    """Captions and labels for a Bandai clip (picklable for worker processes). The hand and the
    turning way are checked against the motion: a few clips turn the other way than their label
    says (9 of 470 turns in the release), and their captions follow the motion."""

    def __call__(self, path: Path, joints: np.ndarray):
        labels = labels_for(path)
        content = labels["content"]
        kind, side, direction, _, _ = CONTENTS[content]
        measured = None
        if kind == "turn":
            measured, degrees = turned_way(joints)
            if abs(degrees) > 30 and measured != direction:
                content = _MIRROR_CONTENT[content]
        elif side in ("left", "right"):
            measured = raised_hand(joints)
            if measured != side:
                content = _MIRROR_CONTENT[content]
        kind, side, direction, _, _ = CONTENTS[content]
        captions, heldout = captions_for(content, labels["style"], path.stem)
        return captions, {
            "source": "bandai", "licence": LICENCE, "attribution": ATTRIBUTION, "dataset": labels["dataset"],
            "content": content,
            "style": labels["style"], "kind": kind, "side": side, "direction": direction,
            "style_family": STYLES[labels["style"]][0], "heldout_captions": heldout,
            **({"label_content": labels["content"]} if content != labels["content"] else {}),
        }


def find_data_folder(src: Path) -> Path:
    """The repository checkout, its dataset/ folder or one data set's folder: whichever was given,
    the folder to import from (it must hold dataset-N_*.bvh files somewhere below)."""
    src = Path(src)
    if not src.is_dir():
        raise MomugError(f"Bandai-Namco data set not found at {src}: give the folder of a checkout of "
                         "github.com/BandaiNamcoResearchInc/Bandai-Namco-Research-Motiondataset")
    if not any(src.rglob("dataset-*_*.bvh")):
        raise MomugError(f"{src} holds no Bandai-Namco clips (dataset-N_CONTENT_STYLE_NNN.bvh files)")
    return src
