"""Opt-in checkpoints: a model folder trained on data with terms of their own (the Bandai-Namco
motion, CC BY-NC 4.0) carries a LICENCE.json, and momug refuses to load it until the user has
seen those terms and accepted them, once:

    LICENCE.json   {"name": "CC BY-NC 4.0", "summary": "...", "attribution": "...", "url": "..."}

Acceptance is remembered in the config folder ($MOMUG_CONFIG, else ~/.config/momug) under
accepted_licences.json, keyed by the checkpoint's name and the terms' text, so changed terms are
asked again. `momug licence show|accept DIR` does it by hand; $MOMUG_ACCEPT_LICENCES="CC BY-NC 4.0"
(or a comma-separated list of such names) accepts them in scripts and CI.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from momug.errors import MomugError

LICENCE_FILE = "LICENCE.json"
ACCEPTED_FILE = "accepted_licences.json"
ENV_ACCEPT = "MOMUG_ACCEPT_LICENCES"


def read_licence(folder) -> dict | None:
    """The checkpoint's terms, or None for a checkpoint without any of its own."""
    path = Path(folder) / LICENCE_FILE
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(data.get("name"), str) or not data["name"]:
            raise ValueError("no name")
    except (json.JSONDecodeError, ValueError, AttributeError) as exc:
        raise MomugError(f"{path} is malformed ({exc}); reinstall the checkpoint") from None
    return data


def _key(folder, licence: dict) -> str:
    text = json.dumps(licence, sort_keys=True).encode()
    return f"{Path(folder).resolve().name}:{hashlib.sha256(text).hexdigest()[:16]}"


def _accepted_path() -> Path:
    from momug.server.auth import config_dir

    return config_dir() / ACCEPTED_FILE


def _accepted() -> dict:
    try:
        return json.loads(_accepted_path().read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return {}


def describe(licence: dict) -> str:
    lines = [f"licence: {licence['name']}"]
    for field in ("summary", "attribution", "url"):
        if licence.get(field):
            lines.append(f"{field}: {licence[field]}")
    return "\n".join(lines)


def is_accepted(folder, licence: dict) -> bool:
    names = {n.strip() for n in os.environ.get(ENV_ACCEPT, "").split(",") if n.strip()}
    return licence["name"] in names or _key(folder, licence) in _accepted()


def accept(folder) -> dict | None:
    """Record that the user accepted the folder's terms; returns them (None: it has none)."""
    licence = read_licence(folder)
    if licence is None:
        return None
    accepted = _accepted()
    accepted[_key(folder, licence)] = licence["name"]
    path = _accepted_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".part")
    tmp.write_text(json.dumps(accepted, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    os.replace(tmp, path)
    return licence


class LicenceNotAccepted(MomugError):
    """An opt-in model whose terms the user has not accepted yet (the server answers 403)."""


def _registry():
    from momug.model.registry import REGISTRY  # late: the registry imports this module

    return REGISTRY


def licence_message(accept_as: str, terms: dict) -> str:
    """One line: what the terms are and the exact command that accepts them; accept_as is what
    `momug licence accept` takes (a shipped model's name or a folder)."""
    what = f"the '{accept_as}' model" if accept_as in _registry().names else f"the checkpoint {accept_as}"
    text = f"{what} is opt-in, licensed {terms['name']}"
    for label, field in (("", "summary"), ("attribution: ", "attribution"), ("terms: ", "url")):
        if terms.get(field):
            text += (": " if field == "summary" else "; ") + label + terms[field]
    return (" ".join(text.split()) + f". To accept these terms run: momug licence accept {accept_as} "
            f"(or set {ENV_ACCEPT}=\"{terms['name']}\")")


def require_accepted(folder, accept_as: str | None = None) -> None:
    """LicenceNotAccepted (one line) unless the folder has no terms or they were accepted.
    accept_as names it in the message (default: its shipped model name, else the folder)."""
    terms = read_licence(folder)
    if terms is not None and not is_accepted(folder, terms):
        raise LicenceNotAccepted(licence_message(accept_as or _registry().name_of(folder) or str(folder), terms))


def corpus_licence(data) -> dict | None:
    """The terms a model trained on this corpus inherits: the licences its meta.jsonl rows carry
    ("licence", "attribution"; the Bandai-Namco import writes them), or None when it has none."""
    path = Path(data) / "meta.jsonl"
    if not path.is_file():
        return None
    found: dict[str, set[str]] = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            if '"licence"' not in line:  # most rows of a merged corpus: skip the JSON parse
                continue
            row = json.loads(line)
            if row.get("licence"):
                found.setdefault(row["licence"], set()).add(row.get("attribution", ""))
    if not found:
        return None
    names = sorted(found)
    attributions = sorted({a for group in found.values() for a in group if a})
    return {
        "name": " + ".join(names),
        "summary": f"this model was trained on data licensed {', '.join(names)}; its use is bound by "
                   "the same terms (for CC BY-NC: non-commercial use only, with attribution)",
        "attribution": "; ".join(attributions),
    }


def run_licence(data, init_from=None) -> dict | None:
    """The terms a training run's weights carry: its corpus's (corpus_licence) and, when it starts
    from another checkpoint (init_from), that checkpoint's, so fine-tuning never drops them."""
    parts = [t for t in (corpus_licence(data), read_licence(init_from) if init_from else None) if t]
    if len(parts) < 2:
        return parts[0] if parts else None
    names = sorted({n.strip() for t in parts for n in t["name"].split("+")})
    attributions = sorted({a.strip() for t in parts for a in (t.get("attribution") or "").split(";") if a.strip()})
    return {
        "name": " + ".join(names),
        "summary": "this model was trained from weights and on data licensed " + ", ".join(names)
                   + "; its use is bound by the same terms (for CC BY-NC: non-commercial use only, with attribution)",
        "attribution": "; ".join(attributions),
    }


def write_licence(folder, licence: dict | None) -> None:
    """Put the terms in a checkpoint folder (nothing when there are none)."""
    if licence is None:
        return
    path = Path(folder) / LICENCE_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(licence, indent=2, sort_keys=True) + "\n", encoding="utf-8")
