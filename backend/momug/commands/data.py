"""`momug data synth`: write the procedural text-motion corpus in the HumanML3D folder layout.
`momug data general-text`: sample ordinary text from the base LLM (replayed in training so the
LoRA adapter keeps the base model's language).
`momug data mirror`: add left-right mirrored copies of a split's clips (HumanML3D's M files).
`momug data steady`: add single straight gaits cut to their cruising stretch.
`momug data weight`: a split with chosen actions' clips listed several times.
`momug data styles`: add slow and brisk gaits captioned by style ("an elderly man walks forward.").
`momug data undirected`: add straight gaits captioned without a direction ("a man runs.").
`momug data import`: any folder of BVH/.npz motion files, with captions, as a corpus.
`momug data bandai`: the Bandai-Namco Research Motion Dataset as a captioned corpus.
`momug data merge`: one corpus from several, statistics recomputed."""

from __future__ import annotations

import argparse

from momug.errors import MomugError


def _copies_arguments(parser, suffix: str) -> None:
    """The arguments of a command that writes derived copies of a split's clips and a list of both
    (styles, undirected; momug.data.weight.copies_request checks them)."""
    parser.add_argument("data", help="a procedural corpus folder (momug data synth or merge; mirror, steady)")
    parser.add_argument("--split", default="train", help="which ids file to read (default train)")
    parser.add_argument("--times", type=int, default=1, help="how many times to list each copy (1 to 20, default 1)")
    parser.add_argument("--name", help=f"name of the ids file written (default <split>_{suffix})")


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("data", help="make or inspect training data")
    sub = p.add_subparsers(dest="data_command", metavar="SUBCOMMAND")
    s = sub.add_parser(
        "synth",
        help="generate a procedural text-motion corpus (HumanML3D layout)",
        description="Generate N captioned motions (1-3 actions each, 2-10 s at 20 fps) into DIR in the "
        "HumanML3D folder layout: new_joints/, new_joint_vecs/, texts/, train/val/test.txt, Mean.npy, "
        "Std.npy, plus meta.jsonl with each motion's actions and parameters.",
    )
    s.add_argument("--n", type=int, required=True, help="number of motions")
    s.add_argument("--out", required=True, help="output folder (created if missing)")
    s.add_argument("--seed", type=int, default=0, help="random seed; the same seed gives identical files")
    s.add_argument("--workers", type=int, default=2, help="worker processes (default 2)")
    # Spelled out rather than imported from momug.data.synth.captions (which would load numpy on
    # every CLI start); a test keeps the two the same.
    s.add_argument("--vocabulary", choices=("base", "wide", "both", "rich", "all"), default="base",
                   help="caption wording: base (default; the first corpus), wide (more verbs, adverbs and "
                        "subjects for the same motions), both (each motion's base and wide captions), rich "
                        "(wide plus more subjects, verbs and joiners) or all (base, wide and rich captions)")
    s.add_argument("--actions", metavar="A,B,...",
                   help="draw the motions only from these actions (comma-separated names, e.g. walk,jog,run): "
                        "a corpus to merge with a full one so these actions are seen more often")
    s.add_argument("--gait-seconds", metavar="LO,HI",
                   help="how long each straight walk, jog or run keeps its cruising speed, between speeding up "
                        "and slowing down (default 1.5,4; LO,HI in seconds, up to 8): longer clips of steady gait")
    # Spelled out like --vocabulary (a test keeps it equal to momug.data.synth.actions.JUMP_HEIGHTS).
    s.add_argument("--jump-heights", choices=("overlap", "apart"), default="overlap",
                   help="how high small and big jumps in place go: overlap (default; the first corpora, where "
                        "the two bands meet once body size is applied) or apart (small 0.11-0.16 m, big "
                        "0.36-0.46 m, so the words name clearly different jumps)")
    s.add_argument("--quiet", action="store_true", help="no progress bar")
    g = sub.add_parser(
        "general-text",
        help="sample ordinary English from the base LLM, for training that keeps its language",
        description="Sample continuations of varied openings from the base LLM (temperature 1, top-50 "
        "tokens) and write them as JSON lines {\"text\": ...}. A training config's general_text = FILE "
        "with text_rows > 0 replays them so the adapter keeps the base model's language.",
    )
    g.add_argument("--out", required=True, help="output .jsonl file")
    g.add_argument("--base-model", default="gemma3-270m", help="base LLM (default: the embedded gemma3-270m)")
    g.add_argument("--per-opening", type=int, default=8, help="samples per opening (default 8)")
    g.add_argument("--tokens", type=int, default=112, help="new tokens per sample (default 112)")
    g.add_argument("--seed", type=int, default=0, help="random seed")
    g.add_argument("--quiet", action="store_true", help="no progress bar")
    m = sub.add_parser(
        "mirror",
        help="add left-right mirrored copies of a split's clips (SMPL-22 folders)",
        description="Write a mirrored copy M<id> of every clip in DIR/<split>.txt (the motion reflected, "
        "'left'/'right' and 'clockwise'/'counterclockwise' swapped in its captions) and DIR/<split>_mirrored.txt "
        "listing originals and mirrors. Existing files are not changed; train on the mirrors with "
        "split = \"train_mirrored\" in a config's [train] table. Rerunning resumes.",
    )
    m.add_argument("data", help="a HumanML3D-format folder with new_joints/ (SMPL-22)")
    m.add_argument("--split", default="train", help="which ids file to mirror (default train)")
    m.add_argument("--quiet", action="store_true", help="no progress bar")
    w = sub.add_parser(
        "steady",
        help="add windows of single straight gaits cut to their cruising stretch (procedural corpora)",
        description="For every clip of DIR/<split>.txt that is one straight walk, jog, run or other gait "
        "(from meta.jsonl), write S<id>: the clip cut to where it moves at its cruising speed, without speeding "
        "up from rest and slowing to a stop, with the same captions; and DIR/<split>_steady.txt listing the split "
        "and the windows. Existing files are not changed; train on them with split = \"<split>_steady\".",
    )
    w.add_argument("data", help="a procedural corpus folder (momug data synth, merge or mirror)")
    w.add_argument("--split", default="train_mirrored", help="which ids file to read (default train_mirrored)")
    w.add_argument("--min-seconds", type=float, default=2.0, help="shortest window kept (default 2 s)")
    w.add_argument("--onset", action="store_true",
                   help="also write O<id>: each clip from standing to the end of its cruise (the gait starts "
                        "from rest and is still going when the clip ends), listed in DIR/<split>_steady_onset.txt")
    w.add_argument("--without-stops", action="store_true",
                   help="with --onset: leave out each clip that got an onset window, so no single straight gait in the "
                        "list stops and stands (for the streaming model); DIR/<split>_steady_onset_nostops.txt")
    wt = sub.add_parser(
        "weight",
        help="a split with chosen actions' clips listed several times, so training draws them more often",
        description="Write DIR/<split>_weighted.txt (or DIR/<name>.txt): the ids of DIR/<split>.txt with every "
        "clip that has one of the named actions (from meta.jsonl; mirrors and steady windows count as their "
        "clip) listed N times. No motion or caption is written; train on it with split = \"<split>_weighted\".",
    )
    wt.add_argument("data", help="a procedural corpus folder (momug data synth or merge; mirror, steady)")
    wt.add_argument("--split", default="train", help="which ids file to read (default train)")
    wt.add_argument("--times", required=True, metavar="ACTION=N,...",
                    help="how many times to list each action's clips, e.g. kick=4,jump_in_place=4 (N from 1 to 20)")
    wt.add_argument("--name", help="name of the ids file written (default <split>_weighted)")
    st = sub.add_parser(
        "styles",
        help="copies of the slow and brisk gaits captioned by style (\"an elderly man walks forward.\")",
        description="For every clip of DIR/<split>.txt that is one straight slow walk or jog, fast walk or fast "
        "run (or a mirror, steady or onset window of one), write a copy Y<id> with the same motion and three "
        "captions that say its speed through a style (\"an elderly man walks forward.\", \"an athletic woman walks "
        "forward.\", \"someone runs straight ahead wearily.\"), and DIR/<split>_styled.txt listing the split and "
        "the copies. Existing files are not changed; train on it with split = \"<split>_styled\".",
    )
    _copies_arguments(st, "styled")
    un = sub.add_parser(
        "undirected",
        help="copies of the straight gaits captioned without a direction (\"a man runs.\")",
        description="For every clip of DIR/<split>.txt that is one straight forward walk, jog, run, sneak, march, "
        "limp or skip (or a mirror, steady or onset window of one), write a copy U<id> with the same motion and "
        "the clip's captions with the direction phrase taken out (\"a man runs forward steadily.\" -> \"a man "
        "runs steadily.\"), and DIR/<split>_undirected.txt listing the split and the copies. Existing files are "
        "not changed; train on it with split = \"<split>_undirected\".",
    )
    _copies_arguments(un, "undirected")
    i = sub.add_parser(
        "import",
        help="a folder of BVH/.npz motion files, with captions, as a HumanML3D-layout corpus",
        description="Read every .bvh (any skeleton a bone map preset or the automatic mapper recognises) and "
        ".npz motion under SRC, resample to --fps, and write DIR in the HumanML3D layout (new_joints/, "
        "new_joint_vecs/, texts/, train/val/test.txt by a hash of each clip's path, Mean.npy/Std.npy, meta.jsonl, "
        "skipped.jsonl). Captions come from a JSON-lines file, one {\"file\": PATH, \"captions\": [...]} per line "
        "(PATH relative to SRC, or a file name or stem). Rerunning resumes; files that cannot be imported are "
        "skipped with the reason.",
    )
    i.add_argument("src", help="folder of motion files (searched recursively), or one file")
    i.add_argument("--out", required=True, help="output folder (created if missing)")
    i.add_argument("--captions", required=True, help="JSON-lines captions file")
    _import_options(i)
    b = sub.add_parser(
        "bandai",
        help="the Bandai-Namco Research Motion Dataset (CC BY-NC 4.0) as a captioned corpus",
        description="Import a checkout of github.com/BandaiNamcoResearchInc/Bandai-Namco-Research-Motiondataset "
        "with captions written from each clip's content and style labels in many wordings (some held out for "
        "evaluation, in meta.jsonl). The data are CC BY-NC 4.0: the corpus is for non-commercial use, with "
        "attribution, and must not be redistributed as part of this project.",
    )
    b.add_argument("src", help="the data set's folder (the checkout, its dataset/ folder, or one data set)")
    b.add_argument("--out", required=True, help="output folder (created if missing)")
    _import_options(b, min_seconds=0.5)  # its shortest clips (a dash, a quick wave) are 0.6 s
    g2 = sub.add_parser(
        "merge",
        help="one corpus from several HumanML3D-layout folders",
        description="Merge corpora into DIR: each clip keeps its split, is renamed SOURCE-ID and keeps its source "
        "in meta.jsonl; files are hard-linked where possible; Mean/Std are recomputed over the merged train split.",
    )
    g2.add_argument("sources", nargs="+", help="corpus folders, each DIR or NAME=DIR (NAME prefixes its ids)")
    g2.add_argument("--out", required=True, help="output folder")
    g2.add_argument("--quiet", action="store_true", help="no progress bars")


