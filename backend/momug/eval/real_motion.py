"""What real motion looks like, and whether captions say what a real clip is.

For an imported real corpus (`momug data bandai`, or any import whose meta.jsonl has a content
`kind`, and where known `side`, `direction` and `style_family`):

- physical statistics of the real clips, the bar generated motion is held to: foot skating,
  jitter, bone-length error, largest one-frame step (momug.eval.physics), and for walks and runs
  the travel speed and stride length (the distance between one foot's successive plants), also
  per style, since a style is in good part a speed and a stride;
- caption checks: does a caption name the content (walk / run / turn / wave / raise / ...), the
  hand and the way (left, right, both, backward), and, separately, the style (for the clips
  that have one: a normal-style clip is not counted there).
"""

from __future__ import annotations

import json
import re
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np

from momug.errors import MomugError
from momug.eval import physics
from momug.motion.cleanup import CONTACT_HEIGHT
from momug.motion.travel import root_path_length

# A caption names a content kind if it uses one of these words.
KIND_WORDS: dict[str, set[str]] = {
    "walk": {"walk", "walks", "walking", "strolls", "stroll", "steps", "step", "marches", "trudges", "paces",
             "moves"},  # "moves to the left": a sidestepping walk named by its way
    "run": {"run", "runs", "running", "jogs", "jog", "sprints", "sprint", "dashes", "dash", "races"},
    "turn": {"turn", "turns", "turning", "curve", "veers", "pivots"},
    "wave": {"wave", "waves", "waving", "goodbye", "bye"},
    "raise": {"raise", "raises", "raising", "lifts", "lift", "up", "skyward"},
    "bow": {"bow", "bows", "bowing"},
    "gesture": {"gesture", "gestures", "beckons", "calls", "points", "guides", "answers", "responds", "replies",
                "shows", "directs", "summons"},
    "punch": {"punch", "punches", "jab", "boxes"},
    "kick": {"kick", "kicks", "kicking"},
    "slash": {"slash", "slashes", "sword", "blade", "cuts", "katana"},
    "dance": {"dance", "dances", "dancing", "grooves"},
}
SIDES = {"left": {"left"}, "right": {"right"}, "both": {"both"}}
WAYS = {"left": {"left"}, "right": {"right"}, "backward": {"backward", "backwards", "back", "reverse"},
        "forward": {"forward", "forwards", "ahead", "straight"}}
OPPOSITE = {"left": "right", "right": "left", "backward": "forward", "forward": "backward"}
WALK_KINDS = ("walk", "run")
MIN_CONTACT_FRAMES = 2


def _words(text: str) -> set[str]:
    return set(re.findall(r"[a-z]+", text.lower()))


def style_words() -> dict[str, set[str]]:
    from momug.data.bandai import STYLE_WORDS

    return STYLE_WORDS


def read_real_meta(data) -> dict[str, dict]:
    """meta.jsonl rows that describe real clips (they carry a content 'kind')."""
    path = Path(data) / "meta.jsonl"
    if not path.is_file():
        raise MomugError(f"{data} has no meta.jsonl: real-motion checks need an imported corpus")
    rows = (json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip())
    return {r["id"]: r for r in rows if r.get("kind")}


def _named(seen: set[str], value: str, table: dict[str, set[str]]) -> bool:
    opposite = OPPOSITE.get(value)
    return bool(seen & table[value]) and not (opposite and seen & table[opposite])


def check_real_caption(caption: str, row: dict) -> dict[str, bool]:
    """The checks that apply to this clip, each True (passed) or False."""
    seen = _words(caption)
    out = {}
    kind = row["kind"]
    if kind in KIND_WORDS:
        out["content"] = bool(seen & KIND_WORDS[kind])
        side, way = row.get("side"), row.get("direction")
        if side in SIDES:
            # "both hands" must say both; one hand must be named and the other not.
            out["content"] &= _named(seen, side, SIDES) and (side == "both" or "both" not in seen)
        if way in ("left", "right", "backward"):
            out["content"] &= _named(seen, way, WAYS)
        elif way == "forward":
            out["content"] &= not seen & WAYS["backward"]
    family = row.get("style_family")
    table = style_words()
    # A normal-style clip has no style to name (a caption that names none would pass for free),
    # so the style check counts only the clips with one.
    if family in table:
        others = set().union(*(w for f, w in table.items() if f != family))
        out["style"] = bool(seen & table[family]) and not seen & others
    return out


