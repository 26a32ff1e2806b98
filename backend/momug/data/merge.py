"""One corpus from several HumanML3D-layout folders (the procedural corpus, an imported real one):

    momug data merge corpus bandai_corpus --out merged

Every clip keeps its split and is renamed `<source>-<id>` (the source's name is its folder name,
or NAME in NAME=DIR), so ids cannot clash and each clip's origin shows in its id as well as in
meta.jsonl ("source", "source_id"). Files are hard-linked where the file system allows (copied
otherwise), so a merge costs little disk. Mean.npy/Std.npy are recomputed over the merged train
split; the sources' own statistics are not used. Rerunning into the same folder redoes the
statistics and lists and relinks only the files that changed in a source.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

import numpy as np
from tqdm import tqdm

from momug.data.humanml3d import read_split
from momug.data.synth.writer import read_meta
from momug.errors import MomugError
from momug.motion import features

SPLIT_NAMES = ("train", "val", "test")
FOLDERS = (("new_joint_vecs", ".npy"), ("new_joints", ".npy"), ("texts", ".txt"))
_NAME = re.compile(r"^[A-Za-z0-9_.]+$")


def parse_source(text: str) -> tuple[str, Path]:
    """'NAME=DIR' or 'DIR' (named after the folder)."""
    name, sep, path = text.partition("=")
    if not sep:
        path, name = text, Path(text).resolve().name
    name = name.replace("-", "_")
    if not _NAME.match(name):
        raise MomugError(f"source name {name!r} must be letters, digits, '_' or '.' (give NAME=DIR)")
    return name, Path(path)


def link_file(src: Path, dst: Path) -> None:
    """dst becomes src (a hard link where possible); a dst left by an earlier run is replaced
    unless it already is the same file, so a source re-imported since is picked up (also used by
    momug.data.style_captions for its copies)."""
    if dst.exists() and os.path.samefile(src, dst):
        return
    tmp = dst.with_name(f".{dst.name}.part")
    tmp.unlink(missing_ok=True)
    try:
        os.link(src, tmp)
    except OSError:
        shutil.copyfile(src, tmp)
    os.replace(tmp, dst)


def _read_meta(folder: Path) -> dict[str, dict]:
    """The source's meta.jsonl by clip id (empty when it has none)."""
    if not (folder / "meta.jsonl").is_file():
        return {}
    return {row["id"]: row for row in read_meta(folder)}


def merge_corpora(sources: list[str], out, progress: bool = True) -> dict:
    """Merge the folders named by sources ('DIR' or 'NAME=DIR') into out. Returns a summary."""
    if len(sources) < 1:
        raise MomugError("give at least one corpus folder to merge")
    parsed = [parse_source(s) for s in sources]
    names = [n for n, _ in parsed]
    if len(set(names)) != len(names):
        raise MomugError(f"two sources share a name ({', '.join(names)}); name them with NAME=DIR")
    out = Path(out)
    for _, folder in parsed:
        if folder.resolve() == out.resolve():
            raise MomugError(f"the output folder {out} is also a source")
        for need in ("new_joint_vecs", "texts", "train.txt"):
            if not (folder / need).exists():
                raise MomugError(f"{folder} is not a HumanML3D-format corpus: {need} is missing")
    for sub, _ in FOLDERS:
        (out / sub).mkdir(parents=True, exist_ok=True)

    dims = set()
    splits: dict[str, list[str]] = {s: [] for s in SPLIT_NAMES}
    meta_rows: list[dict] = []
    per_source: dict[str, dict] = {}
    for name, folder in parsed:
        meta = _read_meta(folder)
        counts = {}
        for split in SPLIT_NAMES:
            try:
                ids = read_split(folder, split)
            except MomugError:
                ids = []  # a corpus without a val split, say
            kept = 0
            for motion_id in tqdm(ids, desc=f"{name} {split}", unit="clip", disable=not progress):
                vec = folder / "new_joint_vecs" / f"{motion_id}.npy"
                if not vec.is_file() or not (folder / "texts" / f"{motion_id}.txt").is_file():
                    continue
                new_id = f"{name}-{motion_id}"
                for sub, ext in FOLDERS:
                    src = folder / sub / f"{motion_id}{ext}"
                    if src.is_file():
                        link_file(src, out / sub / f"{new_id}{ext}")
                splits[split].append(new_id)
                row = dict(meta.get(motion_id, {}), id=new_id, source=name, source_id=motion_id, split=split)
                meta_rows.append(row)
                kept += 1
            counts[split] = kept
        dim_file = folder / "Mean.npy"
        if dim_file.is_file():
            dims.add(int(np.load(dim_file).shape[0]))
        per_source[name] = {"folder": str(folder), "clips": counts}
    if len(dims) > 1:
        raise MomugError(f"the sources have different feature sizes ({sorted(dims)}): merge SMPL-22 with SMPL-22")
    if not splits["train"]:
        raise MomugError("the sources have no training clips to merge")

    for split, ids in splits.items():
        (out / f"{split}.txt").write_text("".join(f"{i}\n" for i in ids))
    (out / "all.txt").write_text("".join(f"{i}\n" for s in SPLIT_NAMES for i in splits[s]))
    mean, std = features.mean_std(np.load(out / "new_joint_vecs" / f"{i}.npy") for i in splits["train"])
    np.save(out / "Mean.npy", mean)
    np.save(out / "Std.npy", std)
    with open(out / "meta.jsonl", "w", encoding="utf-8") as f:
        for row in meta_rows:
            f.write(json.dumps(row, sort_keys=True) + "\n")
    frames = sum(len(np.load(out / "new_joint_vecs" / f"{r['id']}.npy", mmap_mode="r")) + 1 for r in meta_rows)
    summary = {"generator": "momug.data.merge", "sources": per_source, "count": len(meta_rows),
               "splits": {k: len(v) for k, v in splits.items()}, "frames": frames,
               "hours": round(frames / 20.0 / 3600, 4)}
    (out / "corpus.json").write_text(json.dumps(summary, indent=2, sort_keys=True) + "\n")
    return dict(summary, out=str(out))
