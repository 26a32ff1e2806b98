"""Errors meant for the user: the CLI prints their message, never a traceback."""


class MomugError(Exception):
    """A problem the user can fix (bad argument, missing file, missing optional package)."""


def require(module: str, extra: str = "model"):
    """Import an optional dependency or explain how to install it."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MomugError(
            f"this needs the Python package '{module.split('.')[0]}', which is not installed "
            f"({exc}). Install it with: pip install 'momug[{extra}]'"
        ) from None


class Cancelled(MomugError):
    """Raised inside a long computation when its caller asked it to stop."""
