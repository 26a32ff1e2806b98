#!/usr/bin/env python
"""Average the weights of diffusion checkpoints of one model (a "model soup") into a new
checkpoint folder, float16 like the shipped ones. Meant for runs that start from the same weights
and differ in their seed or a small recipe change (momug.model.average says how the LoRA layers
are combined exactly).

    python scripts/average_checkpoints.py runs/motion_scope_stage15 runs/motion_scope_stage16 \\
        checkpoints_in_training/motion_scope_stage11 -o runs/soup_11_15_16
    python scripts/average_checkpoints.py A B -o OUT --weights 2 1 --guidance 2.5 --rank 16
"""

from __future__ import annotations

import argparse
import sys

import torch


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("sources", nargs="+", help="two or more diffusion checkpoint folders")
    parser.add_argument("-o", "--output", required=True, help="folder to write (created or overwritten)")
    parser.add_argument("--weights", type=float, nargs="+", help="one weight per source (default: equal)")
    parser.add_argument("--guidance", type=float, help="the average's default guidance scale (default: the first source's)")
    parser.add_argument("--rank", type=int, help="refactor the averaged LoRA to this rank by a truncated SVD "
                        "(lossy; default: the sources' summed rank, exact)")
    parser.add_argument("--float32", action="store_true", help="keep float32 weights (default float16)")
    args = parser.parse_args()

    from momug.errors import MomugError
    from momug.licences import write_licence
    from momug.model import checkpoint as ckpt
    from momug.model.average import average_checkpoints
    from momug.model.config import config_guidance

    try:
        if args.guidance is not None:
            config_guidance(args.guidance, "--guidance")
        config, state, licence, error = average_checkpoints(args.sources, args.weights, args.rank)
        if args.guidance is not None:
            config.guidance = args.guidance
        model = ckpt.build_model(config)
        model.load_trainable_state_dict(state)  # checks every tensor's name and shape
    except MomugError as err:
        print(f"average_checkpoints: {err}", file=sys.stderr)
        return 1
    ckpt.save_pretrained(model, args.output, dtype=torch.float32 if args.float32 else torch.float16)
    write_licence(args.output, licence)
    print(f"wrote {args.output} ({ckpt.checkpoint_id(args.output)}): {len(args.sources)} checkpoints, "
          f"LoRA rank {config.lora_rank}" + (f" (truncated: largest relative error of a layer's update {error:.3f})"
                                             if error else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
