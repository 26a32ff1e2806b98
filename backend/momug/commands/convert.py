"""`momug convert IN OUT`: between .bvh, .npz and HumanML3D feature .npy files."""

from __future__ import annotations

import argparse


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "convert",
        help="convert motion between .bvh, .npz and HumanML3D feature .npy",
        description=(
            "Convert a motion between .bvh, .npz (the momug motion file) and HumanML3D features "
            ".npy ((T-1, 263) at 20 fps; a (T, 22, 3) joints .npy is also read), by extension. "
            "A BVH of another skeleton is mapped onto SMPL-22 through a bone map from rigs/bonemaps "
            "(detected from its bone names, or named with --rig). BVH files are taken as Y up; "
            "their units are detected from the body's size unless --scale is given."
        ),
    )
    p.add_argument("input", metavar="IN", help="input file (.bvh, .npz or .npy)")
    p.add_argument("output", metavar="OUT", help="output file (.bvh, .npz or .npy)")
    p.add_argument("--rig", metavar="PRESET",
                   help="bone map for a BVH input: a preset name (mixamo, rigify, ue5_mannequin, smpl, "
                        "smplx_addon, cmu_bvh) or a path to a bone map .json; default: detect")
    p.add_argument("--fps", type=float, metavar="F",
                   help="frame rate of the output (resampled); feature .npy files are always 20")
    p.add_argument("--input-fps", type=float, metavar="F",
                   help="frame rate of a joints .npy input (default 20, as HumanML3D)")
    p.add_argument("--scale", type=float, metavar="M",
                   help="metres per unit of a BVH input (default: detected from the skeleton's size)")
    return p


def run(args) -> int:
    from momug.errors import MomugError
    from momug.motion.convert import convert_file

    for name in ("fps", "input_fps", "scale"):
        value = getattr(args, name, None)
        if value is not None and not value > 0:
            raise MomugError(f"--{name.replace('_', '-')} must be a positive number, got {value}")
    notes = convert_file(args.input, args.output, rig=args.rig, fps=args.fps, scale=args.scale,
                         input_fps=args.input_fps)
    for line in notes:
        print(line)
    return 0
