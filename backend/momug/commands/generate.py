"""`momug generate "PROMPT" -o OUT`: text to motion (.npz or .bvh, by extension)."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

from momug.errors import MomugError

OUTPUT_SUFFIXES = (".npz", ".bvh")


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "generate", help="generate motion from a text prompt",
        description="Generate a motion from a prompt with the MoMug model and write it as .npz "
        "(joints, rotations, root translation, fps, prompt) or .bvh (SMPL-22 skeleton), by the "
        "extension of -o. With --prompts FILE (one prompt a line), -o is a folder.")
    p.add_argument("prompt", nargs="?", help='what the person does, e.g. "a person jogs in a circle"')
    p.add_argument("--prompts", metavar="FILE", help="a text file with one prompt per line")
    p.add_argument("-o", "--output", required=True, help="output .npz/.bvh file (or folder with --prompts)")
    p.add_argument("--seconds", type=float, default=4.0, help="length of the motion (default 4)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0); prompt i of a file uses seed+i")
    p.add_argument("--guidance", type=float, default=2.5, help="classifier-free guidance scale (default 2.5)")
    p.add_argument("--steps", type=int, default=25, help="DDIM sampling steps (default 25)")
    p.add_argument("--format", choices=("npz", "bvh"), default="npz", help="file type with --prompts")
    p.add_argument("--batch-size", type=int, default=8, help="prompts per forward pass with --prompts")
    p.add_argument("--checkpoint", metavar="DIR", help="model folder (default: the shipped model)")
    p.add_argument("--device", default="auto", help="auto, cpu or cuda")


def slug(text: str, limit: int = 40) -> str:
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")[:limit] or "motion"


def read_prompt_lines(path: str) -> list[tuple[int, str]]:
    """(line number, stripped text) of every line that is not blank or a # comment."""
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise MomugError(f"cannot read prompts file {path}: {exc.strerror}") from None
    except UnicodeDecodeError as exc:
        raise MomugError(f"prompts file {path} is not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    return [(i, line.strip()) for i, line in enumerate(lines, start=1)
            if line.strip() and not line.lstrip().startswith("#")]


def read_prompts(path: str) -> list[str]:
    prompts = [text for _, text in read_prompt_lines(path)]
    if not prompts:
        raise MomugError(f"{path} has no prompts (one per line)")
    return prompts


def run(args: argparse.Namespace) -> int:
    from momug.errors import require

    if bool(args.prompt) == bool(args.prompts):
        raise MomugError('give either a prompt ("a person waves") or --prompts FILE')
    require("torch")
    prompts = read_prompts(args.prompts) if args.prompts else [args.prompt]
    out = Path(args.output)
    if args.prompts:
        if out.suffix.lower() in OUTPUT_SUFFIXES:
            raise MomugError("with --prompts, -o is a folder")
        targets = [out / f"{i:04d}_{slug(p)}.{args.format}" for i, p in enumerate(prompts)]
    else:
        if out.suffix.lower() not in OUTPUT_SUFFIXES:
            raise MomugError(f"-o must end in .npz or .bvh, got '{out.name}'")
        targets = [out]
    if args.batch_size < 1:
        raise MomugError("--batch-size must be at least 1")

    from tqdm.auto import tqdm

    from momug.motion.convert import write_motion
    from momug.pipeline import MotionPipeline, check_prompt

    for p in prompts:  # fail fast, before the model loads
        check_prompt(p)
    pipe = MotionPipeline.load(args.checkpoint, args.device)
    for p in prompts:  # every prompt checked before any work starts
        pipe.validate_request(p, args.seconds, args.steps, args.guidance)
    bar = tqdm(total=len(prompts) * args.steps, desc="generate", unit="step", leave=False)
    for start in range(0, len(prompts), args.batch_size):
        chunk = prompts[start:start + args.batch_size]
        done = bar.n

        def progress(fraction, base=done, n=len(chunk)):
            bar.update(base + round(fraction * args.steps * n) - bar.n)

        motions = pipe.generate(chunk, [args.seconds] * len(chunk),
                                [args.seed + start + i for i in range(len(chunk))],
                                guidance=args.guidance, steps=args.steps, progress=progress)
        for motion, target in zip(motions, targets[start:start + len(chunk)]):
            target.parent.mkdir(parents=True, exist_ok=True)
            write_motion(target, motion)
            bar.write(f"wrote {target} ({motion.num_frames} frames, {motion.seconds:.2f} s)")
    bar.close()
    return 0
