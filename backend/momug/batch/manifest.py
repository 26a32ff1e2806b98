"""The batch manifest: what was asked for, what was written, with checksums, timings and errors.

The manifest is the commit record of a batch. An item counts as finished only when its record
says "done", the record's request equals the current one, and every file it lists exists with
the recorded sha256; a file on disk without such a record is never trusted. Every write goes to a
temp name and is renamed into place, so a reader never sees half a manifest.

One process writes manifest.json directly. Under `accelerate launch` each process K writes
manifest.part-K.json and the main process merges the parts into manifest.json at the end.
Standard library only: scripts/blender_batch.py reads manifests from Blender's Python.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

MANIFEST_NAME = "manifest.json"
FORMAT = "momug-batch-manifest"
VERSION = 1


def part_name(rank: int) -> str:
    return f"manifest.part-{rank}.json"


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def sha256_file(path: str | os.PathLike) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def share_mode(path: str | os.PathLike) -> None:
    """Temp files are created 0600; give a finished output the mode a plain open() would have,
    so others sharing the output folder (a render farm, a team) can read it."""
    os.chmod(path, 0o666 & ~_umask())


def write_json_atomic(path: str | os.PathLike, data: dict) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(data, f, indent=1, sort_keys=False)
            f.write("\n")
            f.flush()
            os.fsync(f.fileno())
        share_mode(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def read_json(path: str | os.PathLike) -> dict | None:
    """A manifest's content, or None when it is missing or unreadable (then nothing in it counts)."""
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and data.get("format") == FORMAT else None


def file_entry(folder: Path, filename: str) -> dict:
    path = Path(folder) / filename
    return {"file": filename, "sha256": sha256_file(path), "bytes": path.stat().st_size}


def file_ok(folder: Path, entry: dict | None) -> bool:
    if not isinstance(entry, dict) or not isinstance(entry.get("file"), str):
        return False
    path = Path(folder) / entry["file"]
    try:
        return path.is_file() and path.stat().st_size == entry.get("bytes") and sha256_file(path) == entry.get("sha256")
    except OSError:
        return False


def record_ok(folder: Path, record: dict, request: dict | None = None, kinds=("npz",)) -> bool:
    """True when the record is a finished item (for this request, if given) whose files of the
    given kinds are all on disk unchanged."""
    if not isinstance(record, dict) or record.get("status") != "done":
        return False
    if request is not None and record.get("request") != request:
        return False
    files = record.get("files") or {}
    return all(file_ok(folder, files.get(kind)) for kind in kinds)


def manifest_paths(folder: Path) -> list[Path]:
    """manifest.json first, then any parts (from a sharded run, possibly one cut short)."""
    folder = Path(folder)
    parts = sorted(folder.glob("manifest.part-*.json"), key=lambda p: p.name)
    return [folder / MANIFEST_NAME] + parts


def known_records(folder: Path) -> dict[str, list[dict]]:
    """Every item record found in the folder's manifests, newest first per name."""
    out: dict[str, list[dict]] = {}
    for path in manifest_paths(folder):
        data = read_json(path)
        for record in (data or {}).get("items", []):
            if isinstance(record, dict) and isinstance(record.get("name"), str):
                out.setdefault(record["name"], []).append(record)
    for records in out.values():
        records.sort(key=lambda r: str(r.get("finished_at") or ""), reverse=True)
    return out


def finished_records(folder: Path) -> list[dict]:
    """Records of manifest.json whose .npz is on disk unchanged, in the manifest's order."""
    data = read_json(Path(folder) / MANIFEST_NAME) or {}
    return [r for r in data.get("items", []) if record_ok(folder, r)]


class ManifestWriter:
    """Holds one manifest (or part) in memory and rewrites it atomically as items finish.

    Rewriting the whole file per item is quadratic in the batch size, so saves are spaced out to
    keep their cost near a tenth of the run: every item for small batches, every few seconds for
    huge ones. A record lost to a crash only means that item is generated again.
    """

    def __init__(self, path: Path, header: dict, records: list[dict]):
        self.path = Path(path)
        self.header = dict(header)
        self.order = [r["name"] for r in records]
        self.records = {r["name"]: r for r in records}
        self.errors: list[dict] = []
        self._last_save = 0.0
        self._save_cost = 0.0
        self._dirty = False

    def update(self, record: dict) -> None:
        if record["name"] not in self.records:
            self.order.append(record["name"])
        self.records[record["name"]] = record
        self._dirty = True
        if time.monotonic() - self._last_save >= 10 * self._save_cost:
            self.save()

    def flush(self) -> None:
        if self._dirty:
            self.save()

    def add_errors(self, errors: list[dict]) -> None:
        self.errors.extend(errors)
        self.save()

    def content(self) -> dict:
        items = [self.records[n] for n in self.order]
        return build(self.header, items, self.errors)

    def save(self) -> Path:
        start = time.monotonic()
        path = write_json_atomic(self.path, self.content())
        self._last_save = time.monotonic()
        self._save_cost = self._last_save - start
        self._dirty = False
        return path


def build(header: dict, items: list[dict], line_errors: list[dict]) -> dict:
    """The manifest document: header fields, a summary, the items and every error."""
    counts: dict[str, int] = {}
    for r in items:
        counts[r.get("status", "pending")] = counts.get(r.get("status", "pending"), 0) + 1
    item_errors = [{"line": r.get("line"), "name": r["name"], "message": r.get("error")}
                   for r in items if r.get("status") == "failed"]
    errors = sorted(line_errors + item_errors, key=lambda e: (e.get("line") or 0))
    return {"format": FORMAT, "version": VERSION, **header, "updated_at": now(),
            "summary": {"items": len(items), **counts, "line_errors": len(line_errors)},
            "items": items, "errors": errors}


def merge(folder: Path, header: dict, names: list[str], line_errors: list[dict], ranks: int) -> dict:
    """manifest.json from the parts of this run (and what an earlier manifest already had), one
    record per name in prompts-file order: a record whose files check out wins over one that does
    not, then the newer one."""
    folder = Path(folder)
    records = known_records(folder)
    items = []
    for name in names:
        candidates = records.get(name, [])
        good = [r for r in candidates if r.get("status") != "done" or record_ok(folder, r)]
        pick = (good or candidates or [None])[0]
        if pick is None:
            pick = {"name": name, "status": "pending"}
        items.append(pick)
    shards = [{"part": p.name, "timings": (read_json(p) or {}).get("timings")} for p in manifest_paths(folder)[1:]]
    data = build({**header, "processes": ranks, "shards": shards}, items, line_errors)
    write_json_atomic(folder / MANIFEST_NAME, data)
    return data
