"""`momug eval t2m|m2t|probes|train-evaluator|real|styles`: the numbers the text-to-motion papers print.

    momug eval t2m    --checkpoint DIR|tiny --data DIR [--evaluator DIR] [--repeats N] [--limit N] [--json OUT]
    momug eval m2t    --checkpoint DIR|tiny --data DIR [...]
    momug eval probes --checkpoint DIR|tiny [--data DIR] [--suite default|extended|sequences|context] [--whole-prompt]
                      [--json OUT]
    momug eval train-evaluator --data DIR -o DIR [--steps N]
    momug eval real   --data DIR [--evaluator DIR] [--split test] [--json OUT]
    momug eval real   --data DIR --checkpoint DIR|tiny | --model NAME [--split S] [--limit N] [--steps 20] [--json OUT]
    momug eval styles [--checkpoint DIR|tiny] [--data DIR] [--wording corpus|heldout] [--seeds N] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from momug.errors import MomugError


def _common(p, data_required: bool = True) -> None:
    p.add_argument("--checkpoint", metavar="DIR", help="model folder, or 'tiny' (untrained, for tests); "
                   "default: the shipped model")
    p.add_argument("--data", metavar="DIR", required=data_required, help="HumanML3D-format folder")
    p.add_argument("--split", default="test", help="split of --data to evaluate on (default test)")
    p.add_argument("--limit", type=int, metavar="N", help="use only the split's first N clips")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--json", metavar="OUT", help="also write the results to this JSON file")
    p.add_argument("--device", default="auto", help="auto, cpu or cuda")
    p.add_argument("--mode", choices=("diffusion", "stream"), default=None,
                   help="which generation mode to evaluate (default: diffusion, or stream for a streaming "
                   "checkpoint)")


def _matching(p) -> None:
    p.add_argument("--repeats", type=int, default=20, help="repetitions for the 95%% intervals (default 20)")
    p.add_argument("--evaluator", metavar="DIR", help="trained evaluator folder (default: the shipped one)")
    p.add_argument("--official-evaluator", metavar="DIR", help="Guo et al.'s released checkpoints/t2m (or kit) "
                   "folder; numbers are then comparable with the literature (needs --glove)")
    p.add_argument("--glove", metavar="DIR", help="the released GloVe folder (our_vab_data.npy, our_vab_words.pkl)")
    p.add_argument("--batch-size", type=int, default=32, help="model batch size (default 32)")


def _sampler_steps(p) -> None:
    p.add_argument("--steps", type=int, default=None, help="DDIM sampling steps (default 20); for a streaming "
                   "model, flow steps per latent (default: the model's own)")


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("eval", help="evaluate a model (text-to-motion, motion-to-text, probes)",
                              description="Evaluate a checkpoint with the standard protocols and print the "
                              "table the papers print, ground-truth row included.")
    sub = p.add_subparsers(dest="eval_command", metavar="SUBCOMMAND")
    t = sub.add_parser("t2m", help="text-to-motion: R-precision, FID, MM-Dist, Diversity, MultiModality")
    _common(t)
    _matching(t)
    _sampler_steps(t)
    t.add_argument("--guidance", type=float, default=None, help="classifier-free guidance (default: the "
                   "model's own, in its config.json)")
    t.add_argument("--mm-prompts", type=int, default=100, help="captions for MultiModality (default 100; 0 skips)")
    t.add_argument("--mm-samples", type=int, default=30, help="motions per MultiModality caption (default 30)")
    m = sub.add_parser("m2t", help="motion-to-text: R-precision, MM-Dist, BLEU, ROUGE-L, CIDEr, BERTScore")
    _common(m)
    _matching(m)
    m.add_argument("--beams", type=int, default=1, help="beam width (default 1: greedy)")
    pr = sub.add_parser("probes", help="prompt-following probes and physical checks")
    _common(pr, data_required=False)
    pr.add_argument("--seeds", type=int, default=3, help="seeds per probe prompt (default 3)")
    _sampler_steps(pr)
    pr.add_argument("--guidance", type=float, default=None, help="classifier-free guidance (default: the "
                    "model's own, in its config.json)")
    pr.add_argument("--suite", choices=("default", "extended", "sequences", "context"), default="default",
                    help="probe prompts: default (the 38 the README's tables use) or extended (issue 20's "
                    "measuring stick: more held-out wordings, both sides of every sided probe, 'A then B' "
                    "sequences, speed and jump-height words) or sequences (14 more 'A then B' prompts in "
                    "held-out wordings) or context (the default suite's corpus wordings with words about "
                    "the scene: 'a person walks forward in the rain')")
    pr.add_argument("--whole-prompt", dest="split_sequences", action="store_false",
                    help="the model reads every prompt whole (by default a prompt naming actions in order is "
                    "made one action at a time, as momug generate makes it)")
    pp = sub.add_parser("perplexity", help="language kept? base-model perplexity with and without MoMug's weights",
                        description="Perplexity of the base LLM on a general English text: with the diffusion "
                        "checkpoint's LoRA adapter active and disabled, and with the streaming checkpoint's "
                        "motion weights loaded and not.")
    pp.add_argument("--checkpoint", metavar="DIR", help="diffusion checkpoint (default: the shipped model; "
                    "'tiny' for tests)")
    pp.add_argument("--stream-checkpoint", metavar="DIR", help="streaming checkpoint (default: the shipped one, "
                    "skipped if not installed; 'tiny' for tests)")
    pp.add_argument("--text", metavar="FILE", help="UTF-8 text to score (default: a general English text "
                    "shipped with momug)")
    pp.add_argument("--json", metavar="OUT", help="also write the results to this JSON file")
    pp.add_argument("--device", default="auto", help="auto, cpu or cuda")
    rl = sub.add_parser("real", help="the ground truth of an imported real-motion corpus: matching rows and the "
                        "physical statistics generated motion is held to",
                        description="For a corpus made by momug data bandai/import (and merged ones): the "
                        "evaluator's ground-truth rows on the split's real clips, and their physical statistics "
                        "(foot skating, jitter, bone-length error, largest step; walk/run speed and stride per style). "
                        "With --checkpoint or --model, a model's motion on the same clips' captions and lengths "
                        "instead of the matching rows: its physical statistics beside the real ones.")
    rl.add_argument("--data", metavar="DIR", required=True, help="imported (or merged) corpus folder")
    rl.add_argument("--split", default="test", help="split to report (default test)")
    rl.add_argument("--checkpoint", metavar="DIR", help="also a model: one motion per real clip of the split from "
                    "its first caption, with its length, cleaned as users get it; its foot skating, jitter, "
                    "bone-length error and largest step beside the real clips', with model/real ratios and "
                    "issue 20's bar (skating and jitter within 1.5x). A folder, or 'tiny' (untrained, for tests). "
                    "The matching rows are then left out (momug eval t2m has them)")
    rl.add_argument("--model", metavar="NAME", help="like --checkpoint, a shipped model by name "
                    "(default, real)")
    rl.add_argument("--limit", type=int, metavar="N", help="only the split's first N real clips (both sides)")
    rl.add_argument("--steps", type=int, default=20, help="with a model: sampler steps (default 20)")
    rl.add_argument("--guidance", type=float, default=None, help="with a model: classifier-free guidance "
                    "(default: the model's own)")
    rl.add_argument("--batch-size", type=int, default=8, help="with a model: prompts per generate call (default 8)")
    rl.add_argument("--evaluator", metavar="DIR", help="trained evaluator folder (default: the one trained on "
                    "the merged procedural + Bandai corpus, if installed (opt-in, CC BY-NC 4.0), else the shipped one)")
    rl.add_argument("--repeats", type=int, default=20, help="repetitions for the 95%% intervals (default 20)")
    rl.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    rl.add_argument("--json", metavar="OUT", help="also write the results to this JSON file")
    rl.add_argument("--device", default="auto", help="auto, cpu or cuda")
    st = sub.add_parser("styles", help="style words against gait: elderly/exhausted/tired walks and runs slower, "
                        "with shorter steps, than active/youthful ones (issue 20's style bar)",
                        description="Generate each slow and lively style of a walk and a run with the same seed "
                        "and length and judge every pair: it passes when the slow style is slower and takes "
                        "shorter steps (momug.eval.styles). With --data, the same rule on the real clips of "
                        "those styles, to show the rule holds for real people.")
    st.add_argument("--checkpoint", metavar="DIR", help="model folder, or 'tiny' (untrained, for tests); "
                    "default: the shipped model")
    st.add_argument("--data", metavar="DIR", help="an imported Bandai corpus (or a merged one): also judge its "
                    "real walks and runs as a reference")
    st.add_argument("--split", action="append", metavar="NAME", help="with --data: take real clips from this "
                    "split only (repeatable; default every real clip: the test split has no elderly walks)")
    st.add_argument("--reference-only", action="store_true", help="only the real-data reference (needs --data; "
                    "no model is loaded)")
    st.add_argument("--wording", choices=("corpus", "heldout"), default="corpus",
                    help="prompts in the Bandai captions' wording ('An elderly person walks forward.') or in "
                    "their held-out wording that no training caption uses ('An aged individual walks forward.')")
    st.add_argument("--seeds", type=int, default=3, help="seeds per pair (default 3)")
    st.add_argument("--seed", type=int, default=0, help="first seed (default 0)")
    st.add_argument("--seconds", type=float, default=6.0, help="length of every motion (default 6)")
    st.add_argument("--steps", type=int, default=20, help="sampler steps (default 20)")
    st.add_argument("--guidance", type=float, default=None, help="classifier-free guidance (default: the "
                    "model's own)")
    st.add_argument("--json", metavar="OUT", help="also write the results to this JSON file")
    st.add_argument("--device", default="auto", help="auto, cpu or cuda")
    tr = sub.add_parser("train-evaluator", help="train the text/motion matching evaluator on a folder",
                        description="Train the matching evaluator contrastively on the train split of a "
                        "HumanML3D-format folder; its ground-truth retrieval numbers on the test split are "
                        "printed and stored in its config.json.")
    tr.add_argument("--data", metavar="DIR", required=True, help="HumanML3D-format folder")
    tr.add_argument("-o", "--output", metavar="DIR", required=True, help="folder to write the evaluator to")
    tr.add_argument("--steps", type=int, default=2000, help="training steps (default 2000)")
    tr.add_argument("--batch-size", type=int, default=64, help="pairs per step (default 64)")
    tr.add_argument("--lr", type=float, default=1e-3, help="learning rate (default 1e-3)")
    tr.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    tr.add_argument("--repeats", type=int, default=20, help="repetitions of the test-split check (default 20)")
    tr.add_argument("--device", default="auto", help="auto, cpu or cuda")


def _log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def _write_json(path: str | None, result: dict) -> None:
    if path:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text(json.dumps(result, indent=2) + "\n")
        _log(f"wrote {path}")


def _setup(args, need_evaluator: bool = True):
    from momug.errors import require

    require("torch")
    from momug.data.humanml3d import MotionTextFolder
    from momug.eval.matching import load_evaluator
    from momug.pipeline import MotionPipeline, pick_device
    from momug.stream.checkpoint import is_stream_checkpoint
    from momug.stream.pipeline import StreamPipeline

    if args.limit is not None and args.limit < 2:
        raise MomugError("--limit must be at least 2")
    if getattr(args, "repeats", 1) < 1:
        raise MomugError("--repeats must be at least 1")
    device = pick_device(args.device)
    folder = MotionTextFolder(args.data, args.split) if args.data else None
    evaluator = None
    if need_evaluator:
        evaluator = load_evaluator(args.evaluator, args.official_evaluator, args.glove, data=args.data, device=device)
        if folder is not None and folder.feature_dim != evaluator.feature_dim:
            raise MomugError(f"{args.data} has {folder.feature_dim}-dim features; the evaluator reads "
                             f"{evaluator.feature_dim}")
    started = time.perf_counter()
    stream = args.mode == "stream" or (args.mode is None and args.checkpoint not in (None, "tiny")
                                       and is_stream_checkpoint(args.checkpoint))
    pipe = (StreamPipeline if stream else MotionPipeline).load(args.checkpoint, device)
    _log(f"loaded {pipe.model_id} in {time.perf_counter() - started:.0f} s")
    if getattr(args, "guidance", 0.0) is None:  # t2m, probes: every model has its own default
        args.guidance = pipe.guidance
    if stream and hasattr(args, "guidance"):
        from momug.stream.pipeline import check_guidance

        check_guidance(args.guidance)
    feature_dim = pipe.vae.config.feature_dim if stream else pipe.model.config.feature_dim
    if folder is not None and folder.feature_dim != feature_dim:
        raise MomugError(f"{args.data} has {folder.feature_dim}-dim features; the model makes {feature_dim}")
    return folder, evaluator, pipe


def _header(args, task: str, evaluator, pipe) -> dict:
    return {"task": task, "checkpoint": pipe.checkpoint_id, "model": pipe.model_id,
            "data": str(Path(args.data).resolve()) if args.data else None, "split": args.split,
            "limit": args.limit, "seed": args.seed,
            "evaluator": getattr(evaluator, "name", None),
            "comparable_with_literature": bool(getattr(evaluator, "comparable_with_literature", False))}


def _note(evaluator) -> None:
    if not evaluator.comparable_with_literature:
        print("(retrained evaluator: numbers compare models on this data, not with published tables)")


def run_t2m(args) -> int:
    from momug.eval import adapters, report
    from momug.eval.protocol import evaluate_t2m

    folder, evaluator, pipe = _setup(args)
    gen = adapters.generator(pipe, steps=args.steps, guidance=args.guidance, batch_size=args.batch_size)
    rows = evaluate_t2m(evaluator, gen, folder, repeats=args.repeats, seed=args.seed, limit=args.limit,
                        mm_prompts=args.mm_prompts, mm_samples=args.mm_samples,
                        frame_range=adapters.frame_range(pipe), log=_log)
    named = {"Ground truth": rows["ground_truth"], pipe.model_id: rows["model"]}
    print(report.table(named, report.T2M_COLUMNS))
    _note(evaluator)
    result = _header(args, "t2m", evaluator, pipe)
    result.update(repeats=args.repeats, steps=adapters.sampler_steps(pipe, args.steps), guidance=args.guidance,
                  mm_prompts=args.mm_prompts, mm_samples=args.mm_samples, rows=rows)
    _write_json(args.json, result)
    return 0


def run_m2t(args) -> int:
    from momug.eval import adapters, report
    from momug.eval.protocol import evaluate_m2t
    from momug.eval.sentence import shared_encoder

    folder, evaluator, pipe = _setup(args)
    describe = adapters.describer(pipe, num_beams=args.beams)
    tokens = shared_encoder(pipe.device).token_vectors
    rows = evaluate_m2t(evaluator, describe, folder, repeats=args.repeats, seed=args.seed, limit=args.limit,
                        token_vectors=tokens, log=_log)
    named = {"Ground truth": rows["ground_truth"], pipe.model_id: rows["model"]}
    print(report.table(named, report.M2T_COLUMNS))
    print("(text metrics x100; BERTScore* = F1 of MiniLM token vectors, not the roberta-large BERTScore)")
    _note(evaluator)
    result = _header(args, "m2t", evaluator, pipe)
    result.update(repeats=args.repeats, beams=args.beams, rows={k: rows[k] for k in ("ground_truth", "model")},
                  samples=rows["samples"], captions=rows["captions"])   # every caption, to see what a check missed
    if args.data and (Path(args.data) / "meta.jsonl").is_file():
        result["caption_checks"] = _caption_checks(args.data, rows["captions"], args.seed, pipe.model_id)
        real = _real_caption_checks(args.data, rows["captions"], args.seed, pipe.model_id)
        if real is not None:
            result["real_caption_checks"] = real
    _write_json(args.json, result)
    return 0


def _checks_against_references(meta: dict[str, dict], captions: dict[str, str], seed: int, check,
                                title: str, names, model_id: str) -> dict:
    """The model's captions and one random reference caption per clip through the same check,
    printed as a table of pass rates (columns `names`, or every check the model's captions got)."""
    import random

    rng = random.Random(seed)
    references = {i: rng.choice(meta[i]["captions"]) for i in captions if meta.get(i, {}).get("captions")}
    out = {"ground_truth": check(references, meta), "model": check(captions, meta)}
    names = list(names or out["model"]["checks"])
    if not names:  # nothing this check applies to (procedural checks on a real corpus)
        return out
    print(f"\n{title} (share of captions naming it; n clips):")
    print("| | " + " | ".join(names) + " |")
    print("|---" * (len(names) + 1) + "|")
    for label, key in (("Ground truth", "ground_truth"), (model_id, "model")):
        cells = [f"{out[key]['checks'][n]['pass_rate']:.0%} ({out[key]['checks'][n]['n']})"
                 if n in out[key]["checks"] else "-" for n in names]
        print(f"| {label} | " + " | ".join(cells) + " |")
    return out


def _caption_checks(data: str, captions: dict[str, str], seed: int, model_id: str) -> dict:
    """Action / side / direction named? The model's captions against one random reference each."""
    from momug.eval.caption_checks import caption_checks, read_meta

    return _checks_against_references(read_meta(data), captions, seed, caption_checks,
                                      "Caption checks on single-action clips", None, model_id)


def _real_caption_checks(data: str, captions: dict[str, str], seed: int, model_id: str) -> dict | None:
    """Content (walk / run / turn which way / wave or raise which hand) and style named, on real
    clips (None when the folder has none)."""
    from momug.eval.real_motion import read_real_meta, real_caption_checks

    meta = read_real_meta(data)
    if not any(i in meta for i in captions):
        return None
    return _checks_against_references(meta, captions, seed, real_caption_checks,
                                      "Caption checks on real clips", ("content", "style"), model_id)


def run_probes(args) -> int:
    from momug.eval import adapters, report
    from momug.eval.probe_report import physics_rows, probe_table
    from momug.eval.probes import probe_suite

    folder, _, pipe = _setup(args, need_evaluator=False)
    if args.seeds < 1:
        raise MomugError("--seeds must be at least 1")
    suite = getattr(args, "suite", "default")
    split = getattr(args, "split_sequences", True)
    result = probe_table(adapters.probe_generator(pipe, steps=args.steps, guidance=args.guidance,
                                                  split_sequences=split),
                         seeds=tuple(range(args.seed, args.seed + args.seeds)), fps=pipe.fps,
                         probes=probe_suite(suite), mode=adapters.mode(pipe))
    print(result["table"])
    feet = adapters.cleans_feet(pipe)
    physics = physics_rows(result["joints"], pipe.fps, folder, args.limit, adapters.seam_period(pipe), feet)
    labels = {"ground_truth": "Ground truth", "model": pipe.model_id,
              "model_seams_mended": f"{pipe.model_id}, seams mended",
              "model_smoothed": f"{pipe.model_id}, seams + smoothing" + ("" if feet else ", streamed (default)"),
              "model_cleaned": f"{pipe.model_id}, seams + smoothing + feet (default)"}
    named = {labels[k]: v for k, v in physics.items()}
    print()
    print(report.table(named, report.PHYSICS_COLUMNS))
    out = _header(args, "probes", None, pipe)
    out.update(steps=adapters.sampler_steps(pipe, args.steps), guidance=args.guidance, suite=suite,
               split_sequences=split, summary=result["summary"], by_tag=result["by_tag"],
               rows=result["rows"], physics=physics)
    _write_json(args.json, out)
    return 0


def run_train(args) -> int:
    from momug.errors import require

    require("torch")
    from momug.eval.train_matching import train_matching
    from momug.pipeline import pick_device

    train_matching(args.data, args.output, steps=args.steps, batch_size=args.batch_size, lr=args.lr,
                   seed=args.seed, device=pick_device(args.device), log=_log, evaluate_repeats=args.repeats)
    return 0


def run_perplexity(args) -> int:
    from momug.errors import require

    require("torch")
    from momug.eval.perplexity import default_text, diffusion_rows, stream_rows
    from momug.pipeline import MotionPipeline, pick_device
    from momug.stream.checkpoint import default_stream_checkpoint
    from momug.stream.pipeline import StreamPipeline

    device = pick_device(args.device)
    try:
        text = Path(args.text).read_text(encoding="utf-8") if args.text else default_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise MomugError(f"cannot read --text {args.text}: {exc}") from None
    if not text.strip():
        raise MomugError("the text to score is empty")
    pipe = MotionPipeline.load(args.checkpoint, device)
    result = {"text": args.text or "momug/eval/texts/general_english.txt",
              "diffusion": {"model": pipe.model_id, "checkpoint": pipe.checkpoint_id,
                            "rows": diffusion_rows(pipe.model, text)}}
    del pipe
    if args.stream_checkpoint or default_stream_checkpoint().exists():
        stream = StreamPipeline.load(args.stream_checkpoint, device)
        result["stream"] = {"model": stream.model_id, "checkpoint": stream.checkpoint_id,
                            "rows": stream_rows(stream.model, text)}
    else:
        _log("no streaming checkpoint installed: its rows are skipped")
    print("| model | weights | perplexity | tokens |")
    print("|---|---|---|---|")
    for mode in ("diffusion", "stream"):
        for name, row in result.get(mode, {}).get("rows", {}).items():
            print(f"| {result[mode]['model']} ({mode}) | {name} | {row['perplexity']:.3f} | {row['tokens']} |")
    _write_json(args.json, result)
    return 0


def run_real(args) -> int:
    """Ground-truth rows and physical statistics of a real corpus' split (no model needed)."""
    from momug.errors import require

    require("torch")
    from momug.data.humanml3d import MotionTextFolder
    from momug.eval import report
    from momug.eval.matching import load_evaluator, merged_evaluator_dir
    from momug.eval.protocol import ground_truth_matching
    from momug.eval.real_motion import read_real_meta, real_physics
    from momug.pipeline import pick_device

    if args.checkpoint is not None or args.model is not None:
        return run_real_model(args)
    if args.repeats < 1:
        raise MomugError("--repeats must be at least 1")
    stats = real_physics(args.data, args.split, limit=args.limit)
    folder = MotionTextFolder(args.data, args.split)
    real = read_real_meta(args.data)
    keep = [i for i, motion_id in enumerate(folder.ids) if motion_id in real][:args.limit]
    folder.ids = [folder.ids[i] for i in keep]
    folder.captions = [folder.captions[i] for i in keep]
    evaluator = load_evaluator(args.evaluator or merged_evaluator_dir(), data=args.data,
                               device=pick_device(args.device))
    if len(folder.ids) < 32:
        raise MomugError(f"the {args.split} split has {len(folder.ids)} real clips; the matching rows need 32")
    rows = ground_truth_matching(evaluator, folder, repeats=args.repeats, seed=args.seed)
    print(f"Real clips of {args.data} ({args.split} split, {len(folder.ids)} clips), evaluator "
          f"{evaluator.name}:")
    print(report.table({"Ground truth": rows}, [c for c in report.T2M_COLUMNS if c[0] != "multimodality"]))
    print("\nPhysical statistics (means over clips):")
    for key, value in stats["physics"].items():
        print(f"  {key}: {value:.4f}")
    print("\nWalks and runs forward, by style (travel speed, stride):")
    for name, g in stats["gait"].items():
        print(f"  {name}: {g['speed_m_s']:.2f} m/s, stride {g['stride_m']:.2f} m ({g['n']} clips)")
    _write_json(args.json, {"task": "real", "data": str(args.data), "split": args.split,
                            "evaluator": str(evaluator.name), "repeats": args.repeats,
                            "ground_truth": rows, **stats})
    return 0


def run_real_model(args) -> int:
    """A model's physical statistics on a real split's captions and lengths, beside the real clips'."""
    from momug.errors import require

    require("torch")
    from momug.eval.real_motion import compare_physics, comparison_table, model_physics, real_physics
    from momug.model import registry
    from momug.pipeline import MotionPipeline, pick_device

    checkpoint = registry.checkpoint_for(args.model, args.checkpoint)  # the licence, before anything runs
    real = real_physics(args.data, args.split, limit=args.limit)
    started = time.perf_counter()
    pipe = MotionPipeline.load(checkpoint, pick_device(args.device))
    _log(f"loaded {pipe.model_id} in {time.perf_counter() - started:.0f} s")
    args.guidance = pipe.guidance if args.guidance is None else args.guidance
    pipe.validate_request("a person walks forward", pipe.min_seconds, args.steps, args.guidance)
    started = time.perf_counter()
    made = model_physics(pipe, args.data, args.split, steps=args.steps, guidance=args.guidance, seed=args.seed,
                         batch_size=args.batch_size, limit=args.limit)
    seconds = time.perf_counter() - started
    comparison = compare_physics(made["physics"], real["physics"])
    print(f"{pipe.model_id} against the real clips of {args.data} ({args.split} split, {real['clips']} clips; "
          f"one motion per clip from its first caption, with its length, {args.steps} steps, seams mended, "
          "jitter low-passed and feet cleaned as users get them; means over clips):")
    print(comparison_table(comparison, pipe.model_id))
    verdict = "within" if comparison["passed"] else "NOT within"
    print(f"skating and jitter {verdict} {comparison['bar']:g}x the real data's (issue 20)")
    if made["lengths_clamped"]:
        print(f"({made['lengths_clamped']} clips longer or shorter than the model makes were generated at "
              f"{pipe.min_seconds:g}-{pipe.max_seconds:g} s)")
    _log(f"generated {made['clips']} motions in {seconds:.0f} s")
    _write_json(args.json, {"task": "real_physics", "data": str(args.data), "split": args.split,
                            "limit": args.limit, "checkpoint": pipe.checkpoint_id, "model": pipe.model_id,
                            "steps": args.steps, "guidance": args.guidance, "seed": args.seed,
                            "batch_size": args.batch_size, "seconds": round(seconds, 1),
                            "real": real, "model_physics": made, "comparison": comparison})
    return 0


def run_styles(args) -> int:
    """Slow and lively style pairs of the model's walks and runs, and of the real data's."""
    from momug.eval import styles

    if args.reference_only and not args.data:
        raise MomugError("--reference-only needs --data CORPUS")
    if args.seeds < 1:
        raise MomugError("--seeds must be at least 1")
    out = {"task": "styles", "rule": "slow style's cruise speed lower and mean step shorter than the lively "
           "style's, same seed and length", "bar": styles.BAR}
    if args.data:
        ref = styles.real_reference(args.data, args.split)
        print(f"Real clips of {args.data} ({ref['clips']} clips; every slow clip against every lively clip of the "
              "same content and data set):")
        print("\n".join(styles.summary_lines(ref["summary"], ref["styles"])))
        out["real_reference"] = ref
    if not args.reference_only:
        from momug.errors import require

        require("torch")
        from momug.eval.adapters import probe_generator
        from momug.pipeline import MotionPipeline, pick_device

        started = time.perf_counter()
        pipe = MotionPipeline.load(args.checkpoint, pick_device(args.device))
        _log(f"loaded {pipe.model_id} in {time.perf_counter() - started:.0f} s")
        args.guidance = pipe.guidance if args.guidance is None else args.guidance
        pipe.validate_request("a person walks forward", args.seconds, args.steps, args.guidance)
        result = styles.judge_model(probe_generator(pipe, steps=args.steps, guidance=args.guidance),
                                    seeds=tuple(range(args.seed, args.seed + args.seeds)), seconds=args.seconds,
                                    fps=pipe.fps, wording=args.wording)
        if args.data:
            print()
        print(f"{pipe.model_id}, {args.wording} wording, {args.seconds:g} s, {args.steps} steps:")
        print(styles.pair_table(result["rows"]))
        print("\n".join(styles.summary_lines(result["summary"], result["styles"])))
        if args.data:
            print("\n".join(styles.against_real(result["styles"], out["real_reference"]["styles"])))
        out.update(checkpoint=pipe.checkpoint_id, model=pipe.model_id, steps=args.steps, guidance=args.guidance,
                   model_result=result)
    _write_json(args.json, out)
    return 0


def run(args: argparse.Namespace) -> int:
    handlers = {"t2m": run_t2m, "m2t": run_m2t, "probes": run_probes, "perplexity": run_perplexity,
                "train-evaluator": run_train, "real": run_real, "styles": run_styles}
    command = getattr(args, "eval_command", None)
    if command not in handlers:
        raise MomugError("choose a subcommand: momug eval t2m|m2t|probes|perplexity|train-evaluator|real|styles "
                         "(see --help)")
    return handlers[command](args)
