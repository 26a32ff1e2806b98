"""`momug licence show|accept DIR`: the terms of an opt-in checkpoint, and accepting them once."""

from __future__ import annotations

import argparse

from momug.errors import MomugError


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "licence",
        help="show or accept the terms of an opt-in checkpoint",
        description="Some checkpoints were trained on data with terms of their own (the Bandai-Namco motion "
        "data, CC BY-NC 4.0) and carry a LICENCE.json; momug loads them only after you accept those terms.",
    )
    p.add_argument("action", choices=("show", "accept"), help="show the terms, or accept them")
    p.add_argument("folder", help="the checkpoint folder")
    return p


def run(args) -> int:
    from momug import licences

    terms = licences.read_licence(args.folder)
    if terms is None:
        raise MomugError(f"{args.folder} has no {licences.LICENCE_FILE}: it needs no acceptance")
    print(licences.describe(terms))
    if args.action == "accept":
        licences.accept(args.folder)
        print(f"accepted; momug will load {args.folder} from now on")
    else:
        state = "accepted" if licences.is_accepted(args.folder, terms) else "not accepted yet"
        print(f"({state})")
    return 0
