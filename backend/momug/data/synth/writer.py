"""Writes a procedural corpus in the HumanML3D folder layout.

    DIR/new_joints/<id>.npy      float32 (T, 22, 3), metres, Y up
    DIR/new_joint_vecs/<id>.npy  float32 (T-1, 263), momug.motion.features.joints_to_features
    DIR/texts/<id>.txt           3+ lines `caption#lemma/POS ...#0.0#0.0`
    DIR/train.txt val.txt test.txt all.txt   ids, one per line (80 / 5 / 15 %)
    DIR/Mean.npy Std.npy         float32 (263,), HumanML3D-style statistics of the train split
    DIR/meta.jsonl               per motion: actions with parameters, measured values, frame ranges
    DIR/corpus.json              how the corpus was made (seed, count, version)

Motion i depends only on (seed, i), so the output is byte-identical for a seed whatever the
number of workers.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path

import numpy as np

from momug.errors import MomugError
from momug.motion import features
from momug.data.synth import captions, compose, tagging

CORPUS_VERSION = 1
SPLITS = (("train", 0.80), ("val", 0.05), ("test", 0.15))
FPS = 20.0


def motion_id(index: int) -> str:
    return f"{index:06d}"


def split_ids(n: int, seed: int) -> dict[str, list[str]]:
    """Deterministic 80/5/15 split of ids 0..n-1 (each list sorted)."""
    order = np.random.default_rng([seed, 7]).permutation(n)
    n_train = int(round(n * SPLITS[0][1]))
    n_val = int(round(n * SPLITS[1][1])) if n >= 20 else 0
    if n >= 3:
        n_train, n_val = min(n_train, n - 1 - n_val), n_val  # keep at least one test motion
    parts = {"train": order[:n_train], "val": order[n_train:n_train + n_val], "test": order[n_train + n_val:]}
    return {k: [motion_id(int(i)) for i in sorted(v)] for k, v in parts.items()}


def make_motion(seed: int, index: int, vocabulary: str = "base", actions: tuple[str, ...] | None = None,
                gait_seconds: tuple[float, float] | None = None, jump_heights: str = "overlap"):
    """The index-th motion of the corpus with this seed: (joints (T,22,3) float64, captions, meta).
    The captions are drawn after the motion, so the vocabulary changes the captions only. `actions`
    limits the motions to those actions (a corpus that emphasises them when merged with a full one);
    `gait_seconds` sets how long straight gaits cruise and `jump_heights` how far apart small and
    big jumps are (see compose.sample_sequence)."""
    rng = np.random.default_rng([seed, index])
    motion, body, steps = compose.sample_sequence(rng, pool=list(actions) if actions else None,
                                                  gait_seconds=gait_seconds, jump_heights=jump_heights)
    caps = captions.captions([(s["action"], s["params"]) for s in steps], rng, n=int(rng.integers(3, 6)),
                             vocabulary=vocabulary)
    meta = {
        "id": motion_id(index),
        "frames": int(len(motion.joints)),
        "fps": FPS,
        "body_scale": round(body.scale, 4),
        "captions": caps,
        "actions": steps,
    }
    return motion, caps, meta


@dataclass
class _Job:
    seed: int
    out: str
    vocabulary: str = "base"
    actions: tuple[str, ...] | None = None
    gait_seconds: tuple[float, float] | None = None
    jump_heights: str = "overlap"


def _write_one(job: _Job, index: int):
    motion, caps, meta = make_motion(job.seed, index, job.vocabulary, job.actions, job.gait_seconds,
                                     job.jump_heights)
    joints = motion.joints.astype(np.float32)
    feats = features.joints_to_features(joints)
    mid = meta["id"]
    out = Path(job.out)
    np.save(out / "new_joints" / f"{mid}.npy", joints)
    np.save(out / "new_joint_vecs" / f"{mid}.npy", feats)
    with open(out / "texts" / f"{mid}.txt", "w", encoding="utf-8") as f:
        f.write("\n".join(tagging.text_line(c) for c in caps) + "\n")
    f64 = feats.astype(np.float64)
    return meta, len(f64), f64.sum(axis=0), (f64**2).sum(axis=0)


def _worker(args):
    job, index = args
    return _write_one(job, index)


def _stats(count: int, total: np.ndarray, total_sq: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """What features.mean_std computes, from running sums (the corpus need not fit in memory)."""
    mean = total / count
    std = np.sqrt(np.maximum(total_sq / count - mean**2, 0.0))
    for group in features.humanml3d_spec().slices().values():
        std[group] = std[group].mean()
    std = np.where(std < 1e-6, 1.0, std)
    return mean.astype(np.float32), std.astype(np.float32)


def _prepare(out: Path) -> None:
    if out.exists() and not out.is_dir():
        raise MomugError(f"output path {out} exists and is not a folder")
    try:
        for sub in ("new_joints", "new_joint_vecs", "texts"):
            (out / sub).mkdir(parents=True, exist_ok=True)
        probe = out / ".write_test"
        probe.write_text("ok")
        probe.unlink()
    except OSError as exc:
        raise MomugError(f"cannot write to output folder {out}: {exc.strerror or exc}") from None


def write_corpus(out, n: int, seed: int = 0, workers: int = 2, progress: bool = True,
                 vocabulary: str = "base", actions: list[str] | None = None,
                 gait_seconds: tuple[float, float] | None = None, jump_heights: str = "overlap") -> dict:
    """Generate n motions into the folder `out`, from every action or only from `actions`, with
    straight gaits cruising for `gait_seconds` (lo, hi) when given, and small and big jumps drawn
    from overlapping or clearly apart heights (`jump_heights`, actions.JUMP_HEIGHTS).
    Returns a summary (counts, frames, seconds taken)."""
    if not isinstance(n, int) or n <= 0:
        raise MomugError(f"--n must be a positive number of motions, got {n}")
    if vocabulary not in captions.VOCABULARIES:
        raise MomugError(f"--vocabulary must be one of {', '.join(captions.VOCABULARIES)}, got {vocabulary!r}")
    if workers is None or workers < 1:
        raise MomugError(f"--workers must be at least 1, got {workers}")
    from momug.data.synth.actions import ACTIONS, JUMP_HEIGHTS

    if jump_heights not in JUMP_HEIGHTS:
        raise MomugError(f"--jump-heights must be one of {', '.join(JUMP_HEIGHTS)}, got {jump_heights!r}")
    if actions is not None:

        unknown = sorted(set(actions) - set(ACTIONS))
        if unknown or not actions:
            raise MomugError(f"--actions: unknown action(s) {', '.join(unknown) or '(none given)'}; "
                             f"known: {', '.join(sorted(ACTIONS))}")
        actions = sorted(set(actions))
    if gait_seconds is not None:
        lo, hi = (float(v) for v in gait_seconds)
        # A gait also speeds up and slows down (up to about 2 s), and a motion is at most 10 s.
        if not (np.isfinite(lo) and np.isfinite(hi) and 0.5 <= lo <= hi <= 8.0):
            raise MomugError(f"--gait-seconds must be LO,HI with 0.5 <= LO <= HI <= 8 seconds, got {lo:g},{hi:g}")
        gait_seconds = (lo, hi)
    out = Path(out)
    _prepare(out)
    started = time.perf_counter()
    splits = split_ids(n, seed)
    train = set(splits["train"])
    job = _Job(seed, str(out), vocabulary, tuple(actions) if actions else None, gait_seconds, jump_heights)
    metas: list[dict] = []
    dim = features.humanml3d_spec().dim
    total, total_sq, count = np.zeros(dim), np.zeros(dim), 0

    def consume(results):
        nonlocal total, total_sq, count
        for meta, frames, s, ss in results:
            metas.append(meta)
            if meta["id"] in train:  # summed in id order, so the statistics are reproducible
                total += s
                total_sq += ss
                count += frames

    tasks = [(job, i) for i in range(n)]
    bar = _progress(n, progress)
    if workers == 1 or n < 8:
        consume(_tick(bar, map(_worker, tasks)))
    else:
        with get_context("fork" if os.name == "posix" else "spawn").Pool(workers) as pool:
            consume(_tick(bar, pool.imap(_worker, tasks, chunksize=max(1, min(32, n // (workers * 8))))))
    if bar is not None:
        bar.close()
    if count == 0:  # tiny corpora: fall back to all motions so Mean/Std exist
        for meta in metas:
            feats = np.load(out / "new_joint_vecs" / f"{meta['id']}.npy").astype(np.float64)
            total += feats.sum(axis=0)
            total_sq += (feats**2).sum(axis=0)
            count += len(feats)
    mean, std = _stats(count, total, total_sq)
    np.save(out / "Mean.npy", mean)
    np.save(out / "Std.npy", std)
    for name, ids in splits.items():
        (out / f"{name}.txt").write_text("".join(f"{i}\n" for i in ids))
    (out / "all.txt").write_text("".join(f"{motion_id(i)}\n" for i in range(n)))
    split_of = {i: name for name, ids in splits.items() for i in ids}
    with open(out / "meta.jsonl", "w", encoding="utf-8") as f:
        for meta in metas:
            f.write(json.dumps(dict(meta, split=split_of[meta["id"]]), sort_keys=True) + "\n")
    frames = sum(m["frames"] for m in metas)
    (out / "corpus.json").write_text(json.dumps({
        "generator": "momug.data.synth", "version": CORPUS_VERSION, "seed": seed, "count": n, "fps": FPS,
        "frames": frames, "splits": {k: len(v) for k, v in splits.items()},
        # Named only when not the base one, so base corpora stay as they always were.
        **({"vocabulary": vocabulary} if vocabulary != "base" else {}),
        **({"actions": list(actions)} if actions else {}),
        **({"gait_seconds": list(gait_seconds)} if gait_seconds else {}),
        **({"jump_heights": jump_heights} if jump_heights != "overlap" else {}),
    }, indent=2, sort_keys=True) + "\n")
    elapsed = time.perf_counter() - started
    return {"count": n, "frames": frames, "hours": frames / FPS / 3600, "seconds": elapsed, "out": str(out),
            "splits": {k: len(v) for k, v in splits.items()}}


def _progress(n: int, enabled: bool):
    if not enabled:
        return None
    try:
        from tqdm import tqdm
    except ImportError:
        return None
    return tqdm(total=n, unit="motion", desc="synth", smoothing=0.05)


def _tick(bar, results):
    for r in results:
        if bar is not None:
            bar.update(1)
        yield r


def read_meta(folder) -> list[dict]:
    with open(Path(folder) / "meta.jsonl", encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]
