"""`momug token`: print the backend's access token (made on first use) for scripts."""

from __future__ import annotations

import argparse


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "token",
        help="print the token that 'momug serve' requires",
        description=(
            "Print the local backend's access token, creating it if the server has never run. "
            "Clients send it as 'Authorization: Bearer <token>'. The file lives in $MOMUG_CONFIG, "
            "else $XDG_CONFIG_HOME/momug, else ~/.config/momug, readable only by you."
        ),
    )
    p.add_argument("--path", action="store_true", help="print the token file's path instead")
    return p


def run(args) -> int:
    # auth.py imports nothing heavy, so scripts get the token without fastapi or torch.
    from momug.server.auth import load_or_create_token, token_path

    if args.path:
        print(token_path())
    else:
        print(load_or_create_token())
    return 0