def _import_options(p, min_seconds: float = 1.0) -> None:
    p.add_argument("--fps", type=float, default=20.0, help="frame rate of the corpus (default 20, HumanML3D's)")
    p.add_argument("--min-seconds", type=float, default=min_seconds,
                   help=f"skip clips shorter than this (default {min_seconds:g})")
    p.add_argument("--rig", default=None, help="bone map preset or .json for the BVH skeleton (default: detect)")
    p.add_argument("--workers", type=int, default=1, help="worker processes (default 1)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def _run_import(args, captioner, captioner_name: str) -> int:
    import sys

    from momug.data.importer import ImportOptions, import_folder

    if not (args.min_seconds >= 0):
        raise MomugError(f"--min-seconds must be zero or more, got {args.min_seconds}")
    options = ImportOptions(fps=args.fps, min_seconds=args.min_seconds, rig=args.rig)

    def skipped(record):
        print(f"skipped {record['file']}: {record['skipped']}", file=sys.stderr)

    summary = import_folder(args.src, args.out, captioner, options, workers=args.workers, progress=not args.quiet,
                            captioner_name=captioner_name, on_skip=skipped)
    print(f"imported {summary['count']} clips ({summary['hours']:.2f} h at {summary['fps']:g} fps; splits "
          f"{summary['splits']}), skipped {summary['skipped']} (see {args.out}/skipped.jsonl) into {summary['out']}")
    return 0


def _action_list(text: str | None) -> list[str] | None:
    """--actions A,B,... as a list; None when not given (every action)."""
    if text is None:
        return None
    return [a.strip() for a in text.split(",") if a.strip()]


def _seconds_range(text: str | None) -> tuple[float, float] | None:
    """--gait-seconds LO,HI as two numbers; None when not given."""
    if text is None:
        return None
    parts = text.split(",")
    try:
        lo, hi = (float(v) for v in parts)
    except ValueError:
        raise MomugError(f"--gait-seconds must be two numbers LO,HI (e.g. 5,8), got {text!r}") from None
    return lo, hi


def run(args: argparse.Namespace) -> int:
    command = getattr(args, "data_command", None)
    if command == "general-text":
        from momug.data.general_text import write_general_text

        summary = write_general_text(args.out, args.base_model, args.per_opening, args.tokens, args.seed,
                                     progress=not args.quiet)
        print(f"wrote {summary['count']} texts from {summary['base_model']} to {summary['out']}")
        return 0
    if command == "mirror":
        from momug.data.mirror import write_mirrors

        summary = write_mirrors(args.data, args.split, progress=not args.quiet)
        print(f"{summary['split_file']}: {summary['clips']} clips listed, {summary['written']} mirrors written")
        return 0
    if command == "steady":
        from momug.data.steady import write_steady_windows

        summary = write_steady_windows(args.data, args.split, args.min_seconds, onset=args.onset,
                                       without_stops=args.without_stops)
        onset = f" and {summary['onset']} onset" if args.onset else ""
        print(f"{summary['split_file']}: {summary['clips']} clips listed, {summary['steady']} steady{onset} windows written")
        return 0
    if command == "weight":
        from momug.data.weight import parse_weights, write_weighted_split

        summary = write_weighted_split(args.data, args.split, parse_weights(args.times), args.name)
        counts = ", ".join(f"{a} {n}" for a, n in summary["per_action"].items())
        print(f"{summary['split_file']}: {summary['listed']} ids listed for {summary['clips']} clips "
              f"(clips per weighted action: {counts})")
        return 0
    if command == "styles":
        from momug.data.style_captions import write_style_copies

        summary = write_style_copies(args.data, args.split, args.times, args.name)
        print(f"{summary['split_file']}: {summary['clips']} clips listed, {summary['written']} style copies written "
              f"({summary['slow']} slow, {summary['brisk']} brisk)")
        return 0
    if command == "undirected":
        from momug.data.undirected_captions import write_undirected_copies

        summary = write_undirected_copies(args.data, args.split, args.times, args.name)
        print(f"{summary['split_file']}: {summary['clips']} clips listed, {summary['written']} undirected copies "
              "written")
        return 0
    if command == "import":
        from pathlib import Path

        from momug.data.importer import CaptionsFileCaptioner, read_captions_file

        table = read_captions_file(args.captions)
        return _run_import(args, CaptionsFileCaptioner(table, Path(args.src)), f"captions file {args.captions}")
    if command == "bandai":
        from momug.data import bandai

        bandai.find_data_folder(args.src)
        code = _run_import(args, bandai.BandaiCaptioner(), "bandai content x style captions")
        print(f"licence: {bandai.ATTRIBUTION}. Non-commercial use only; do not redistribute the corpus.")
        return code
    if command == "merge":
        from momug.data.merge import merge_corpora

        summary = merge_corpora(args.sources, args.out, progress=not args.quiet)
        print(f"merged {summary['count']} clips ({summary['hours']:.2f} h; splits {summary['splits']}) into "
              f"{summary['out']}")
        return 0
    if command != "synth":
        raise MomugError("choose a subcommand: momug data synth --n N --out DIR [--seed S] [--workers K] | "
                         "momug data general-text --out FILE | momug data mirror DIR [--split S] | "
                         "momug data steady DIR [--split S] | momug data weight DIR --times A=N,... | "
                         "momug data styles DIR [--split S] | momug data undirected DIR [--split S] | "
                         "momug data import SRC --out DIR --captions FILE | momug data bandai SRC --out DIR | "
                         "momug data merge DIR... --out DIR")
    if args.n <= 0:
        raise MomugError(f"--n must be a positive number of motions, got {args.n}")
    if args.workers < 1:
        raise MomugError(f"--workers must be at least 1, got {args.workers}")
    from momug.data.synth.writer import write_corpus

    summary = write_corpus(args.out, args.n, seed=args.seed, workers=args.workers, progress=not args.quiet,
                           vocabulary=args.vocabulary,
                           actions=_action_list(args.actions),
                           gait_seconds=_seconds_range(args.gait_seconds),
                           jump_heights=args.jump_heights)
    print(f"wrote {summary['count']} motions ({summary['hours']:.2f} h of motion; splits "
          f"{summary['splits']}) to {summary['out']} in {summary['seconds']:.1f} s")
    return 0
