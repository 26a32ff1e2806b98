"""`momug licence show|accept NAME|DIR`: the terms of an opt-in model (a shipped model's name, like
`real`, or a checkpoint folder), and accepting them once."""

from __future__ import annotations

import argparse
from pathlib import Path

from momug.errors import MomugError


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "licence",
        help="show or accept the terms of an opt-in model (e.g. real)",
        description="Some checkpoints were trained on data with terms of their own (the Bandai-Namco motion "
        "data, CC BY-NC 4.0) and carry a LICENCE.json; momug loads them only after you accept those terms. "
        "Give a shipped model's name (momug licence accept real) or a checkpoint folder.",
    )
    p.add_argument("action", choices=("show", "accept"), help="show the terms, or accept them")
    p.add_argument("folder", metavar="NAME|DIR",
                   help="a shipped model's name (real) or a checkpoint folder")
    return p


def run(args) -> int:
    from momug import licences
    from momug.model.registry import REGISTRY

    # A shipped model's name wins over a folder of that name in the working directory (./real reaches it).
    named = args.folder in REGISTRY.names
    folder = REGISTRY.entry(args.folder).folder if named else args.folder
    what = f"the '{args.folder}' model" if named else str(folder)
    if not named and not Path(folder).is_dir():
        raise MomugError(f"'{args.folder}' is neither a model ({', '.join(REGISTRY.names)}) nor a folder")
    terms = licences.read_licence(folder)
    if terms is None:
        raise MomugError(f"{what} has no {licences.LICENCE_FILE}: it needs no acceptance")
    print(licences.describe(terms))
    if args.action == "accept":
        licences.accept(folder)
        use = f" (--model {args.folder})" if named else ""
        print(f"accepted; momug will load {what} from now on{use}")
    else:
        state = "accepted" if licences.is_accepted(folder, terms) else "not accepted yet"
        print(f"({state})")
    return 0
