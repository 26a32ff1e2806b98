"""The backend's access token: made once, kept in the user's config folder, readable by the user only.

Anything on this machine can reach 127.0.0.1, so a port alone is no protection; the token file's
permissions decide who may use the model.
"""

from __future__ import annotations

import hmac
import os
import secrets
import stat
from pathlib import Path

from momug.errors import MomugError

TOKEN_FILE = "token"


def config_dir() -> Path:
    """$MOMUG_CONFIG, else $XDG_CONFIG_HOME/momug, else ~/.config/momug (the add-on looks in the same order)."""
    if os.environ.get("MOMUG_CONFIG"):
        return Path(os.environ["MOMUG_CONFIG"])
    base = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return Path(base) / "momug"


def token_path() -> Path:
    return config_dir() / TOKEN_FILE


def load_or_create_token(path: Path | None = None) -> str:
    """The token in `path`, writing a new random one (mode 0600) when there is none yet."""
    path = Path(path or token_path())
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as exc:
        raise MomugError(f"cannot create the config folder {path.parent}: {exc}") from None
    token = read_token(path)
    if token:
        _restrict(path)
        return token
    token = secrets.token_urlsafe(32)
    try:
        # O_EXCL: when two servers start together, only one writes and both then read the same token.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        existing = read_token(path)
        if existing:
            return existing
        path.unlink(missing_ok=True)   # an empty leftover file: replace it
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError as exc:
        raise MomugError(f"cannot write the token file {path}: {exc}") from None
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(token + "\n")
    return token


def read_token(path: Path | None = None) -> str:
    """The stored token, or '' when there is none."""
    try:
        return Path(path or token_path()).read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError):
        return ""


def _restrict(path: Path) -> None:
    """Tighten a token file that others can read (e.g. copied with a loose umask)."""
    try:
        if os.name == "posix" and stat.S_IMODE(path.stat().st_mode) & 0o077:
            path.chmod(0o600)
    except OSError:
        pass


def token_matches(given: str | None, expected: str) -> bool:
    """Constant-time comparison, so response timing does not leak how much of a guess was right."""
    if not given or not expected:
        return False
    return hmac.compare_digest(given.encode("utf-8"), expected.encode("utf-8"))
