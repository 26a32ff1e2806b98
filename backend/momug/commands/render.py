"""`momug render IN -o preview.gif|.mp4|.png`: a stick-figure preview of a motion file."""

from __future__ import annotations

import argparse


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "render",
        help="stick-figure preview of a motion (.gif, .mp4 or a .png sheet of 8 frames)",
        description=(
            "Draw a motion file (.npz, .bvh, or HumanML3D .npy features/joints) as a stick figure "
            "over a ground grid with the root's path: an animated .gif or .mp4 (needs ffmpeg, e.g. "
            "pip install imageio-ffmpeg), or a .png contact sheet of 8 frames. Left limbs are blue, "
            "right limbs red."
        ),
    )
    p.add_argument("input", metavar="IN", help="motion file (.npz, .bvh or .npy)")
    p.add_argument("-o", "--output", required=True, metavar="OUT", help="preview file: .gif, .mp4 or .png")
    p.add_argument("--fps", type=float, metavar="F",
                   help="frames per second of the animation (default: the motion's, at most 20)")
    p.add_argument("--size", default=None, metavar="WxH",
                   help="image size in pixels (default 480x480; for .png, each of the 8 tiles, default 320x320)")
    p.add_argument("--rig", metavar="PRESET", help="bone map for a BVH of another skeleton (default: detect)")
    p.add_argument("--title", default=None, help="title (default: the motion's prompt, if it has one)")
    p.add_argument("--body", nargs="?", const="neutral", default=None, metavar="TYPE",
                   help="draw the posed human body, shaded, instead of sticks (the anny body, built once "
                        "and cached; needs the 'body' extra). TYPE: neutral (default), female, male, slim, "
                        "heavy, muscular")
    return p


def run(args) -> int:
    from momug.motion.convert import read_motion
    from momug.motion.render import parse_size, render_motion

    size = parse_size(args.size) if args.size else None
    motion = read_motion(args.input, rig=args.rig)
    title = args.title if args.title is not None else motion.prompt
    body = None
    if args.body is not None:
        from momug.body import body_file, load_body

        body = load_body(body_file(args.body))
    out = render_motion(motion.joints, args.output, fps=motion.fps, title=title, render_fps=args.fps, size=size,
                        body=body)
    print(f"wrote {out}")
    return 0