def real_caption_checks(captions: dict[str, str], meta: dict[str, dict]) -> dict:
    """Pass rates of the content and style checks over the real clips among captions (id -> caption)."""
    passed: Counter = Counter()
    counted: Counter = Counter()
    by_kind: dict[str, Counter] = defaultdict(Counter)
    failures = []
    for clip_id, caption in captions.items():
        row = meta.get(clip_id)
        if row is None:
            continue
        result = check_real_caption(caption, row)
        for name, ok in result.items():
            counted[name] += 1
            passed[name] += ok
        if "content" in result:
            by_kind[row["kind"]]["n"] += 1
            by_kind[row["kind"]]["passed"] += result["content"]
        if not all(result.values()) and len(failures) < 10:
            failures.append({"id": clip_id, "caption": caption, "content": row.get("content"),
                             "style": row.get("style"), "checks": result})
    rates = {name: {"pass_rate": passed[name] / counted[name], "n": counted[name]} for name in sorted(counted)}
    kinds = {k: {"pass_rate": c["passed"] / c["n"], "n": c["n"]} for k, c in sorted(by_kind.items())}
    return {"checks": rates, "content_by_kind": kinds, "failures": failures}


# ----------------------------------------------------------------------------------------------
# Physical statistics


def gait(joints: np.ndarray, fps: float) -> dict[str, float]:
    """Travel speed (m/s, root on the ground plane, start to end over time) and the mean stride
    (m: distance between successive plants of the same foot; NaN without two plants)."""
    joints = np.asarray(joints, dtype=np.float64)
    seconds = (len(joints) - 1) / fps
    travel = root_path_length(joints)
    strides = []
    for foot in (10, 11):  # SMPL-22 toes: planted when low and still
        toe = joints[:, foot]
        speed = np.r_[0.0, np.linalg.norm(np.diff(toe[:, [0, 2]], axis=0), axis=-1) * fps]
        planted = (toe[:, 1] < CONTACT_HEIGHT) & (speed < 0.3)
        plants = []
        start = None
        for t, p in enumerate(np.r_[planted, False]):
            if p and start is None:
                start = t
            elif not p and start is not None:
                if t - start >= MIN_CONTACT_FRAMES:
                    plants.append(toe[start:t, [0, 2]].mean(axis=0))
                start = None
        strides += [float(np.linalg.norm(b - a)) for a, b in zip(plants, plants[1:])]
    return {"speed_m_s": float(travel / seconds) if seconds > 0 else 0.0,
            "stride_m": float(np.mean(strides)) if strides else float("nan")}


def real_clips(data, split: str = "test", limit: int | None = None) -> tuple[Path, dict[str, dict], list[str]]:
    """The corpus folder, its real clips' meta rows, and the split's real clip ids (the first
    `limit` of them when given)."""
    from momug.data.humanml3d import read_split

    root = Path(data)
    meta = read_real_meta(root)
    ids = [i for i in read_split(root, split) if i in meta]
    if not ids:
        raise MomugError(f"{root}/{split}.txt lists no real clips (meta.jsonl rows with a content kind)")
    if limit is not None:
        if limit < 1:
            raise MomugError("--limit must be at least 1")
        ids = ids[:limit]
    return root, meta, ids


def mean_physics(reports: list[dict[str, float]]) -> dict[str, float]:
    """Means over clips of momug.eval.physics.physics_report's figures."""
    return {k: float(np.mean([r[k] for r in reports])) for k in reports[0]}


def real_physics(data, split: str = "test", fps: float = 20.0, limit: int | None = None) -> dict:
    """Physical statistics of a split's real clips: means over clips, and walk/run gait per style."""
    root, meta, ids = real_clips(data, split, limit)
    reports = []
    styles: dict[str, list[dict]] = defaultdict(list)
    for motion_id in ids:
        joints = np.load(root / "new_joints" / f"{motion_id}.npy").astype(np.float64)
        reports.append(physics.physics_report(joints, fps))
        row = meta[motion_id]
        if row["kind"] in WALK_KINDS and row.get("direction") == "forward":
            styles[f"{row['kind']}/{row.get('style_family', '?')}"].append(gait(joints, fps))
    summary = mean_physics(reports)
    per_style = {name: {"n": len(g), "speed_m_s": float(np.mean([x["speed_m_s"] for x in g])),
                        "stride_m": float(np.nanmean([x["stride_m"] for x in g]))
                        if any(np.isfinite(x["stride_m"]) for x in g) else float("nan")}
                 for name, g in sorted(styles.items())}
    return {"split": split, "clips": len(ids), "physics": summary, "gait": per_style}


