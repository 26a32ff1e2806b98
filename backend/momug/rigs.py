"""Access to the rig data in the repository's rigs/ folder (shared with the Blender add-on)."""

from __future__ import annotations

import json
import os
from functools import lru_cache
from pathlib import Path

from momug.errors import MomugError


def rigs_dir() -> Path:
    """rigs/ of the source checkout the package is installed from (pip install -e .),
    or the folder named by $MOMUG_RIGS."""
    override = os.environ.get("MOMUG_RIGS")
    path = Path(override) if override else Path(__file__).resolve().parents[2] / "rigs"
    if not (path / "smpl22.json").is_file():
        raise MomugError(
            f"rig data not found at {path}; install momug from its source folder with "
            "'pip install -e .' or point $MOMUG_RIGS at a copy of rigs/"
        )
    return path


@lru_cache(maxsize=None)
def load_rig_json(relative: str) -> dict:
    path = rigs_dir() / relative
    with open(path, encoding="utf-8") as f:
        return json.load(f)
