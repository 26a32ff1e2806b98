"""`momug stream train-vae|eval-vae|train`: the streaming (LLaMo-style) mode's causal motion VAE
and autoregressive model.

    momug stream train-vae --data DIR -o DIR [--steps N] [--batch-size N] [--restart]
    momug stream eval-vae  [--checkpoint DIR] --data DIR [--split test] [--limit N] [--json OUT]
    momug stream train     --config FILE [--max-steps N] [--restart]
"""

from __future__ import annotations

import argparse
import json

from momug.errors import MomugError


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("stream", help="streaming mode: train the motion VAE and the streaming model",
                              description="Tools for the streaming generation mode (causal VAE latents "
                              "generated one at a time).")
    sub = p.add_subparsers(dest="stream_command", metavar="SUBCOMMAND")
    t = sub.add_parser("train-vae", help="train the causal motion VAE on a HumanML3D-format folder",
                       description="Train the causal VAE (4 frames -> one latent) on the train split; "
                       "validates on the val split, writes metrics.jsonl and resumes from the output "
                       "folder's training state unless --restart.")
    t.add_argument("--data", metavar="DIR", required=True, help="HumanML3D-format folder")
    t.add_argument("-o", "--output", metavar="DIR", required=True, help="folder to write the VAE to")
    t.add_argument("--steps", type=int, default=5000, help="total training steps (default 5000)")
    t.add_argument("--batch-size", type=int, default=32, help="windows per step (default 32)")
    t.add_argument("--window", type=int, default=64, help="frames per window, a multiple of 4 (default 64)")
    t.add_argument("--lr", type=float, default=1e-3, help="peak learning rate (default 1e-3)")
    t.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    t.add_argument("--restart", action="store_true", help="ignore a training state in the output folder")
    t.add_argument("--quiet", action="store_true", help="no progress bar")
    a = sub.add_parser("train", help="train the autoregressive streaming model on VAE latents",
                       description="Train the streaming model (MoT motion weights, latent adapter, flow "
                       "and end heads) from a TOML config on a HumanML3D-format folder; resumes from the "
                       "output folder's training state unless --restart. Several processes: "
                       "`accelerate launch -m momug.cli stream train --config FILE`.")
    a.add_argument("--config", required=True, help="TOML file: data, output, vae, [model], [train]")
    a.add_argument("--max-steps", type=int, help="override [train] max_steps")
    a.add_argument("--stop-after", type=int, metavar="STEP",
                   help="stop (and save) at this step, the learning-rate schedule still that of max_steps")
    a.add_argument("--restart", action="store_true", help="ignore a training state in the output folder")
    a.add_argument("--quiet", action="store_true", help="no progress bar")
    e = sub.add_parser("eval-vae", help="reconstruction MPJPE (mm) of a VAE on a split",
                       description="Encode and decode every clip of a split through the mean latents "
                       "and print the mean per-joint position error in millimetres.")
    e.add_argument("--checkpoint", metavar="DIR", help="VAE folder (default: the shipped one)")
    e.add_argument("--data", metavar="DIR", required=True, help="HumanML3D-format folder")
    e.add_argument("--split", default="test", help="split to evaluate (default test)")
    e.add_argument("--limit", type=int, metavar="N", help="use only the split's first N clips")
    e.add_argument("--json", metavar="OUT", help="also write the result to this JSON file")


def run(args: argparse.Namespace) -> int:
    from momug.errors import require

    require("torch")
    if args.stream_command == "train-vae":
        from momug.stream.train_vae import train_vae

        out = train_vae(args.data, args.output, steps=args.steps, batch_size=args.batch_size, window=args.window,
                        lr=args.lr, seed=args.seed, resume=not args.restart, progress=not args.quiet)
        print(f"momug stream train-vae: VAE in {out}")
        return 0
    if args.stream_command == "train":
        require("accelerate")
        from momug.commands.train import stop_after_step
        from momug.stream.train_ar import load_stream_config, train_stream

        cfg = load_stream_config(args.config)
        if args.max_steps is not None:
            cfg.train.max_steps = args.max_steps
        out = train_stream(cfg, resume=not args.restart, progress=not args.quiet, stop_after=stop_after_step(args))
        print(f"momug stream train: checkpoint in {out}")
        return 0
    if args.stream_command == "eval-vae":
        from momug.data.humanml3d import MotionTextFolder
        from momug.stream.train_vae import evaluate_mpjpe
        from momug.stream.vae import from_pretrained

        vae = from_pretrained(args.checkpoint)
        res = evaluate_mpjpe(vae, MotionTextFolder(args.data, args.split), args.limit)
        res["split"] = args.split
        print(f"{args.split}: MPJPE {res['mpjpe_mm']:.1f} mm, root-relative MPJPE {res['mpjpe_rel_mm']:.1f} mm "
              f"over {res['clips']} clips")
        if args.json:
            with open(args.json, "w", encoding="utf-8") as f:
                json.dump(res, f, indent=2)
        return 0
    raise MomugError("choose a subcommand: momug stream train-vae|eval-vae|train (see --help)")
