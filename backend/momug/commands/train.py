"""`momug train --config FILE`: train or fine-tune a MoMug model on a HumanML3D-format folder.

Multi-GPU / multi-node: run the same command under `accelerate launch` (DDP or FSDP, as
configured with `accelerate config`)."""

from __future__ import annotations

import argparse


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "train", help="train a model on a HumanML3D-format folder",
        description="Train MoMug (LoRA + motion heads on a base LLM) from a TOML config. Resumes "
        "automatically when the output folder holds a training state. For several GPUs or nodes, "
        "launch it with `accelerate launch -m momug.cli train --config FILE`.")
    p.add_argument("--config", required=True, help="TOML file: data, output, [model], [train]")
    p.add_argument("--data", help="override the config's data folder")
    p.add_argument("--output", help="override the config's output folder")
    p.add_argument("--max-steps", type=int, help="override [train] max_steps")
    p.add_argument("--stop-after", type=int, metavar="STEP",
                   help="stop (and save) at this step, the learning-rate schedule still that of max_steps")
    p.add_argument("--restart", action="store_true", help="ignore a training state in the output folder")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def stop_after_step(args: argparse.Namespace) -> int | None:
    """--stop-after, checked (also used by `momug stream train`)."""
    value = getattr(args, "stop_after", None)
    if value is not None and value < 1:
        from momug.errors import MomugError

        raise MomugError(f"--stop-after must be a step of at least 1, got {value}")
    return value


def run(args: argparse.Namespace) -> int:
    from momug.errors import require

    require("torch")
    require("accelerate")
    from momug.train.config import load_train_config
    from momug.train.loop import train

    cfg = load_train_config(args.config, {"data": args.data, "output": args.output})
    if args.max_steps is not None:
        cfg.train.max_steps = args.max_steps
    out = train(cfg, resume=not args.restart, progress=not args.quiet, stop_after=stop_after_step(args))
    print(f"momug train: checkpoint in {out}")
    return 0
