#!/usr/bin/env python
"""Copy a trained checkpoint (diffusion or streaming) into a folder with its weights in float16,
the way the shipped defaults are stored (half the size; normalisation statistics stay float32).

    python scripts/export_checkpoint.py runs/default_stage2 backend/momug/checkpoints/default
    python scripts/export_checkpoint.py runs/stream_default backend/momug/checkpoints/stream_default
    python scripts/export_checkpoint.py runs/motion_scope_stage1 backend/momug/checkpoints/default --guidance 2.5

--guidance sets the scale the copy generates with when a request names none (config.json
"guidance"), chosen on the validation split with scripts/sweep_guidance.sh. For a streaming
checkpoint, --onset-guidance sets the scale of each motion's first latent (config.json
"onset_guidance"; 1 samples it unguided, the rest at --guidance).
"""

from __future__ import annotations

import argparse
import sys

import torch


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("source", help="checkpoint folder written by momug train / momug stream train")
    parser.add_argument("target", help="folder to write (created or overwritten)")
    parser.add_argument("--guidance", type=float, help="the copy's default guidance scale (default: the source's)")
    parser.add_argument("--onset-guidance", type=float,
                        help="streaming only: the scale of each motion's first latent (default: the source's)")
    args = parser.parse_args()

    from momug.errors import MomugError
    from momug.model import checkpoint as ckpt
    from momug.model.config import config_guidance
    from momug.stream import checkpoint as sckpt

    for flag, value in (("--guidance", args.guidance), ("--onset-guidance", args.onset_guidance)):
        if value is not None:
            try:
                config_guidance(value, flag)
            except MomugError as err:
                parser.error(str(err))
    stream = sckpt.is_stream_checkpoint(args.source)
    if args.onset_guidance is not None and not stream:
        parser.error("--onset-guidance is for streaming checkpoints (the diffusion sampler has no first latent)")
    model, vae = sckpt.from_pretrained(args.source) if stream else (ckpt.from_pretrained(args.source), None)
    if args.guidance is not None:
        model.config.guidance = args.guidance
    if args.onset_guidance is not None:
        model.config.onset_guidance = args.onset_guidance
    if stream:
        sckpt.save_pretrained(model, vae, args.target, dtype=torch.float16)
    else:
        ckpt.save_pretrained(model, args.target, dtype=torch.float16)
    # An opt-in checkpoint's terms go with it (loading the source already required accepting them).
    from momug.licences import read_licence, write_licence

    write_licence(args.target, read_licence(args.source))
    print(f"wrote {args.target} ({ckpt.checkpoint_id(args.target)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
