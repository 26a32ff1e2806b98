"""`momug batch PROMPTS -o DIR`: many prompts to .npz/.bvh files, a manifest and a contact sheet."""

from __future__ import annotations

import argparse
import sys

from momug.errors import MomugError
from momug.model import registry


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "batch", help="generate a folder of motions from a prompts file (resumable, shardable)",
        description="Generate one motion per prompt of a .txt file (one prompt a line, # comments) or "
        ".jsonl file (one object a line: prompt, and optionally seconds, seed, name, rig) into DIR: "
        "NAME.npz and NAME.bvh per prompt, manifest.json (settings, timings, sha256 checksums, "
        "errors) and contact_sheet.png. A rerun skips finished items and redoes missing or broken "
        "ones. Under `accelerate launch --num_processes N` the prompts are split over N processes.",
        epilog="Bad lines are reported with their line numbers and the rest still run; the exit "
        "status is 1 when any line or item failed.")
    p.add_argument("prompts", metavar="PROMPTS", help="prompts file (.txt or .jsonl)")
    p.add_argument("-o", "--output", required=True, metavar="DIR", help="output folder")
    p.add_argument("--model", metavar="NAME", choices=registry.NAMES, help=registry.OPTION_HELP)
    p.add_argument("--checkpoint", metavar="DIR", help="model folder, or 'tiny' (default: the shipped model); "
                   "not with --model")
    p.add_argument("--seconds", type=float, default=4.0, help="length of each motion unless its line says (default 4)")
    p.add_argument("--seed", type=int, default=0,
                   help="base seed: prompt i uses seed+i unless its line says (default 0)")
    p.add_argument("--steps", type=int, default=25, help="DDIM sampling steps (default 25)")
    p.add_argument("--guidance", type=float, default=None,
                   help="classifier-free guidance scale (default: the model's own, 2.5 for the default model)")
    p.add_argument("--batch-size", type=int, default=8, help="prompts per forward pass (default 8)")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N (under accelerate: its device)")
    p.add_argument("--no-bvh", action="store_true", help="write only the .npz files")
    p.add_argument("--no-contact-sheet", action="store_true", help="skip contact_sheet.png")
    p.add_argument("--no-foot-cleanup", dest="clean_feet", action="store_false",
                   help="keep the model's raw foot motion (by default planted feet are held still)")
    p.add_argument("--whole-prompt", dest="split_sequences", action="store_false",
                   help="give the model each whole prompt even when it names actions in order (by default "
                        "'walks forward then waves' is made one action at a time, each continuing the last)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    from momug.errors import require

    checkpoint = registry.checkpoint_for(args.model, args.checkpoint)  # the licence, before anything runs
    require("torch")
    from momug.batch.runner import BatchSettings, run_batch
    from momug.batch.shard import current_shard

    if args.batch_size < 1:
        raise MomugError("--batch-size must be at least 1")
    settings = BatchSettings(checkpoint=checkpoint, seconds=args.seconds, seed=args.seed, steps=args.steps,
                             guidance=args.guidance, batch_size=args.batch_size, device=args.device,
                             bvh=not args.no_bvh, contact_sheet=not args.no_contact_sheet,
                             clean_feet=args.clean_feet, split_sequences=args.split_sequences)
    shard = current_shard()

    def log(message: str) -> None:
        print(f"momug batch: {message}", file=sys.stderr)

    try:
        result = run_batch(args.prompts, args.output, settings, shard=shard, progress=not args.quiet, log=log)
    finally:
        shard.close()
    if shard.is_main:
        print(f"momug batch: {result.done} written, {result.skipped} already finished, "
              f"{len(result.failed)} failed, {len(result.line_errors)} bad lines; manifest {result.manifest}")
        for sheet in result.contact_sheets:
            print(f"momug batch: contact sheet {sheet}")
    return 1 if (result.failed or result.line_errors) else 0
