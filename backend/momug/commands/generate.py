"""`momug generate "PROMPT" -o OUT`: text to motion (.npz or .bvh, by extension), with the diffusion
model or, with --mode stream, the streaming model (whose chunks --stream-to writes as they come)."""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

from momug.errors import MomugError
from momug.model import registry

OUTPUT_SUFFIXES = (".npz", ".bvh")


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "generate", help="generate motion from a text prompt",
        description="Generate a motion from a prompt with the MoMug model and write it as .npz "
        "(joints, rotations, root translation, fps, prompt) or .bvh (SMPL-22 skeleton), by the "
        "extension of -o. With --prompts FILE (one prompt a line), -o is a folder. --mode stream uses "
        "the streaming model instead, and --stream-to FILE.jsonl writes each chunk of frames as a "
        "JSON line the moment it is made.")
    p.add_argument("prompt", nargs="?", help='what the person does, e.g. "a person jogs in a circle"')
    p.add_argument("--prompts", metavar="FILE", help="a text file with one prompt per line")
    p.add_argument("-o", "--output", help="output .npz/.bvh file (or folder with --prompts); "
                   "optional with --stream-to")
    p.add_argument("--mode", choices=("diffusion", "stream"), default="diffusion",
                   help="diffusion (default): the whole motion at once; stream: the streaming model, "
                        "frames in chunks as they are made")
    p.add_argument("--stream-to", metavar="FILE.jsonl|-",
                   help="with --mode stream: write a JSON line per event (start, frames, done or error) "
                        "as soon as it is made, flushed, to FILE or '-' (stdout), for a pipeline to tail")
    p.add_argument("--seconds", type=float, default=None,
                   help="length of the motion (default 4; with --path or --edit, theirs)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0); prompt i of a file uses seed+i")
    p.add_argument("--guidance", type=float, default=None,
                   help="classifier-free guidance scale (default: the model's own, in its config.json: 2.5 "
                        "for the default model and for real, 5 for the shipped streaming model; 1 = none)")
    p.add_argument("--steps", type=int, default=None,
                   help="DDIM sampling steps (default 25); with --mode stream, flow steps per latent "
                        "(default: the model's own)")
    p.add_argument("--no-foot-cleanup", dest="clean_feet", action="store_false",
                   help="keep the model's raw foot motion (by default planted feet are held still; "
                        "diffusion mode only)")
    p.add_argument("--whole-prompt", dest="split_sequences", action="store_false",
                   help="give the model the whole prompt even when it names actions in order (by default "
                        "'walks forward then waves' is made one action at a time, each continuing the last; "
                        "in the streaming mode, each action starts afresh, blended in at the seam)")
    g = p.add_argument_group("animator constraints (diffusion mode, one prompt; files in metres, Y up, "
                             "SMPL-22 .npz/.bvh/.npy motions)")
    g.add_argument("--start", metavar="FILE", help="continue FILE: the new motion starts on the frame after "
                   "FILE's last one, in FILE's world frame, carrying on its pose and velocity")
    g.add_argument("--end", metavar="FILE", help="end at FILE's first pose, where it stands (the last frame "
                   "of the new motion is that pose)")
    g.add_argument("--keys", metavar="FILE", help="known poses: an .npz with `frames` (ints, at 20 fps) and "
                   "`joints` (K, 22, 3), or a motion file whose every frame is known")
    g.add_argument("--path", metavar="FILE", help='root path, JSON: [[x, z], ...] one per frame at 20 fps, or '
                   '{"waypoints": [[x, z], ...], "speed": m/s}; it sets the length')
    g.add_argument("--edit", metavar="FILE", help="a motion to edit: --keep's joints stay bit for bit, the "
                   "rest is regenerated from the prompt (same length and root path)")
    g.add_argument("--keep", metavar="PARTS", help="with --edit: body parts to keep, comma-separated: "
                   "lower, upper, legs, left_leg, right_leg, arms, left_arm, right_arm, spine, head")
    p.add_argument("--format", choices=("npz", "bvh"), default="npz", help="file type with --prompts")
    p.add_argument("--batch-size", type=int, default=8, help="prompts per forward pass with --prompts")
    p.add_argument("--model", metavar="NAME", choices=registry.NAMES, help=registry.OPTION_HELP)
    p.add_argument("--checkpoint", metavar="DIR", help="model folder of the chosen --mode "
                   "(default: the shipped model); not with --model")
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
    if args.mode == "stream":
        registry.check_choice(args.model, args.checkpoint)
        registry.no_streaming(args.model)
        if not args.clean_feet:
            raise MomugError("--no-foot-cleanup is for diffusion mode: the streaming mode sends frames as "
                             "they are made and leaves their feet as the model made them")
        given = [name for name in CONSTRAINT_OPTIONS if getattr(args, name, None)]
        if given:
            raise MomugError(f"--{given[0]} works with the diffusion mode (leave out --mode stream)")
        if args.seconds is None:
            args.seconds = 4.0
        return run_stream(args)
    if args.stream_to:
        raise MomugError("--stream-to needs --mode stream")
    # The named model's licence is checked here, before any file is read or model loaded.
    args.checkpoint = registry.checkpoint_for(args.model, args.checkpoint)
    constraints = read_constraints(args)
    if not args.output:
        raise MomugError("give -o OUT.npz|OUT.bvh (a folder with --prompts)")
    if args.steps is None:
        args.steps = 25
    if args.seconds is None:
        args.seconds = 4.0 if constraints is None else constraints.frames / FPS
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
    if constraints is not None:
        pipe.validate_constraints(constraints)
    bar = tqdm(total=len(prompts) * args.steps, desc="generate", unit="step", leave=False)
    for start in range(0, len(prompts), args.batch_size):
        chunk = prompts[start:start + args.batch_size]
        done = bar.n

        def progress(fraction, base=done, n=len(chunk)):
            bar.update(base + round(fraction * args.steps * n) - bar.n)

        motions = pipe.generate(chunk, [args.seconds] * len(chunk),
                                [args.seed + start + i for i in range(len(chunk))],
                                guidance=args.guidance, steps=args.steps, progress=progress,
                                clean_feet=args.clean_feet, split_sequences=args.split_sequences,
                                **({} if constraints is None else {"constraints": [constraints]}))
        for motion, target in zip(motions, targets[start:start + len(chunk)]):
            target.parent.mkdir(parents=True, exist_ok=True)
            write_motion(target, motion)
            parts = motion.made_from or []
            made_as = f"; made in {len(parts)} steps: " + " / ".join(parts) if len(parts) > 1 else ""
            bar.write(f"wrote {target} ({motion.num_frames} frames, {motion.seconds:.2f} s{made_as})")
    bar.close()
    return 0


