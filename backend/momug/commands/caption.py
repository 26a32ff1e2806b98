"""`momug caption FILE`: describe a motion (.npz, .bvh of any mapped skeleton, or features .npy)."""

from __future__ import annotations

import argparse

from momug.model import registry


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "caption", help="describe a motion in words",
        description="Read a motion (.npz, .bvh whose skeleton a bone map in rigs/ covers, or a "
        "HumanML3D feature .npy) and print the model's caption.")
    p.add_argument("input", metavar="FILE", help="motion file (.npz, .bvh or .npy)")
    p.add_argument("--rig", metavar="PRESET", help="bone map for a BVH input (default: detect)")
    p.add_argument("--sample", action="store_true", help="sample words instead of greedy decoding")
    p.add_argument("--beams", type=int, default=1, help="beam search width (default 1: greedy)")
    p.add_argument("--seed", type=int, default=0, help="random seed for --sample")
    p.add_argument("--model", metavar="NAME", choices=registry.NAMES, help=registry.OPTION_HELP)
    p.add_argument("--checkpoint", metavar="DIR", help="model folder (default: the shipped model); "
                   "not with --model")
    p.add_argument("--device", default="auto", help="auto, cpu or cuda")
    p.add_argument("--mode", choices=("diffusion", "stream"), default="diffusion",
                   help="which model captions: the diffusion model (default) or the streaming model "
                   "(greedy only; --checkpoint then names a streaming checkpoint)")


def run(args: argparse.Namespace) -> int:
    from momug.errors import MomugError, require

    registry.check_choice(args.model, args.checkpoint)
    if args.mode == "stream":
        registry.no_streaming(args.model)
    else:  # the named model's licence, before the motion is read or torch imported
        args.checkpoint = registry.checkpoint_for(args.model, args.checkpoint)
    require("torch")
    from momug.motion.convert import read_motion
    from momug.pipeline import MotionPipeline

    motion = read_motion(args.input, rig=args.rig)
    if args.sample and args.beams > 1:
        raise MomugError("choose --sample or --beams, not both")
    if args.mode == "stream":
        if args.sample or args.beams > 1:
            raise MomugError("the streaming model captions greedily: drop --sample/--beams")
        from momug.stream.pipeline import StreamPipeline

        print(StreamPipeline.load(args.checkpoint, args.device).caption(motion.joints, motion.fps))
        return 0
    pipe = MotionPipeline.load(args.checkpoint, args.device)
    options = {"do_sample": args.sample, "seed": args.seed, "num_beams": args.beams}
    print(pipe.caption([motion.joints], [motion.fps], **options)[0])
    return 0
