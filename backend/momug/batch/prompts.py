"""Reading a batch file: .txt (one prompt a line, # comments) or .jsonl (one JSON object a line).

A bad line never stops the batch: it becomes a LineError with its line number and the other
lines are read on. Checks that need the model (prompt length, seconds range) happen later, in
the runner, and are reported against the same line numbers.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from pathlib import Path

from momug.commands.generate import read_prompt_lines, slug
from momug.errors import MomugError

JSONL_KEYS = {"prompt", "seconds", "seed", "name", "rig"}
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
        name = data.get("name") or _default_name(ordinal, prompt)
        key = name.lower()  # case-insensitive: two names must not share a file on macOS/Windows
        owner = explicit.get(key)
        if key in taken or (owner is not None and owner != line):
            first = taken.get(key, owner)
            errors.append(LineError(line, f"name '{name}' is already used on line {first}"))
            continue
        taken[key] = line
        items.append(BatchItem(
            line=line, name=name, prompt=prompt,
            seconds=float(data["seconds"]) if data.get("seconds") is not None else float(seconds),
            seed=int(data["seed"]) if data.get("seed") is not None else int(seed) + ordinal,
            rig=data.get("rig"),
        ))
    errors.sort(key=lambda e: e.line)
    return items, errors