FPS = 20.0  # the frame rate of constraint files' frame numbers and paths (the model's)
CONSTRAINT_OPTIONS = ("start", "end", "keys", "path", "edit", "keep")


def read_constraints(args: argparse.Namespace):
    """The constraint options read and checked (momug.constraints.build), before any model loads;
    None when none was given."""
    given = [name for name in CONSTRAINT_OPTIONS if getattr(args, name, None)]
    if not given:
        return None
    if args.prompts:
        raise MomugError(f"--{given[0]} works with one prompt, not --prompts")
    from momug import constraints as C

    frames = None if args.seconds is None else int(round(args.seconds * FPS))
    if args.seconds is not None and not (args.seconds > 0 and args.seconds == args.seconds):
        raise MomugError("--seconds must be a positive number")
    return C.build(
        frames, FPS, max_frames=10**6, default_frames=int(4.0 * FPS),
        start=C.load_motion_joints(args.start, FPS) if args.start else None,
        end=C.load_motion_joints(args.end, FPS) if args.end else None,
        keys=C.load_keys_file(args.keys, FPS) if args.keys else None,
        path=C.load_path_file(args.path, FPS) if args.path else None,
        edit=C.load_motion_joints(args.edit, FPS) if args.edit else None,
        keep=args.keep)


def run_stream(args: argparse.Namespace) -> int:
    """One prompt through the streaming model: JSON lines as chunks come, the file at the end."""
    from momug.errors import require

    if args.prompts:
        raise MomugError("--mode stream takes one prompt, not --prompts")
    if not (args.output or args.stream_to):
        raise MomugError("give -o OUT.npz|OUT.bvh, --stream-to FILE.jsonl, or both")
    out = Path(args.output) if args.output else None
    if out is not None and out.suffix.lower() not in OUTPUT_SUFFIXES:
        raise MomugError(f"-o must end in .npz or .bvh, got '{out.name}'")
    require("torch")
    import numpy as np

    from momug.motion.convert import write_motion
    from momug.motion.motionfile import Motion
    from momug.pipeline import check_prompt
    from momug.stream.pipeline import StreamPipeline
    from momug.streaming import dumps, frames_event, start_event, stream_chunks

    check_prompt(args.prompt)  # fail fast, before the model loads
    pipe = StreamPipeline.load(args.checkpoint, args.device)
    pipe.validate_request(args.prompt, args.seconds, args.steps, args.guidance)
    sink = _open_sink(args.stream_to)
    # With --stream-to -, stdout carries the events only; messages go to stderr.
    say = sys.stderr if args.stream_to == "-" else sys.stdout

    def event(name: str, data: dict) -> None:
        if sink is not None:
            sink.write(dumps({"event": name, **data}) + "\n")
            sink.flush()

    chunks = []
    try:
        event("start", start_event(pipe, args.prompt, args.seconds, args.seed, args.steps, args.guidance,
                                   args.split_sequences))
        for chunk in stream_chunks(pipe, args.prompt, args.seconds, args.seed, args.steps,
                                   guidance=args.guidance, split_sequences=args.split_sequences):
            chunks.append(chunk)
            event("frames", frames_event(chunk))
        event("done", {"frames": sum(len(c.joints) for c in chunks)})
    except (MomugError, KeyboardInterrupt) as exc:
        # A pipeline tailing the file learns that no more frames will come, and why.
        event("error", {"detail": "interrupted" if isinstance(exc, KeyboardInterrupt) else str(exc)})
        raise
    finally:
        if sink is not None and sink is not sys.stdout:
            sink.close()
    if args.stream_to and args.stream_to != "-":
        print(f"streamed {len(chunks)} chunks to {args.stream_to}", file=say, flush=True)
    if out is not None:
        motion = Motion(joints=np.concatenate([c.joints for c in chunks]), fps=pipe.fps,
                        prompt=args.prompt.strip(),
                        rotations=np.concatenate([c.rotations for c in chunks]),
                        root_translation=np.concatenate([c.root_translation for c in chunks]))
        write_motion(out, motion)
        print(f"wrote {out} ({motion.num_frames} frames, {motion.seconds:.2f} s)", file=say, flush=True)
    return 0


def _open_sink(target: str | None):
    if not target:
        return None
    if target == "-":
        return sys.stdout
    path = Path(target)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        return open(path, "w", encoding="utf-8")
    except OSError as exc:
        raise MomugError(f"cannot write {target}: {exc.strerror or exc}") from None
