#!/usr/bin/env python
"""Average the weights of checkpoints of one model (a "model soup"), diffusion or streaming, into
a new checkpoint folder, float16 like the shipped ones. Meant for runs that start from the same
weights and differ in their seed or a small recipe change, or checkpoints of one run (momug.model.average
says how the low-rank layers are combined exactly; streaming sources must share their VAE).

    python scripts/average_checkpoints.py runs/motion_scope_stage15 runs/motion_scope_stage16 \\
        checkpoints_in_training/motion_scope_stage11 -o runs/soup_11_15_16
    python scripts/average_checkpoints.py A B -o OUT --weights 2 1 --guidance 2.5 --rank 16
    python scripts/average_checkpoints.py checkpoints_in_training/stream_stage15 \
        checkpoints_in_training/stream_stage15_step1500 -o runs/stream_mix --guidance 5
"""

from __future__ import annotations

import argparse
import sys

import torch


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("sources", nargs="+", help="two or more checkpoint folders of one model")
    parser.add_argument("-o", "--output", required=True, help="folder to write (created or overwritten)")
    parser.add_argument("--weights", type=float, nargs="+", help="one weight per source (default: equal)")
    parser.add_argument("--guidance", type=float, help="the average's default guidance scale (default: the first source's)")
    parser.add_argument("--rank", type=int, help="refactor the averaged low-rank updates to this rank by a "
                        "truncated SVD (lossy; default: the sources' summed rank, exact)")
    parser.add_argument("--float32", action="store_true", help="keep float32 weights (default float16)")
    args = parser.parse_args()

    from momug.errors import MomugError
    from momug.model.average import write_average
    from momug.model.checkpoint import checkpoint_id

    try:
        config, error = write_average(args.sources, args.output, args.weights, args.rank, args.guidance,
                                      torch.float32 if args.float32 else torch.float16)
    except MomugError as err:
        print(f"average_checkpoints: {err}", file=sys.stderr)
        return 1
    rank = f"LoRA rank {config.lora_rank}" if hasattr(config, "lora_rank") else f"motion rank {config.mot_rank}"
    print(f"wrote {args.output} ({checkpoint_id(args.output)}): {len(args.sources)} checkpoints, {rank}"
          + (f" (truncated: largest relative error of a layer's update {error:.3f})" if error else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
