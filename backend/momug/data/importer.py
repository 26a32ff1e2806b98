"""Any folder of motion files (BVH of any mapped skeleton, the project's .npz) as a captioned
corpus in the HumanML3D folder layout, the one the trainers and evaluators read:

    DIR/new_joints/<id>.npy      float32 (T, 22, 3), metres, Y up, floor at 0, first frame at the
                                 origin facing +Z (momug.motion.features.canonicalize)
    DIR/new_joint_vecs/<id>.npy  float32 (T-1, 263)
    DIR/texts/<id>.txt           one line per caption, HumanML3D's `caption#tags#0.0#0.0`
    DIR/train.txt val.txt test.txt all.txt
    DIR/Mean.npy Std.npy         statistics of the train split
    DIR/meta.jsonl               per clip: source file, frames, captions, labels from the captioner
    DIR/skipped.jsonl            per file not imported: why
    DIR/corpus.json              what was imported (counts, hours, the captioner)

A clip's id comes from its path relative to the source folder, and its split from a hash of that
id, so the result depends only on the files (not on their order or on the number of workers),
and adding files later does not move the others between splits. Each file leaves a record in
DIR/import/ once its outputs are written; a rerun skips the files imported before (resume) and
tries the skipped ones again (with the options given this time).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import time
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path
from typing import Callable, Iterable

import numpy as np
from tqdm import tqdm

from momug.data.synth import tagging
from momug.errors import MomugError
from momug.motion import features

FPS = 20.0
SUFFIXES = (".bvh", ".npz")
SPLITS = (("train", 0.80), ("val", 0.05), ("test", 0.15))
RECORDS = "import"
IMPORTER_VERSION = 1

# A captioner turns (source file, its motion at 20 fps) into (captions, labels for meta.jsonl),
# or None when it has no caption for the file (the file is skipped, with that reason).
Captioner = Callable[[Path, np.ndarray], "tuple[list[str], dict] | None"]


@dataclass(frozen=True)
class ImportOptions:
    fps: float = FPS
    min_seconds: float = 1.0  # shorter clips say little (HumanML3D's shortest are 2 s)
    max_seconds: float = 600.0
    rig: str | None = None  # a bone map preset or .json; None: presets, then the automatic mapper


def clip_id(relative: Path) -> str:
    """A file-name-safe id from a path inside the source folder: 'a/b c.bvh' -> 'a__b_c'."""
    stem = relative.with_suffix("").as_posix().replace("/", "__")
    return re.sub(r"[^A-Za-z0-9_.\-]+", "_", stem).strip("._") or "clip"


def split_of(motion_id: str) -> str:
    """train/val/test by a hash of the id (80/5/15), stable whatever else is in the folder."""
    h = int.from_bytes(hashlib.sha256(motion_id.encode()).digest()[:8], "big") / 2**64
    edge = 0.0
    for name, share in SPLITS:
        edge += share
        if h < edge:
            return name
    return SPLITS[-1][0]


def find_motion_files(src: Path) -> list[Path]:
    """Motion files under src, sorted by relative path (one file: that file)."""
    if src.is_file():
        return [src]
    if not src.is_dir():
        raise MomugError(f"source not found: {src}")
    return sorted((p for p in src.rglob("*") if p.suffix.lower() in SUFFIXES and p.is_file()),
                  key=lambda p: p.relative_to(src).as_posix())


def assign_ids(src: Path, files: list[Path]) -> list[tuple[str, Path]]:
    """(id, file) pairs: the file's stem when the stems are unique, else its path inside src
    ('a/walk.bvh' -> 'a__walk'); a clash left (walk.bvh beside walk.npz) keeps the extension."""
    base = src if src.is_dir() else src.parent
    stems = [clip_id(Path(f.name)) for f in files]
    unique = len(set(stems)) == len(stems)
    ids = stems if unique else [clip_id(f.relative_to(base)) for f in files]
    counts: dict[str, int] = {}
    for i in ids:
        counts[i] = counts.get(i, 0) + 1
    return [(i if counts[i] == 1 else f"{i}_{f.suffix.lower().lstrip('.')}", f) for i, f in zip(ids, files)]


def load_joints(path: Path, options: ImportOptions) -> tuple[np.ndarray, float, list[str]]:
    """(joints (T, 22, 3) at options.fps, source fps, notes) or MomugError."""
    from momug.motion.convert import read_motion, resample

    notes: list[str] = []
    motion = read_motion(path, rig=options.rig, report=notes)
    source_fps = motion.fps
    motion = resample(motion, options.fps)
    return np.asarray(motion.joints, dtype=np.float64), source_fps, notes


def _atomic_save(path: Path, array: np.ndarray) -> None:
    tmp = path.with_name(f".{path.stem}.part.npy")
    np.save(tmp, array)
    os.replace(tmp, path)


def _atomic_text(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.part")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


@dataclass
class _Job:
    src: str
    out: str
    options: ImportOptions
    captioner: Captioner


def _import_one(job: _Job, motion_id: str, path: Path) -> dict:
    """Import one file; returns its record (imported or skipped, with the reason)."""
    out = Path(job.out)
    rel = path.relative_to(Path(job.src)).as_posix() if Path(job.src).is_dir() else path.name
    record = {"id": motion_id, "file": rel}
    opts = job.options
    try:
        joints, source_fps, notes = load_joints(path, opts)
    except MomugError as exc:
        return dict(record, skipped=str(exc))
    except (ValueError, OSError, IndexError, KeyError) as exc:  # a file too broken to say more
        return dict(record, skipped=f"unreadable ({type(exc).__name__}: {exc})")
    seconds = (len(joints) - 1) / opts.fps
    if not np.all(np.isfinite(joints)):
        return dict(record, skipped="the motion has NaN or infinite values")
    if seconds < opts.min_seconds:
        return dict(record, skipped=f"too short: {seconds:.2f} s (at least {opts.min_seconds:g} s)")
    if seconds > opts.max_seconds:
        return dict(record, skipped=f"too long: {seconds:.0f} s (at most {opts.max_seconds:g} s)")
    joints = features.canonicalize(joints)
    captioned = job.captioner(path, joints)
    if captioned is None:
        return dict(record, skipped="no caption for this file")
    captions, labels = captioned
    captions = [c.strip() for c in captions if c and c.strip() and "#" not in c]
    if not captions:
        return dict(record, skipped="its captions are empty")
    feats = features.joints_to_features(joints)
    _atomic_save(out / "new_joints" / f"{motion_id}.npy", joints.astype(np.float32))
    _atomic_save(out / "new_joint_vecs" / f"{motion_id}.npy", feats)
    _atomic_text(out / "texts" / f"{motion_id}.txt", "".join(tagging.text_line(c) + "\n" for c in captions))
    return dict(record, frames=int(len(joints)), fps=opts.fps, source_fps=round(source_fps, 4),
                captions=captions, notes=notes, **labels)


def _worker(args) -> dict:
    job, motion_id, path = args
    record = _import_one(job, motion_id, path)
    # The record is written last: its presence says every output of this file is complete.
    _atomic_text(Path(job.out) / RECORDS / f"{motion_id}.json", json.dumps(record, sort_keys=True))
    return record


def _prepare(out: Path) -> None:
    if out.exists() and not out.is_dir():
        raise MomugError(f"output path {out} exists and is not a folder")
    try:
        for sub in ("new_joints", "new_joint_vecs", "texts", RECORDS):
            (out / sub).mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise MomugError(f"cannot write to output folder {out}: {exc.strerror or exc}") from None


def _read_record(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None  # half-written by a killed run: do that file again


def import_folder(src, out, captioner: Captioner, options: ImportOptions = ImportOptions(),
                  workers: int = 1, progress: bool = True, captioner_name: str = "captions file",
                  on_skip: Callable[[dict], None] | None = None) -> dict:
    """Import every motion file under src into the corpus folder out. Returns a summary."""
    src, out = Path(src), Path(out)
    if workers < 1:
        raise MomugError(f"--workers must be at least 1, got {workers}")
    if not (np.isfinite(options.fps) and 1 <= options.fps <= 240):
        raise MomugError(f"--fps must be between 1 and 240, got {options.fps}")
    files = find_motion_files(src)
    if not files:
        raise MomugError(f"no motion files ({', '.join(SUFFIXES)}) under {src}")
    _prepare(out)
    started = time.perf_counter()
    pairs = assign_ids(src, files)
    records: dict[str, dict] = {}
    todo = []
    for motion_id, path in pairs:
        done = out / RECORDS / f"{motion_id}.json"
        record = _read_record(done) if done.is_file() else None
        if record is not None and "skipped" not in record:  # skipped files are tried again
            records[motion_id] = record
        else:
            todo.append((motion_id, path))
    job = _Job(str(src), str(out), options, captioner)
    bar = tqdm(total=len(pairs), initial=len(records), unit="file", desc="import", disable=not progress)
    tasks = [(job, i, p) for i, p in todo]
    if workers == 1 or len(tasks) < 4:
        results: Iterable[dict] = map(_worker, tasks)
        pool = None
    else:
        pool = get_context("fork" if os.name == "posix" else "spawn").Pool(workers)
        results = pool.imap_unordered(_worker, tasks, chunksize=4)
    try:
        for record in results:
            records[record["id"]] = record
            if "skipped" in record and on_skip is not None:
                on_skip(record)
            bar.update(1)
    finally:
        bar.close()
        if pool is not None:
            pool.close()
            pool.join()
    return finish_corpus(out, [records[i] for i, _ in pairs], started, src, captioner_name, options)


def finish_corpus(out: Path, records: list[dict], started: float, src: Path, captioner_name: str,
                  options: ImportOptions) -> dict:
    """Splits, statistics, meta.jsonl, skipped.jsonl and corpus.json from the per-file records."""
    imported = [r for r in records if "skipped" not in r]
    skipped = [r for r in records if "skipped" in r]
    if not imported:
        reasons = "; ".join(f"{r['file']}: {r['skipped']}" for r in skipped[:5])
        raise MomugError(f"no file could be imported ({len(skipped)} skipped: {reasons})")
    splits: dict[str, list[str]] = {name: [] for name, _ in SPLITS}
    for r in imported:
        r["split"] = split_of(r["id"])
        splits[r["split"]].append(r["id"])
    if not splits["train"]:  # a handful of files: train on them all rather than have no statistics
        splits["train"] = [r["id"] for r in imported]
    for name, ids in splits.items():
        _atomic_text(out / f"{name}.txt", "".join(f"{i}\n" for i in sorted(ids)))
    _atomic_text(out / "all.txt", "".join(f"{r['id']}\n" for r in sorted(imported, key=lambda r: r["id"])))
    mean, std = features.mean_std(np.load(out / "new_joint_vecs" / f"{i}.npy") for i in sorted(splits["train"]))
    _atomic_save(out / "Mean.npy", mean)
    _atomic_save(out / "Std.npy", std)
    _atomic_text(out / "meta.jsonl", "".join(json.dumps(r, sort_keys=True) + "\n" for r in imported))
    _atomic_text(out / "skipped.jsonl", "".join(json.dumps(r, sort_keys=True) + "\n" for r in skipped))
    frames = sum(r["frames"] for r in imported)
    hours = frames / options.fps / 3600
    summary = {
        "generator": "momug.data.importer", "version": IMPORTER_VERSION, "source": str(src),
        "captions": captioner_name, "fps": options.fps, "count": len(imported), "skipped": len(skipped),
        "frames": frames, "hours": round(hours, 4), "splits": {k: len(v) for k, v in splits.items()},
        "skip_reasons": _reason_counts(skipped),
    }
    _atomic_text(out / "corpus.json", json.dumps(summary, indent=2, sort_keys=True) + "\n")
    return dict(summary, out=str(out), seconds=time.perf_counter() - started)


def _reason_counts(skipped: list[dict]) -> dict[str, int]:
    """Skip reasons grouped by their first words ('too short', 'cannot map ...')."""
    counts: dict[str, int] = {}
    for r in skipped:
        key = r["skipped"].split(":")[0][:60]
        counts[key] = counts.get(key, 0) + 1
    return counts


# ----------------------------------------------------------------------------------------------
# Captions from a JSON-lines file


def read_captions_file(path) -> dict[str, list[str]]:
    """{"file": ..., "captions": [...]} per line -> {key: captions}; a file is looked up by its
    path relative to the source folder, then its name, then its stem."""
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise MomugError(f"cannot read captions file {path}: {exc.strerror or exc}") from None
    table: dict[str, list[str]] = {}
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            key, caps = row["file"], row["captions"]
        except (json.JSONDecodeError, KeyError, TypeError):
            raise MomugError(f"{path}:{n}: each line must be a JSON object "
                             '{"file": "...", "captions": ["...", ...]}') from None
        if not isinstance(key, str) or not isinstance(caps, list) or not all(isinstance(c, str) for c in caps):
            raise MomugError(f"{path}:{n}: 'file' must be a string and 'captions' a list of strings")
        table[key.replace("\\", "/")] = caps
    if not table:
        raise MomugError(f"{path} holds no captions")
    return table


class CaptionsFileCaptioner:
    """Captions looked up in a table read from a captions file (picklable for worker processes)."""

    def __init__(self, table: dict[str, list[str]], src: Path):
        self.table = table
        self.base = src if src.is_dir() else src.parent

    def __call__(self, path: Path, joints: np.ndarray):
        rel = path.relative_to(self.base).as_posix()
        for key in (rel, path.name, path.stem, rel.rsplit(".", 1)[0]):
            if key in self.table:
                return list(self.table[key]), {}
        return None