# ----------------------------------------------------------------------------------------------
# A model's motion against the real clips' (issue 20: skating and jitter within 1.5x the real data's)

PHYSICS_BAR = 1.5
BAR_KEYS = ("foot_skating_m_s", "jitter_m_s3")


def first_caption(root: Path, motion_id: str, row: dict) -> str:
    """The clip's first caption (texts/<id>.txt, else meta.jsonl's captions)."""
    from momug.data.humanml3d import read_captions

    path = root / "texts" / f"{motion_id}.txt"
    captions = [c.text for c in read_captions(path)] if path.is_file() else []
    captions = captions or list(row.get("captions") or [])
    if not captions:
        raise MomugError(f"clip {motion_id} has no caption to generate from")
    return captions[0]


def model_physics(pipe, data, split: str = "test", steps: int = 20, guidance: float | None = None, seed: int = 0,
                  batch_size: int = 8, limit: int | None = None, progress: bool = True) -> dict:
    """One motion per real clip of the split, from its first caption, with its length (clamped to what
    the model makes) and seed + clip index, through pipe.generate with its default cleanup (seams
    mended, planted feet held: what users get); the means over clips of the same physical statistics
    as real_physics."""
    from tqdm import tqdm

    if batch_size < 1:
        raise MomugError("--batch-size must be at least 1")
    root, meta, ids = real_clips(data, split, limit)
    lo, hi = int(round(pipe.min_seconds * pipe.fps)), int(round(pipe.max_seconds * pipe.fps))
    jobs = []
    for index, motion_id in enumerate(ids):
        frames = len(np.load(root / "new_joints" / f"{motion_id}.npy", mmap_mode="r"))
        jobs.append((motion_id, first_caption(root, motion_id, meta[motion_id]), frames,
                     min(max(frames, lo), hi), seed + index))
    reports, clips = [], []
    with tqdm(total=len(jobs), unit="clip", desc="generating", disable=not progress) as bar:
        for start in range(0, len(jobs), batch_size):
            batch = jobs[start:start + batch_size]
            motions = pipe.generate([j[1] for j in batch], [j[3] / pipe.fps for j in batch], [j[4] for j in batch],
                                    guidance=guidance, steps=steps)
            for (motion_id, prompt, real_frames, frames, clip_seed), motion in zip(batch, motions):
                report = physics.physics_report(motion.joints, motion.fps)
                reports.append(report)
                clips.append({"id": motion_id, "prompt": prompt, "seed": clip_seed, "real_frames": real_frames,
                              "frames": int(len(motion.joints)), **report})
            bar.update(len(batch))
    return {"split": split, "clips": len(ids), "physics": mean_physics(reports),
            "lengths_clamped": sum(c["frames"] != c["real_frames"] for c in clips), "per_clip": clips}


def compare_physics(model: dict[str, float], real: dict[str, float], bar: float = PHYSICS_BAR) -> dict:
    """Per statistic: model, real, model/real; skating and jitter judged against `bar` x the real."""
    rows = {}
    for key, real_value in real.items():
        # No ratio to a real zero (real clips never go below the floor): None, valid JSON, "-" printed.
        ratio = model[key] / real_value if real_value > 0 else (1.0 if model[key] == 0 else None)
        row = {"model": model[key], "real": real_value, "ratio": ratio}
        if key in BAR_KEYS:
            row["within_bar"] = ratio is not None and bool(ratio <= bar)
        rows[key] = row
    return {"bar": bar, "rows": rows, "passed": all(rows[k]["within_bar"] for k in BAR_KEYS if k in rows)}


def comparison_table(comparison: dict, model_name: str) -> str:
    """The comparison as a markdown table."""
    bar = comparison["bar"]
    lines = [f"| statistic | {model_name} | real | model/real | within {bar:g}x |", "|---|---|---|---|---|"]
    for key, row in comparison["rows"].items():
        judged = ("yes" if row["within_bar"] else "NO") if "within_bar" in row else "-"
        ratio = "-" if row["ratio"] is None else f"{row['ratio']:.2f}"
        lines.append(f"| {key} | {row['model']:.4f} | {row['real']:.4f} | {ratio} | {judged} |")
    return "\n".join(lines)
