"""Reading a batch file: .txt (one prompt a line, # comments) or .jsonl (one JSON object a line).

A bad line never stops the batch: it becomes a LineError with its line number and the other
lines are read on. Checks that need the model (prompt length, seconds range) happen later, in
the runner, and are reported against the same line numbers.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path

from momug.commands.generate import read_prompt_lines, slug
from momug.errors import MomugError

# Animator constraints (momug.constraints), as `momug generate` takes them: start, end, keys and
# edit name files (relative to the prompts file); path is a file or the path itself inline.
CONSTRAINT_KEYS = ("start", "end", "keys", "path", "edit", "keep")
JSONL_KEYS = {"prompt", "seconds", "seed", "name", "rig", *CONSTRAINT_KEYS}
FPS = 20.0
# A name becomes a file name: no separators, no leading dot (our temp files start with one).
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")


@dataclass(frozen=True)
class BatchItem:
    line: int  # 1-based line in the prompts file
    name: str  # file stem of its outputs
    prompt: str
    seconds: float
    seed: int
    rig: str | None = None  # only read by scripts/blender_batch.py
    constraints: object = field(default=None, compare=False)  # momug.constraints.Constraints
    constraint_id: str | None = None  # a digest of the constraints, for resuming


@dataclass(frozen=True)
class LineError:
    line: int
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.message}"


def _default_name(ordinal: int, prompt: str) -> str:
    # Same naming as `momug generate --prompts`, so both commands agree on file names.
    return f"{ordinal:04d}_{slug(prompt)}"


def _parse_json_line(text: str) -> dict:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"not valid JSON ({exc.msg} at column {exc.colno})") from None
    if not isinstance(data, dict):
        raise ValueError(f"expected a JSON object like {{\"prompt\": \"...\"}}, got {type(data).__name__}")
    unknown = sorted(set(data) - JSONL_KEYS)
    if unknown:
        raise ValueError(f"unknown key(s) {', '.join(unknown)}; allowed: {', '.join(sorted(JSONL_KEYS))}")
    prompt = data.get("prompt")
    if not isinstance(prompt, str) or not prompt.strip():
        raise ValueError("'prompt' must be a non-empty string")
    seconds = data.get("seconds")
    # bool is an int in Python; true/false is never meant as a length or a seed.
    if seconds is not None and (isinstance(seconds, bool) or not isinstance(seconds, (int, float))
                                or not math.isfinite(seconds)):
        raise ValueError("'seconds' must be a number")
    seed = data.get("seed")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2 ** 63):
        raise ValueError("'seed' must be a non-negative integer")
    for key in ("name", "rig"):
        if data.get(key) is not None and (not isinstance(data[key], str) or not data[key].strip()):
            raise ValueError(f"'{key}' must be a non-empty string")
    name = data.get("name")
    if name is not None and (not _NAME.match(name) or name.endswith(".part")):
        raise ValueError(f"'name' {name!r} must be a file name of letters, digits, '.', '_' or '-' "
                         "(at most 100, not starting with '.')")
    return data


def _constraints(data: dict, folder: Path, seconds: float | None):
    """A line's constraint fields read and checked (None without any); raises ValueError."""
    if not any(data.get(k) is not None for k in CONSTRAINT_KEYS):
        return None
    from momug import constraints as C

    def file_of(key):
        value = data.get(key)
        if value is None:
            return None
        if not isinstance(value, str) or not value.strip():
            raise ValueError(f"'{key}' must be a file name (relative to the prompts file)")
        return folder / value

    try:
        path = data.get("path")
        if isinstance(path, str):
            path = C.load_path_file(folder / path, FPS)
        elif path is not None:
            path = C.read_path(path, FPS)
        keep = data.get("keep")
        if keep is not None and not (isinstance(keep, str) or
                                     (isinstance(keep, list) and all(isinstance(k, str) for k in keep))):
            raise ValueError("'keep' must be a body part name or a list of them")
        return C.build(
            None if seconds is None else int(round(seconds * FPS)), FPS, max_frames=10**6,
            default_frames=int(4 * FPS),
            start=C.load_motion_joints(file_of("start"), FPS) if data.get("start") is not None else None,
            end=C.load_motion_joints(file_of("end"), FPS) if data.get("end") is not None else None,
            keys=C.load_keys_file(file_of("keys"), FPS) if data.get("keys") is not None else None,
            path=path,
            edit=C.load_motion_joints(file_of("edit"), FPS) if data.get("edit") is not None else None,
            keep=keep)
    except MomugError as exc:
        raise ValueError(str(exc)) from None


def _digest(c) -> str | None:
    """Same constraints, same digest: a resumed batch redoes an item whose files changed."""
    if c is None:
        return None
    h = hashlib.sha256()
    for part in (c.key_frames, c.key_joints, c.path, c.source, _array(c.keep), _array([c.lead, c.tail, c.frames])):
        if part is not None:
            h.update(_array(part).tobytes())
    return h.hexdigest()[:16]


def _array(value):
    import numpy as np

    return np.ascontiguousarray(np.asarray(value, dtype=np.float64))


def read_batch_file(path: str | Path, seconds: float = 4.0, seed: int = 0) -> tuple[list[BatchItem], list[LineError]]:
    """Items and per-line errors. seconds/seed are the defaults; the prompt on data line i
    (0-based, blank and # lines not counted) gets seed + i unless it sets its own."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".txt", ".jsonl"):
        raise MomugError(f"{path}: the prompts file must be .txt (one prompt a line) or .jsonl "
                         f"(one JSON object a line), not '{suffix or path.name}'")
    lines = read_prompt_lines(str(path))
    if not lines:
        raise MomugError(f"{path} has no prompts (blank lines and # comments do not count)")
    items: list[BatchItem] = []
    errors: list[LineError] = []
    parsed: list[tuple[int, int, dict]] = []
    for ordinal, (line, text) in enumerate(lines):
        if suffix == ".txt":
            parsed.append((ordinal, line, {"prompt": text}))
            continue
        try:
            parsed.append((ordinal, line, _parse_json_line(text)))
        except ValueError as exc:
            errors.append(LineError(line, str(exc)))
    # Explicit names are claimed first, so a default name never takes one a later line asked for.
    explicit = {}
    for _, line, data in parsed:
        if data.get("name"):
            explicit.setdefault(data["name"].lower(), line)
    taken: dict[str, int] = {}
    for ordinal, line, data in parsed:
        prompt = " ".join(data["prompt"].split())
        try:
            constraints = _constraints(data, path.parent, data.get("seconds"))
        except ValueError as exc:
            errors.append(LineError(line, str(exc)))
            continue
        name = data.get("name") or _default_name(ordinal, prompt)
        key = name.lower()  # case-insensitive: two names must not share a file on macOS/Windows
        owner = explicit.get(key)
        if key in taken or (owner is not None and owner != line):
            first = taken.get(key, owner)
            errors.append(LineError(line, f"name '{name}' is already used on line {first}"))
            continue
        taken[key] = line
        if constraints is not None:
            length = constraints.frames / FPS
        else:
            length = float(data["seconds"]) if data.get("seconds") is not None else float(seconds)
        items.append(BatchItem(
            line=line, name=name, prompt=prompt, seconds=length,
            seed=int(data["seed"]) if data.get("seed") is not None else int(seed) + ordinal,
            rig=data.get("rig"), constraints=constraints, constraint_id=_digest(constraints),
        ))
    errors.sort(key=lambda e: e.line)
    return items, errors
