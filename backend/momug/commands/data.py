"""`momug data synth`: write the procedural text-motion corpus in the HumanML3D folder layout."""

from __future__ import annotations

import argparse

from momug.errors import MomugError


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("data", help="make or inspect training data")
    sub = p.add_subparsers(dest="data_command", metavar="SUBCOMMAND")
    s = sub.add_parser(
        "synth",
        help="generate a procedural text-motion corpus (HumanML3D layout)",
        description="Generate N captioned motions (1-3 actions each, 2-10 s at 20 fps) into DIR in the "
        "HumanML3D folder layout: new_joints/, new_joint_vecs/, texts/, train/val/test.txt, Mean.npy, "
        "Std.npy, plus meta.jsonl with each motion's actions and parameters.",
    )
    s.add_argument("--n", type=int, required=True, help="number of motions")
    s.add_argument("--out", required=True, help="output folder (created if missing)")
    s.add_argument("--seed", type=int, default=0, help="random seed; the same seed gives identical files")
    s.add_argument("--workers", type=int, default=2, help="worker processes (default 2)")
    s.add_argument("--quiet", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    if getattr(args, "data_command", None) != "synth":
        raise MomugError("choose a subcommand: momug data synth --n N --out DIR [--seed S] [--workers K]")
    if args.n <= 0:
        raise MomugError(f"--n must be a positive number of motions, got {args.n}")
    if args.workers < 1:
        raise MomugError(f"--workers must be at least 1, got {args.workers}")
    from momug.data.synth.writer import write_corpus

    summary = write_corpus(args.out, args.n, seed=args.seed, workers=args.workers, progress=not args.quiet)
    print(f"wrote {summary['count']} motions ({summary['hours']:.2f} h of motion; splits "
          f"{summary['splits']}) to {summary['out']} in {summary['seconds']:.1f} s")
    return 0
