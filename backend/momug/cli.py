"""The `momug` command line: a thin dispatcher over momug.commands.*."""

from __future__ import annotations

import argparse
import importlib
import sys

from momug import __version__
from momug.commands import COMMANDS
from momug.errors import MomugError


def _missing_command(name: str, reason: str):
    """A placeholder for a command whose optional dependencies are not installed."""

    def add_parser(subparsers):
        p = subparsers.add_parser(name, help=f"(unavailable: {reason})", add_help=False)
        p.add_argument("rest", nargs=argparse.REMAINDER)

    def run(args):
        raise MomugError(f"'momug {name}' is unavailable: {reason}. Install everything with: pip install -e '.[model]'")

    return add_parser, run


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="momug",
        description="Text-to-motion and motion-to-text with one LoRA-tuned LLM (MoMug), for Blender.",
    )
    parser.add_argument("--version", action="version", version=f"momug {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        try:
            module = importlib.import_module(f"momug.commands.{name}")
            add_parser, run = module.add_parser, module.run
        except ImportError as exc:
            if (exc.name or "").split(".")[0] == "momug":
                raise  # a bug in momug itself, not a missing optional package
            add_parser, run = _missing_command(name, f"missing package {exc.name or exc}")
        before = set(subparsers.choices)
        add_parser(subparsers)
        for added in set(subparsers.choices) - before:
            subparsers.choices[added].set_defaults(_run=run)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "_run"):
        parser.print_help()
        return 2
    try:
        return int(args._run(args) or 0)
    except MomugError as exc:
        print(f"momug {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except ModuleNotFoundError as exc:
        root = (exc.name or "").split(".")[0]
        if not root or root == "momug":
            raise  # a bug in momug itself
        # An optional package the command needs (pip install -e . without the model extra).
        print(f"momug {args.command}: error: this needs the Python package '{root}', which is not installed. "
              "Install the model stack with: pip install -e '.[model]' (or pip install 'momug[model]')",
              file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"momug {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
